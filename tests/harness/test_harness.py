"""The benchmark harness end to end (scripts/bench): a tiny matrix under TCG makes a complete
results directory whose CSV and summary agree with the records; an interrupted run resumes
without repeating or losing a configuration; compare flags a planted difference and not an
identical copy; a malformed matrix is refused naming the bad field; Hyper-V captures import."""

import csv
import io
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from harnesslib import BENCH, TINY, bench, built, tiny_matrix, tiny_results  # noqa: F401
from benchlib import matrix as mx
from benchlib import runner
from benchlib.results import ResultsDir, scenario_rows

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def shootdowns(rd):
    return [(run, rec) for run in rd.runs() for rec in run["records"]
            if rec.get("record") == "shootdown"]


def table_rows(text, first_header):
    """The rows of the Markdown table whose header starts with `first_header`, as dicts."""
    lines = text.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("| " + first_header + " |"))
    header = [c.strip() for c in lines[start].strip("|").split("|")]
    rows = []
    for ln in lines[start + 2:]:
        if not ln.startswith("|"):
            break
        rows.append(dict(zip(header, [c.strip() for c in ln.strip("|").split("|")])))
    return rows


def valid_png(path):
    data = Path(path).read_bytes()
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    return data[:8] == PNG_MAGIC and data[12:16] == b"IHDR" and width > 0 and height > 0


# ---- a complete results directory


def test_results_directory_complete(tiny_results):
    out, proc = tiny_results
    rd = ResultsDir(out)
    plan = rd.plan()
    assert len(plan) == 2 * 2  # vCPUs 2 and 3, two repetitions
    for name in ("matrix.toml", "plan.json", "host.json", "records.jsonl", "results.csv",
                 "summary.md"):
        assert (out / name).is_file(), name
    host = rd.host()
    for key in ("host_cpu", "qemu_version", "tlbstorm_revision", "host_cpus_online"):
        assert host.get(key), (key, host)
    runs = rd.runs()
    assert [r["id"] for r in runs] == [c["id"] for c in plan]
    for r in runs:
        assert r["outcome"] == "pass" and r["attempts"] == 1, r["summary"]
        assert (out / "runs" / r["id"] / "serial.log").stat().st_size > 0
        assert r["config"]["cmdline"].startswith("backend=ipi workload=remap,protect")
        kinds = {rec["record"] for rec in r["records"]}
        assert {"boot", "bench", "tlb_retention", "shootdown", "latency_hist", "verdict"} <= kinds
        # the run's detection claim is its verdict record's, and sums up its scenarios'
        vrec = next(rec for rec in r["records"] if rec["record"] == "verdict")
        shots = [rec for rec in r["records"] if rec["record"] == "shootdown"]
        assert r["detection"] == vrec["detection"] == (
            "shown" if all(s["detection"]["status"] == "shown" for s in shots) else "not shown")
        assert ("verdict pass, detection not shown (exit 0)" in r["summary"]) is \
            (r["detection"] == "not shown"), r["summary"]
    # every record, with its run's configuration and the host environment
    lines = [json.loads(ln) for ln in (out / "records.jsonl").read_text().splitlines()]
    assert len(lines) == sum(len(r["records"]) for r in runs)
    assert all(ln["config"]["platform"] == "tcg" and ln["host"]["qemu_version"] for ln in lines)
    plots = sorted((out / "plots").glob("*.png"))
    assert plots, "no plots"
    assert all(valid_png(p) for p in plots), plots
    # progress with an estimate of the time left
    assert "[4/4]" in proc.stderr and "left" in proc.stderr, proc.stderr


