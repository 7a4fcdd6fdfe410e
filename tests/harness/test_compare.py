"""scripts/bench compare's decision (scripts/benchlib/compare.py), without QEMU: a bootstrap
interval of the relative difference of the medians of the repetitions, a verdict of slower,
faster or cannot tell against the ±min_change margin, no interval below MIN_REPS repetitions,
reproducible intervals, power that grows with the repetitions; and the command end to end on
synthesized results directories (a planted difference flagged, an identical copy not).
Run: /usr/bin/python3 -m pytest -q tests/harness/test_compare.py"""

import json
import os
import random
import shutil
import subprocess
import sys

import test_report as synth
from benchlib import compare as cmp
from benchlib import results

ROOT = synth.ROOT
BENCH = ROOT / "scripts" / "bench"
KEY = ("tlbstorm", "kvm", "direct", 2, 1.0, "ipi", "remap", 1)


def side(values, violations=0, watchdog=0):
    return cmp.Side({"p50_ns": list(values), "p99_ns": list(values)}, violations, watchdog)


def noisy(center, n, noise):
    """n values spread evenly over center x (1 ± noise): noise made by construction, so a
    test's outcome depends on no random draw of the data."""
    return [center * (1 + noise * (2 * i / (n - 1) - 1)) for i in range(n)]


def judge(a, b, min_change=cmp.MIN_CHANGE, key=KEY):
    return cmp.judge(key, "p50_ns", side(a), side(b), min_change)


def test_identical_distributions_cannot_tell():
    a = noisy(5000, 8, 0.04)
    f = judge(a, list(reversed(a)))
    assert f.verdict == "cannot tell" and not f.flagged
    assert f.change == 0 and f.ci_low < 0 < f.ci_high
    assert (f.reps_a, f.reps_b) == (8, 8)


def test_thirty_percent_slower_is_flagged():
    a = noisy(5000, 8, 0.02)
    b = [v * 1.3 for v in noisy(5000, 8, 0.02)[::-1]]
    f = judge(a, b)
    assert f.verdict == "slower" and f.flagged
    assert 0 < cmp.MIN_CHANGE < f.ci_low <= 0.3 <= f.ci_high
    assert abs(f.change - 0.3) < 1e-9


def test_thirty_percent_faster_is_flagged():
    a = noisy(5000, 8, 0.02)
    f = judge(a, [v * 0.7 for v in a])
    assert f.verdict == "faster" and f.flagged
    assert f.ci_low <= -0.3 <= f.ci_high < -cmp.MIN_CHANGE < 0


def test_too_few_repetitions_give_no_interval():
    for a, b in ((noisy(5000, 3, 0.02), noisy(9000, 3, 0.02)),     # even +80%
                 (noisy(5000, 8, 0.02), noisy(9000, 3, 0.02))):    # one side short
        f = judge(a, b)
        assert not f.flagged and f.ci_low is None and f.ci_high is None
        assert f.verdict == "cannot tell (3 repetitions; at least 5 needed)"
        assert f.change > 0.7
    text = cmp.render([f], "A", "B", everything=True)
    row = next(ln for ln in text.splitlines() if ln.startswith("| tlbstorm"))
    assert "| — | 8/3 | cannot tell (3 repetitions; at least 5 needed) |" in row, row
    assert "1 comparison(s) could not be decided for want of repetitions" in text


def test_intervals_are_reproducible():
    a, b = noisy(5000, 6, 0.05), noisy(5300, 7, 0.05)
    first, second = judge(a, b), judge(a, b)
    assert (first.ci_low, first.ci_high) == (second.ci_low, second.ci_high)
    assert cmp.bootstrap_interval(a, b, 7) == cmp.bootstrap_interval(a, b, 7)
    assert cmp.bootstrap_interval(a, b, 7) != cmp.bootstrap_interval(a, b, 8)
    # the seed comes from the key's text, not from Python's per-process hash()
    code = f"from benchlib import compare as c; print(c.seed_of({KEY!r}, 'p50_ns'))"
    for hashseed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=hashseed, PYTHONPATH=str(ROOT / "scripts"))
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                             text=True, env=env, check=True)
        assert int(out.stdout) == cmp.seed_of(KEY, "p50_ns")


def test_power_grows_with_repetitions():
    """+8% with ±3% noise: 5 repetitions cannot tell it from the 5% margin, 40 can, whatever
    the seed of the resampling."""
    for seed in range(5):
        low, high = cmp.bootstrap_interval(noisy(5000, 5, 0.03), noisy(5400, 5, 0.03), seed)
        assert cmp.verdict(low, high, cmp.MIN_CHANGE) == "cannot tell" and low < 0.05 < high
        low, high = cmp.bootstrap_interval(noisy(5000, 40, 0.03), noisy(5400, 40, 0.03), seed)
        assert cmp.verdict(low, high, cmp.MIN_CHANGE) == "slower" and 0.05 < low < 0.08 < high
    assert judge(noisy(5000, 5, 0.03), noisy(5400, 5, 0.03)).verdict == "cannot tell"
    assert judge(noisy(5000, 40, 0.03), noisy(5400, 40, 0.03)).verdict == "slower"


