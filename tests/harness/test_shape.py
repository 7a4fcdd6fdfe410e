"""scripts/benchlib/shape.py on synthetic scenario rows (no QEMU): the paravirtual effect's shape
holds, fails, or cannot be told, for the reasons it gives. Run:
/usr/bin/python3 -m pytest -q tests/harness/test_shape.py"""

import pytest

from benchlib import shape
from benchlib.scenarios import SCENARIO_KEY


def row(run, backend, oc, p99, spread=0.05, **kw):
    """One valid scenario row of boot `run` with a p99 of `p99` ns and an interval of
    ±spread around it (spread None: no interval)."""
    r = {f: None for f in SCENARIO_KEY}
    r.update(guest="tlbstorm", platform="hvlab", firmware="direct", vcpus=int(2 * oc),
             overcommit=1.0, workload="remap", pages=1, targets="spin", run_id=run,
             backend=backend, effective_overcommit=oc, status="ok", violations=0, watchdog=0,
             p99_ns=p99, p50_ns=p99 / 2)
    for m, v in (("p99", p99), ("p50", p99 / 2)):
        r[f"{m}_ci_low_ns"] = None if spread is None else v * (1 - spread)
        r[f"{m}_ci_high_ns"] = None if spread is None else v * (1 + spread)
    r.update(kw)
    return r


def boots(ratios, reps=2, pv="hv-flush", ipi_ns=100_000, **kw):
    """Rows for {overcommit: ratio}: per level `reps` boots with ipi and pv side by side."""
    rows = []
    for oc, ratio in ratios.items():
        for rep in range(reps):
            run = f"b-{oc}-{rep}"
            rows += [row(run, "ipi", oc, ipi_ns * oc, **kw), row(run, pv, oc, ipi_ns * oc * ratio, **kw)]
    return rows


def only(rows, metric="p99"):
    found = shape.series(rows, metric)
    assert len(found) == 1, found
    return found[0]


def test_holds_when_pv_wins_more_with_overcommit():
    s = only(boots({1: 1.0, 2: 0.4, 4: 0.05}))
    assert s.verdict == shape.HOLDS and not s.reasons, s.reasons
    assert [lv.overcommit for lv in s.levels] == [1, 2, 4]
    assert s.levels[2].ratio == pytest.approx(0.05) and s.goal is True
    assert shape.overall([s]) == shape.HOLDS


def test_goal_not_met_is_reported_not_judged():
    s = only(boots({1: 1.0, 2: 0.6, 4: 0.3}))
    assert s.verdict == shape.HOLDS and s.goal is False


def test_fails_when_the_ratio_grows():
    s = only(boots({1: 1.0, 2: 2.0, 4: 0.05}))
    assert s.verdict == shape.FAILS
    assert any("grows from 1x" in r for r in s.reasons), s.reasons


def test_fails_when_1x_is_not_about_1():
    s = only(boots({1: 0.3, 4: 0.05}))
    assert s.verdict == shape.FAILS and "at 1x the ratio is 0.30" in s.reasons[0]


def test_cannot_tell_inside_the_noise():
    s = only(boots({1: 1.0, 4: 0.8}, spread=0.3))
    assert s.verdict == shape.CANNOT_TELL and "not clearly below" in s.reasons[0]


@pytest.mark.parametrize("rows, why", [
    (boots({1: 1.0}), "1 overcommit level"),
    (boots({2: 0.5, 4: 0.1}), "no 1x level"),
    (boots({1: 1.0, 4: 0.05}, spread=None), "without a confidence interval"),
])
def test_cannot_tell_without_enough(rows, why):
    s = only(rows)
    assert s.verdict == shape.CANNOT_TELL and any(why in r for r in s.reasons), s.reasons


def test_one_boot_without_an_interval_spoils_its_level():
    rows = boots({1: 1.0, 4: 0.05})
    rows[-1]["p99_ci_low_ns"] = None
    assert only(rows).levels[1].low is None and only(rows).verdict == shape.CANNOT_TELL