def test_csv_and_summary_agree_with_records(tiny_results):
    out, _ = tiny_results
    rd = ResultsDir(out)
    pairs = shootdowns(rd)
    assert len(pairs) == 4 * 2 * 2  # 4 boots x (2 workloads x 2 page counts)
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(pairs)
    for row, (run, rec) in zip(rows, pairs):
        assert row["run_id"] == run["id"]
        assert (row["backend"], row["workload"], int(row["pages"])) == \
            (rec["backend"], rec["workload"], rec["pages"])
        assert int(row["p50_ns"]) == rec["latency_ns"]["p50"]
        assert int(row["p99_ns"]) == rec["latency_ns"]["p99"]
        assert int(row["violations"]) == 0
        det = rec["detection"]
        assert (row["detection"], row["detection_by"], row["detection_reason"]) == \
            (det["status"], det["by"] or "", det["reason"] or "")
        assert int(row["opportunities"]) == rec["oracle"]["opportunities"]
        assert int(row["canary_violations"]) == det["canary"]["violations"]  # canary=4 default
        # the targets' side: refill always with one initiator; entry stamps only with breakdown=1
        assert int(row["refill_per_page_p50_cycles"]) == rec["refill"]["per_page_p50_cycles"]
        assert row["seen_p50_cycles"] != "" and row["entry_p50_cycles"] == ""
    summary = (out / "summary.md").read_text()
    # the targets' side: one row per scenario, refill in every row, no entry without breakdown=1
    side = table_rows(summary.split("## Targets' side", 1)[1].split("\n## ", 1)[0], "guest")
    assert len(side) == len({(r["config"]["vcpus"], rec["workload"], rec["pages"])
                             for r, rec in pairs}), side
    assert all(r["refill / page"] != "—" and r["entry"] == "—" for r in side), side
    # a pass that did not show detection is never presented as a plain pass
    not_shown = [r for r in rd.runs() if r["detection"] == "not shown"]
    runs_line = next(ln for ln in summary.splitlines() if " runs finished" in ln)
    assert (f"{len(not_shown)} pass, detection not shown" in runs_line) is bool(not_shown), \
        runs_line
    listed = {r["run"].strip("`"): r["outcome"]
              for r in (table_rows(summary, "run") if not_shown else [])}
    assert listed == {r["id"]: "pass, detection not shown" for r in not_shown}
    # the scenario table's detection column: shown in every repetition, or why not
    by_key = {}
    for run, rec in pairs:
        key = (str(run["config"]["vcpus"]), rec["workload"], str(rec["pages"]))
        by_key.setdefault(key, []).append(rec["detection"])
    main = summary.split("## Shootdown latency", 1)[1].split("\n## ", 1)[0]
    for row in table_rows(main, "guest"):
        dets = by_key[(row["vCPUs"], row["workload"], row["pages"])]
        reasons = list(dict.fromkeys(d["reason"] for d in dets if d["status"] == "not shown"))
        if reasons:
            assert row["detection"].startswith("not shown") and \
                row["detection"].endswith(": " + "; ".join(reasons)), row
        else:
            assert row["detection"].startswith("shown ("), row
    assert "tiny" in summary and "![" in summary  # the matrix's name, plots embedded
    # every scenario of the matrix appears in the summary's main table
    for vcpus in (2, 3):
        for workload in ("remap", "protect"):
            assert any(f"| {workload} " in ln and "ipi" in ln and f"| {vcpus} " in ln
                       for ln in summary.splitlines()), (vcpus, workload)


# ---- resume


def test_resume_after_interruption_neither_repeats_nor_loses(tmp_path, built, tiny_matrix):
    """The run is interrupted (Ctrl-C) in its third boot; resuming runs only the missing
    configurations, each exactly once."""
    m = mx.load_matrix(tiny_matrix)
    out = tmp_path / "results"
    calls = []

    def interrupted(config):
        calls.append(config.log)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return runner.tlbrun.run(config)

    status = runner.run_matrix(m, out, resume=False, messages=open(os.devnull, "w"),
                               runner=interrupted)
    assert status == runner.EXIT_INTERRUPTED
    rd = ResultsDir(out)
    first = [r["id"] for r in rd.runs()]
    assert len(first) == 2

    # Without --resume the directory is not overwritten.
    p = bench("run", tiny_matrix, "--out", out)
    assert p.returncode == runner.EXIT_USAGE and "--resume" in p.stderr, p.stderr

    resumed = []

    def counting(config):
        resumed.append(Path(config.log).parent.name)
        return runner.tlbrun.run(config)

    status = runner.run_matrix(m, out, resume=True, messages=open(os.devnull, "w"),
                               runner=counting)
    assert status == runner.EXIT_OK
    plan_ids = [c["id"] for c in rd.plan()]
    assert sorted(resumed) == sorted(set(plan_ids) - set(first))
    assert [r["id"] for r in rd.runs()] == plan_ids


