"""The harness loses nothing and counts nothing twice (no QEMU: a fake runner stands in for the
boots, except where a real process must be killed): a damaged or unfinished runs/ entry is
reported, set aside and run again on --resume; a results directory that cannot be written
(read-only, full) ends the run with one line and keeps what was saved; QEMU dies with a runner
killed by SIGKILL. Run: /usr/bin/python3 -m pytest -q tests/harness/test_lossless.py"""

import errno
import io
import os
import signal
import subprocess
import sys
import time

import pytest

from benchlib import matrix as mx
from benchlib import results, runner
from benchlib.results import ResultsDir

import tlbrun


def fake_pass(config):
    """A boot that passed, with one record (the harness only stores what it gets)."""
    return tlbrun.RunResult(status=0, verdict="pass", duration_s=0.01, records=[])


def tiny():
    return mx.parse_matrix({"name": "lossless", "vcpus": [2, 3, 4], "backends": ["ipi"],
                            "iterations": 10, "warmup": 1})


def run(out, resume=False, fake=fake_pass):
    said = io.StringIO()
    status = runner.run_matrix(tiny(), out, resume=resume, messages=said, runner=fake)
    return status, said.getvalue()


def test_damaged_entry_is_reported_set_aside_and_rerun(tmp_path):
    out = tmp_path / "r"
    run(out)
    rd = ResultsDir(out)
    ids = [c["id"] for c in rd.plan()]
    victim = rd.run_dir(ids[1]) / "result.json"
    victim.write_text(victim.read_text()[:40])          # truncated, as by a full disk
    assert [r["id"] for r in rd.runs()] == [ids[0], ids[2]]
    assert [i for i, _ in rd.damaged()] == [ids[1]]
    booted = []
    status, said = run(out, resume=True, fake=lambda c: booted.append(c.log) or fake_pass(c))
    assert f"bench: {ids[1]}: its result.json cannot be read" in said and "runs again" in said
    assert len(booted) == 1 and ids[1] in booted[0]     # only the damaged one, once
    assert [r["id"] for r in rd.runs()] == ids and not rd.damaged()
    assert (victim.parent / "result.json.damaged-1").is_file()   # kept, not deleted


def test_unfinished_write_is_removed(tmp_path):
    out = tmp_path / "r"
    run(out)
    rd = ResultsDir(out)
    tmp = rd.run_dir(rd.plan()[0]["id"]) / ".result.json.4242.tmp"
    tmp.write_text("{")
    _, said = run(out, resume=True)
    assert not tmp.exists() and "removed an unfinished write" in said
    assert len(rd.runs()) == 3


def test_full_disk_stops_with_one_line_and_keeps_the_rest(tmp_path, monkeypatch):
    out = tmp_path / "r"
    real = results.write_json_atomic
    saved = []

    def filling(path, data):
        if path.name == "result.json" and len(saved) == 1:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(path, data)
        if path.name == "result.json":
            saved.append(path)

    monkeypatch.setattr(results, "write_json_atomic", filling)
    status, said = run(out)
    assert status == runner.EXIT_ERROR
    errors = [ln for ln in said.splitlines() if ln.startswith("bench: error: cannot save")]
    assert len(errors) == 1 and "No space left on device" in errors[0] and "--resume" in errors[0]
    assert len(ResultsDir(out).runs()) == 1
    monkeypatch.setattr(results, "write_json_atomic", real)
    status, _ = run(out, resume=True)
    assert status == runner.EXIT_OK and len(ResultsDir(out).runs()) == 3


def test_unwritable_results_directory(tmp_path, monkeypatch):
    def refuse(*a, **k):
        raise PermissionError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(ResultsDir, "create", refuse)
    status, said = run(tmp_path / "r")
    assert status == runner.EXIT_USAGE
    assert said.strip().endswith("cannot create the results directory " + str(tmp_path / "r")
                                 + ": Read-only file system"), said


def test_real_read_only_and_full_tmpfs(tmp_path):
    """The same on real file systems where this machine lets us mount a small tmpfs."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (not root, or no mount namespace)")
    try:
        (mnt / "ballast").write_bytes(b"\0" * 60 * 1024)   # leaves a few KiB: a boot or two
        big = lambda c: tlbrun.RunResult(status=0, verdict="pass", records=[],  # noqa: E731
                                         summary="x" * 3000)
        status, said = run(mnt / "r", fake=big)
        assert status in (runner.EXIT_ERROR, runner.EXIT_USAGE), said
        assert said.count("bench: error: ") == 1, said
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        status, said = run(mnt / "other")
        assert status == runner.EXIT_USAGE and "Read-only file system" in said, said
    finally:
        subprocess.run(["umount", str(mnt)])


def test_qemu_dies_with_a_killed_runner(tmp_path):
    """SIGKILL of a process running tlbrun.run: its QEMU (here a stand-in that sleeps) must
    not outlive it."""
    fake_qemu = tmp_path / "qemu"
    pidfile = tmp_path / "pid"
    fake_qemu.write_text(f"#!/bin/sh\necho $$ > {pidfile}\nexec sleep 300\n")
    fake_qemu.chmod(0o755)
    code = ("import tlbrun\n"
            f"tlbrun.run(tlbrun.RunConfig(qemu={str(fake_qemu)!r}, firmware='direct', accel='tcg',"
            " quiet=True, update_last_log=False, slowness=1, timeout=300,"
            f" log={str(tmp_path / 'serial.log')!r}))\n")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=str(tmpl_scripts()))
    deadline = time.monotonic() + 60
    while not pidfile.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert pidfile.exists(), "the stand-in QEMU never started"
    qemu_pid = int(pidfile.read_text())
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while alive(qemu_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(qemu_pid), "QEMU outlived the runner that started it"


def tmpl_scripts():
    return os.path.join(os.path.dirname(__file__), "..", "..", "scripts")


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_resume_refuses_a_changed_configuration(tmp_path):
    """Same configuration names, another command line: resuming would mix two matrices."""
    out = tmp_path / "r"
    run(out)
    changed = mx.parse_matrix({"name": "lossless", "vcpus": [2, 3, 4], "backends": ["ipi"],
                               "iterations": 10, "warmup": 1, "extra_cmdline": "ipi_iters=5"})
    said = io.StringIO()
    status = runner.run_matrix(changed, out, resume=True, messages=said, runner=fake_pass)
    assert status == runner.EXIT_USAGE and "was made from another matrix" in said.getvalue()
    assert "cmdline" in said.getvalue()