def test_pairs_only_within_a_boot_and_a_scenario():
    """Invalid rows, other guests and a PV row without its boot's ipi add nothing; pages and
    backends make series of their own."""
    rows = boots({1: 1.0, 4: 0.05})
    rows.append(row("lonely", "hv-flush", 4, 1))                       # no ipi in its boot
    rows.append(row("b-4-0", "hv-flush", 4, 1, pages=64))              # no ipi at 64 pages
    bad = row("b-1-0", "kvm-flush", 1, 1, status="watchdog")           # invalid
    linux = row("b-1-0", "kvm-flush", 1, 1, guest="linux")
    s = only(rows + [bad, linux])
    assert sum(len(lv.boots) for lv in s.levels) == 4
    two = shape.series(boots({1: 1.0, 4: 0.05}) + boots({1: 1.0, 4: 0.05}, pv="hv-list-ex"))
    assert [x.backend for x in two] == ["hv-flush", "hv-list-ex"]


def test_overall_and_render():
    good, bad = only(boots({1: 1.0, 4: 0.05})), only(boots({1: 1.0, 4: 3.0}))
    assert shape.overall([good, bad]) == shape.FAILS
    assert shape.overall([]) == shape.CANNOT_TELL
    text = "\n".join(shape.render([good, bad]))
    assert "| hvlab hv-flush / ipi, remap 1p targets=spin | p99 | 1.00 [0.90, 1.11] | 0.05" in text
    assert "Overall: the shape fails." in text
    assert "No paravirtual backend" in shape.render([])[0]


def test_p50_metric():
    s = only(boots({1: 1.0, 4: 0.05}), metric="p50")
    assert s.metric == "p50" and s.verdict == shape.HOLDS and s.goal is None


def linux_row(platform, oc, p50, spread=0.05, rep=0):
    r = row(f"lx-{platform}-{oc}-{rep}", "linux", oc, p50 * 2, guest="linux", platform=platform,
            equivalent="remap", workload="madvise")
    r.update(linux_flush_p50_ns=p50, linux_flush_p50_ci_low_ns=p50 * (1 - spread),
             linux_flush_p50_ci_high_ns=p50 * (1 + spread), linux_flush_p99_ns=p50 * 2)
    return r


def test_linux_pv_over_its_twin_across_boots():
    """Linux's flush on hvlab-kvm over the same on hvlab-kvm-nopv, per overcommit level, with
    the envelope of both sides' intervals; a platform without a twin adds nothing."""
    rows = [linux_row("hvlab-kvm", oc, 1000 * oc * r) for oc, r in ((1, 1.0), (2, 0.5), (4, 0.1))]
    rows += [linux_row("hvlab-kvm-nopv", oc, 1000 * oc) for oc in (1, 2, 4)]
    rows += [linux_row("tcg", 1, 5), linux_row("hvlab-kvm-nopv", 8, 100)]   # no pair
    found = shape.linux_series(rows, "p50")
    assert len(found) == 1, found
    s = found[0]
    assert s.backend == "linux" and s.key["platform"] == "hvlab-kvm" and s.key["workload"] == "remap"
    assert [lv.overcommit for lv in s.levels] == [1, 2, 4]
    assert s.levels[1].ratio == pytest.approx(0.5)
    assert s.levels[1].low == pytest.approx(0.5 * 0.95 / 1.05)
    assert s.verdict == shape.HOLDS
    text = "\n".join(shape.render(found))
    assert "| hvlab-kvm linux / its flush without PV (across boots), remap 1p | p50 | 1.00" in text
    assert shape.linux_series(rows, "p99")[0].verdict == shape.CANNOT_TELL   # p99 has no interval


def test_section_needs_two_levels():
    assert shape.section(boots({1: 1.0})) == []
    lines = shape.section(boots({1: 1.0, 4: 0.05}))
    assert lines[0] == "## The paravirtual effect against overcommit"
    assert any("| p99 |" in ln for ln in lines) and any("| p50 |" in ln for ln in lines)


def test_pv_ratio_plot(tmp_path):
    from benchlib import plots
    if plots.plt is None:
        pytest.skip(plots.MISSING)
    rows = boots({1: 1.0, 2: 0.4, 4: 0.05}) + boots({1: 1.1, 4: 0.5}, pv="kvm-ipi")
    path = plots.plot_pv_ratio(rows, tmp_path / "pv_ratio-all.png")
    assert path is not None and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plots.plot_pv_ratio(boots({1: 1.0}), tmp_path / "none.png") is None