def test_the_margin_is_min_change():
    """A clear +8% is slower with a 5% margin and cannot be told with a 10% one."""
    a, b = noisy(5000, 40, 0.01), noisy(5400, 40, 0.01)
    assert judge(a, b).verdict == "slower"
    f = judge(a, b, min_change=0.10)
    assert f.verdict == "cannot tell" and not f.flagged and f.ci_high < 0.10
    assert "beyond ±10%" in cmp.render([f], "A", "B")


def test_render_columns_and_rule():
    f = judge(noisy(5000, 8, 0.02), noisy(6500, 8, 0.02))
    text = cmp.render([f], "dirA", "dirB")
    assert "1 difference(s) flagged out of 1 comparison(s)" in text
    for words in ("95% bootstrap interval", "difference of the medians", "2000 resamples",
                  "beyond ±5%", "at least 5 repetitions on each side", "cannot tell"):
        assert words in text, words
    assert "| scenario | metric | A (median) | B (median) | change | 95% interval | " \
           "reps A/B | verdict |" in text
    row = next(ln for ln in text.splitlines() if ln.startswith("| tlbstorm"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1:5] == ["p50_ns", "5000 ns", "6500 ns", "+30.0%"]
    assert cells[5] == f"[{f.ci_low:+.1%}, {f.ci_high:+.1%}]" and cells[6:] == ["8/8",
                                                                               "**slower**"]


# ---- the command on synthesized results directories


def results_dir(path, reps, factor=1.0, stale_rep=None, workloads=None):
    """kvm, 2 vCPUs, `reps` repetitions of remap and protect (or `workloads`) at 1 and 64
    pages; remap 1 page `factor` times slower; stale reads in repetition `stale_rep`."""
    rng = random.Random(3)
    rd = results.ResultsDir(path)
    plan = [synth.config("tlbstorm", "kvm", 2, rep) for rep in range(reps)]
    rd.create("", ".toml", plan, synth.HOST)
    for c in plan:
        recs = synth.tlbstorm_records(rng, "kvm", 2, backends=["ipi"], workloads=workloads,
                                      stale=1 if c["rep"] == stale_rep else 0)
        for rec in recs:
            if rec.get("record") == "shootdown" and (rec["workload"], rec["pages"]) == \
                    ("remap", 1):
                for k in ("p50", "p90", "p99", "p999", "max", "mean"):
                    rec["latency_ns"][k] = int(rec["latency_ns"][k] * factor)
        rd.save_run(synth.run_dict(c, "pass", recs))
    return path


def bench_compare(*args):
    return subprocess.run(["/usr/bin/python3", str(BENCH), "compare", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def test_command_flags_a_planted_difference_only(tmp_path):
    a = results_dir(tmp_path / "a", 6)
    same = tmp_path / "same"
    shutil.copytree(a, same)
    p = bench_compare(a, same)
    assert p.returncode == 0 and "No difference beyond the noise" in p.stdout, p.stdout

    p = bench_compare(a, results_dir(tmp_path / "slower", 6, factor=3.0), "--out",
                      tmp_path / "cmp.md")
    assert p.returncode == 1, p.stdout + p.stderr
    flagged = [ln for ln in p.stdout.splitlines() if "**slower**" in ln]
    assert len(flagged) == 2 and all(" remap 1p " in ln and " 6/6 " in ln for ln in flagged)
    assert (tmp_path / "cmp.md").read_text() == p.stdout

    p = bench_compare(results_dir(tmp_path / "a2", 2),
                      results_dir(tmp_path / "slower2", 2, factor=3.0), "--all")
    assert p.returncode == 0, p.stdout
    assert p.stdout.count("cannot tell (2 repetitions; at least 5 needed)") == 8, p.stdout


def test_command_still_flags_correctness_records_and_one_sided(tmp_path):
    """With too few repetitions for any interval: stale reads on one side, an invalid run and
    a scenario on one side only are flagged all the same."""
    a = results_dir(tmp_path / "a", 2)
    p = bench_compare(a, results_dir(tmp_path / "stale", 2, stale_rep=1))
    assert p.returncode == 1 and "| correctness |" in p.stdout, p.stdout
    bad = tmp_path / "bad"
    shutil.copytree(a, bad)
    f = next((bad / "runs").glob("*/result.json"))
    run = json.loads(f.read_text())
    del run["records"][3]["detection"]
    f.write_text(json.dumps(run))
    p = bench_compare(a, bad)
    assert p.returncode == 1 and "| records |" in p.stdout and "invalid record" in p.stdout
    p = bench_compare(a, results_dir(tmp_path / "remap", 2, workloads=["remap"]))
    only = [ln for ln in p.stdout.splitlines() if "**only in A**" in ln]
    assert p.returncode == 1 and len(only) == 2 and all(" protect " in ln for ln in only)