def test_ctrl_c_keeps_results_and_exits_130(tmp_path, built, tiny_matrix):
    """A real SIGINT to scripts/bench: QEMU is killed, finished boots stay, reports are
    written from them, and the exit status is 130."""
    text = TINY.replace("iterations = 60", "iterations = 3000").replace(
        "pages = [1, 16]", "pages = [1, 512]") + 'extra_cmdline = "ipi_iters=77"\n'
    tiny_matrix.write_text(text)
    out = tmp_path / "results"
    proc = subprocess.Popen(["/usr/bin/python3", str(BENCH), "run", str(tiny_matrix),
                             "--out", str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not list(out.glob("runs/*/result.json")):
        time.sleep(0.2)
    time.sleep(1.0)  # into the next boot
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == runner.EXIT_INTERRUPTED, err
    assert "interrupted" in err and "--resume" in err, err
    rd = ResultsDir(out)
    assert 1 <= len(rd.runs()) < len(rd.plan())
    assert (out / "summary.md").is_file() and (out / "results.csv").is_file()
    # no QEMU of ours is left running
    ps = subprocess.run(["pgrep", "-f", "ipi_iters=77"], capture_output=True, text=True)
    assert ps.stdout.strip() == "", ps.stdout


def test_timeout_is_retried_once_and_recorded(tmp_path, built):
    matrix = tmp_path / "slow.toml"
    matrix.write_text('name = "slow"\nvcpus = [2]\nbackends = ["ipi"]\npages = [4096]\n'
                      'iterations = 1000000\ntimeout = 10\n')
    out = tmp_path / "results"
    p = bench("run", matrix, "--out", out, timeout=300)
    assert p.returncode == runner.EXIT_ERROR, p.stderr
    (run,) = ResultsDir(out).runs()
    assert run["outcome"] == "timeout" and run["attempts"] == 2, run["summary"]
    assert "retried" in run["warnings"][0]
    assert (out / "runs" / run["id"] / "serial-attempt1.log").is_file()
    assert "timeout" in (out / "summary.md").read_text()


# ---- compare


def scale_latencies(run, factor, scenario=None):
    """Multiply the latencies of a run's shootdown records (of one (workload, pages) only when
    `scenario` is given) by `factor`, in place."""
    for rec in run["records"]:
        if rec.get("record") == "shootdown" and \
                (scenario is None or (rec["workload"], rec["pages"]) == scenario):
            for unit in ("latency_ns", "latency_cycles"):
                for k in ("p50", "p90", "p99", "p999", "max", "mean"):
                    rec[unit][k] = int(rec[unit][k] * factor)


def plant(src, dst, factor, scenario=("remap", 1)):
    shutil.copytree(src, dst)
    for f in (dst / "runs").glob("*/result.json"):
        run = json.loads(f.read_text())
        scale_latencies(run, factor, scenario)
        f.write_text(json.dumps(run))


def with_more_repetitions(src, dst, copies=2):
    """src's runs, each joined by `copies` more repetitions 1%, 2%, ... slower (no boot: the
    records are copied), so every scenario has the repetitions compare needs for an interval."""
    shutil.copytree(src, dst)
    for f in sorted((dst / "runs").glob("*/result.json")):
        run = json.loads(f.read_text())
        for i in range(1, copies + 1):
            extra = json.loads(json.dumps(run))
            extra["id"] = f"{run['id']}-copy{i}"
            extra["config"]["rep"] = run["config"].get("rep", 0) + 100 * i
            scale_latencies(extra, 1 + 0.01 * i)
            (dst / "runs" / extra["id"]).mkdir()
            (dst / "runs" / extra["id"] / "result.json").write_text(json.dumps(extra))


def test_compare_flags_planted_difference_only(tiny_results, tmp_path):
    """The tiny run's two repetitions are too few for an interval: nothing is flagged even
    with a planted 20x, and the table says why. With 6 repetitions (the 2, each copied 1% and
    2% slower), the planted 20x is flagged, in its scenario only, and an identical copy is
    not."""
    out, _ = tiny_results
    few = tmp_path / "few"
    plant(out, few, 20.0)
    p = bench("compare", out, few, "--all")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "at least 5 needed" in p.stdout and "**slower**" not in p.stdout, p.stdout

    base = tmp_path / "base"
    with_more_repetitions(out, base)
    same = tmp_path / "same"
    shutil.copytree(base, same)
    p = bench("compare", base, same)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "No difference beyond the noise" in p.stdout

    slower = tmp_path / "slower"
    plant(base, slower, 20.0)
    p = bench("compare", base, slower, "--out", tmp_path / "cmp.md")
    assert p.returncode == 1, p.stdout + p.stderr
    flagged = [ln for ln in p.stdout.splitlines() if "**slower**" in ln]
    assert flagged and all(" remap 1p " in ln and " 6/6 " in ln for ln in flagged), p.stdout
    assert not any(" protect " in ln or " 16p " in ln for ln in flagged)
    assert (tmp_path / "cmp.md").read_text() == p.stdout


def test_compare_decides_with_the_bootstrap_interval():
    """Pure: the same +40% is flagged with an interval above the margin at 8 repetitions, and
    cannot be told at 2 (no interval); what the old spread rule called noise stays unflagged."""
    from benchlib import compare as cmp

    def side(values):
        return cmp.Side({"p50_ns": values, "p99_ns": values}, 0, 0)

    a = side([100.0, 120.0])
    assert cmp.Side.median(a, "p50_ns") == 110.0 and a.reps("p50_ns") == 2
    f = cmp.judge(("k",), "p50_ns", a, side([150.0, 160.0]))
    assert not f.flagged and f.ci_low is None and "at least 5 needed" in f.verdict
    a8 = side([100.0, 104.0, 98.0, 102.0, 101.0, 99.0, 103.0, 97.0])
    b8 = side([v * 1.4 for v in a8.values["p50_ns"]])
    f = cmp.judge(("k",), "p50_ns", a8, b8)
    assert f.flagged and f.verdict == "slower" and 0.05 < f.ci_low <= 0.4 <= f.ci_high
    f = cmp.judge(("k",), "p50_ns", a8, side([v * 1.02 for v in a8.values["p50_ns"]]))
    assert not f.flagged and f.verdict == "cannot tell"


# ---- malformed matrices


@pytest.mark.parametrize("text, field", [
    ('vcpus = [0]', "vcpus"),
    ('vcpus = "two"', "vcpus"),
    ('platforms = ["qemu"]', "platforms"),
    ('guests = []', "guests"),
    ('iterations = 1.5', "iterations"),
    ('repetitions = 0', "repetitions"),
    ('workloads = ["remap", "remap"]', "workloads"),
    ('vcpu = [2]', "vcpu"),
    ('exclude = [{ vcpu = 2 }]', "exclude[0]"),
    ('name = "has space"', "name"),
    ('extra_cmdline = "a=\'b\'"', "extra_cmdline"),
])
def test_malformed_matrix_names_the_field(tmp_path, text, field):
    path = tmp_path / "bad.toml"
    path.write_text(text + "\n")
    p = bench("run", path, "--out", tmp_path / "out")
    assert p.returncode == runner.EXIT_USAGE, p.stderr
    err = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(err) == 1 and err[0].startswith("bench: error: ") and f"'{field}'" in err[0], \
        p.stderr
    assert not (tmp_path / "out").exists()


def test_unparsable_matrix_and_json_matrix(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("vcpus = [2\n")
    p = bench("plan", bad)
    assert p.returncode == runner.EXIT_USAGE and "not valid TOML" in p.stderr, p.stderr
    js = tmp_path / "m.json"
    js.write_text(json.dumps({"name": "j", "vcpus": [2, 4], "overcommit": [1, 2],
                              "guests": ["tlbstorm", "linux"], "firmware": ["direct", "bios"],
                              "exclude": [{"vcpus": 4, "overcommit": 1}]}))
    m = mx.load_matrix(js)
    plan = mx.expand(m, available_cpus=[0, 1])
    ids = [c["id"] for c in plan]
    assert len(ids) == len(set(ids))
    # linux boots only directly; (4 vCPUs, overcommit 1) is excluded
    assert not any(c["guest"] == "linux" and c["firmware"] == "bios" for c in plan)
    assert not any(c["vcpus"] == 4 and c["overcommit"] == 1 for c in plan)
    by = {(c["guest"], c["firmware"], c["vcpus"], c["overcommit"]): c for c in plan}
    assert by[("tlbstorm", "direct", 2, 2)]["host_cpus"] == [0]          # 2 vCPUs on 1 CPU
    assert by[("tlbstorm", "direct", 4, 2)]["host_cpus"] == [0, 1]
    assert by[("tlbstorm", "direct", 2, 1)]["effective_overcommit"] == 1.0
    assert by[("linux", "direct", 2, 1)]["cmdline"] == "workload=remap pages=1 iters=300 warmup=20"


def test_unavailable_platform_is_recorded_not_fatal(tmp_path, built, monkeypatch):
    m = mx.parse_matrix({"name": "u", "platforms": ["tcg", "kvm-hyperv"], "vcpus": [2],
                         "backends": ["ipi"], "iterations": 20, "warmup": 2})
    out = tmp_path / "results"
    monkeypatch.setattr(runner.tlbrun, "probe_kvm_hyperv",
                        lambda *a, **k: (False, "kernel doesn't allow setting HyperV VP_INDEX"))
    status = runner.run_matrix(m, out, resume=False, messages=open(os.devnull, "w"))
    assert status == runner.EXIT_OK
    outcomes = {r["config"]["platform"]: r for r in ResultsDir(out).runs()}
    assert outcomes["tcg"]["outcome"] == "pass"
    assert outcomes["kvm-hyperv"]["outcome"] == "unavailable"
    assert "VP_INDEX" in outcomes["kvm-hyperv"]["error"]
    # Resuming tries again what could not run (the host may have changed), nothing else.
    messages = io.StringIO()
    assert runner.run_matrix(m, out, resume=True, messages=messages) == runner.EXIT_OK
    assert "1 already done, 1 to run" in messages.getvalue(), messages.getvalue()


# ---- Hyper-V captures


def test_import_hyperv_capture(tiny_results, tmp_path):
    out, _ = tiny_results
    run = ResultsDir(out).runs()[0]
    capture = tmp_path / "gen2.serial.log"
    # A Hyper-V capture is the raw COM1 stream: GRUB's escape sequences and CRLFs included.
    raw = (out / "runs" / run["id"] / "serial.log").read_bytes()
    capture.write_bytes(b"\x1b[2J\x1b[HGNU GRUB\r\n" + raw.replace(b"\n", b"\r\n"))
    dest = tmp_path / "hyperv"
    p = bench("import-hyperv", capture, "--generation", 2, "--vcpus", 2, "--memory", 1024,
              "--out", dest)
    assert p.returncode == 0, p.stderr
    (imported,) = ResultsDir(dest).runs()
    assert imported["config"]["platform"] == "hyperv-gen2"
    assert imported["config"]["firmware"] == "uefi" and imported["outcome"] == "pass"
    assert len(scenario_rows([imported])) == len(scenario_rows([run]))
    assert (dest / "summary.md").is_file() and (dest / "results.csv").is_file()
    # a second capture is another repetition; a capture without records is refused
    assert bench("import-hyperv", capture, "--generation", 2, "--out", dest).returncode == 0
    assert len(ResultsDir(dest).runs()) == 2
    empty = tmp_path / "empty.log"
    empty.write_text("GRUB loading.\r\n")
    p = bench("import-hyperv", empty, "--generation", 1, "--out", dest)
    assert p.returncode == runner.EXIT_USAGE and "no TLBSTORM records" in p.stderr, p.stderr
    p = bench("import-hyperv", capture, "--generation", 2, "--vcpus", 8, "--out", dest)
    assert p.returncode == runner.EXIT_USAGE and "--vcpus 8" in p.stderr, p.stderr


# ---- the Linux peer beside tlbstorm


def test_linux_side_by_side_in_the_summary(tmp_path, built):
    """guests = tlbstorm and linux: the same platform and vCPUs, the Linux peer's records in
    the CSV, and the summary's comparison table pairing remap with madvise, like with like:
    Linux's readers spin, so only tlbstorm's spinning-target scenario meets it."""
    matrix = tmp_path / "pair.toml"
    matrix.write_text('name = "pair"\nguests = ["tlbstorm", "linux"]\nvcpus = [2]\n'
                      'backends = ["ipi"]\nworkloads = ["remap"]\npages = [1]\n'
                      'iterations = 100\nwarmup = 10\ntimeout = 240\n'
                      'extra_cmdline = "targets=halt,spin"\n')
    out = tmp_path / "results"
    p = bench("run", matrix, "--out", out)
    assert p.returncode == 0, p.stderr
    runs = {r["config"]["guest"]: r for r in ResultsDir(out).runs()}
    assert set(runs) == {"tlbstorm", "linux"}
    assert runs["linux"]["config"]["cmdline"] == "workload=remap pages=1 iters=100 warmup=10"
    (lrow,) = scenario_rows([runs["linux"]])
    assert (lrow["backend"], lrow["workload"], lrow["equivalent"]) == ("linux", "madvise", "remap")
    assert lrow["linux_flush"] == "native-ipi" and lrow["reference_p50_ns"] > 0
    assert (lrow["detection"], lrow["detection_reason"], lrow["opportunities"]) == \
        ("not shown", "the Linux peer has no oracle", 0)
    assert runs["linux"]["detection"] is None and runs["linux"]["outcome"] == "pass"
    summary = (out / "summary.md").read_text()
    section = summary.split("## tlbstorm vs Linux", 1)[1].split("\n## ", 1)[0]
    (row,) = [ln for ln in section.splitlines() if ln.startswith("| tcg ")]
    assert "remap / madvise" in row and "| ipi |" in row and "native-ipi" in row, row
    main = summary.split("## Shootdown latency", 1)[1].split("\n## ", 1)[0]
    linux_row = next(r for r in table_rows(main, "guest") if r["guest"] == "linux")
    assert linux_row["detection"] == "not shown: the Linux peer has no oracle"
    assert (out / "plots" / "cdf-tcg.png").is_file()


def test_guest_the_platform_cannot_run_is_not_booted_again(tmp_path, built):
    """Once KVM stops a guest with an internal error (it cannot emulate one of the guest's
    instructions: the Linux peer on our nested KVM), the harness neither retries that boot nor
    boots the same guest on the same platform again: that boot and the later ones are
    unavailable, with the reason, like a platform missing here. Other guests go on."""
    m = mx.parse_matrix({"name": "refuse", "guests": ["tlbstorm", "linux"], "vcpus": [2, 3],
                         "backends": ["ipi"], "iterations": 20, "warmup": 2})
    boots = []

    def fake_kvm(config):
        boots.append(config.guest)
        if config.guest == "linux":
            return runner.tlbrun.RunResult(
                status=runner.tlbrun.STATUS_NO_VERDICT, guest="linux",
                error="QEMU stopped the guest: KVM internal error. Suberror: 1 (KVM could not "
                      "emulate an instruction of the guest)")
        return runner.tlbrun.run(config)

    out = tmp_path / "results"
    status = runner.run_matrix(m, out, resume=False, messages=open(os.devnull, "w"),
                               runner=fake_kvm)
    assert status == runner.EXIT_OK
    assert boots.count("linux") == 1 and boots.count("tlbstorm") == 2
    runs = {r["id"]: r for r in ResultsDir(out).runs()}
    first, second = runs["linux-tcg-direct-v2-o1-r0"], runs["linux-tcg-direct-v3-o1-r0"]
    assert first["outcome"] == "unavailable" and first["attempts"] == 1
    assert first["status"] == runner.tlbrun.STATUS_NO_VERDICT
    assert second["outcome"] == "unavailable"
    assert "KVM internal error" in second["error"] and first["id"] in second["error"]
    assert all(r["outcome"] == "pass" for r in runs.values() if r["config"]["guest"] == "tlbstorm")
