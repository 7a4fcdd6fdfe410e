"""The harness's progress (scripts/benchlib/runner.py, issue 20 item 6): a tqdm bar when stderr
is a terminal, one line per boot when it is not. No QEMU: the boot function is a stand-in that
returns a pass at once, run in a child process whose stderr is a pty or a pipe."""

import os
import pty
import subprocess
import sys
import textwrap

import pytest

from harnesslib import ROOT, TINY

CHILD = textwrap.dedent("""
    import sys, types
    from pathlib import Path
    from benchlib import matrix, runner

    def fake_boot(cfg):      # what tlbrun.run returns, for a pass
        return types.SimpleNamespace(status=0, error=None, records=[], cases=[], verdict="pass",
                                     detection="shown", duration_s=0.01, accel="tcg",
                                     summary="fake", warnings=[], qemu_argv=[], inner_argv=[])

    runner.build_images = lambda plan, say: None      # no make
    m = matrix.load_matrix(Path(sys.argv[1]))
    sys.exit(runner.run_matrix(m, Path(sys.argv[2]), False, runner=fake_boot))
""")


def run_child(tmp_path, terminal: bool) -> str:
    matrix = tmp_path / "tiny.toml"
    matrix.write_text(TINY)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "scripts"), "COLUMNS": "120"}
    argv = ["/usr/bin/python3", "-c", CHILD, str(matrix), str(tmp_path / "out")]
    if not terminal:
        p = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        return p.stderr
    master, slave = pty.openpty()
    p = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:      # EIO: the child closed its end
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert p.wait(timeout=120) == 0
    return b"".join(chunks).decode(errors="replace")


def test_pipe_gets_one_line_per_boot(tmp_path):
    err = run_child(tmp_path, terminal=False)
    done = [ln for ln in err.splitlines() if " in 0.0 s | elapsed " in ln]
    assert [ln.split("]")[0] for ln in done] == ["[1/4", "[2/4", "[3/4", "[4/4"], err
    assert all(": pass in " in ln and " left" in ln for ln in done)
    assert "\r" not in err and "it/s" not in err and "boot/s" not in err


def test_terminal_gets_a_bar(tmp_path):
    pytest.importorskip("tqdm", reason="python3-tqdm is not installed (scripts/deps installs it)")
    out = run_child(tmp_path, terminal=True)
    assert "\r" in out, out                     # the bar redraws in place
    assert "4/4, elapsed" in out and "about" in out and "\u2588" in out, out  # tqdm's block
    # No per-boot lines for passing boots: the bar replaces them.
    assert ": pass in " not in out, out
