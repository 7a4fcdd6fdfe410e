"""scripts/benchlib/scaling.py (no QEMU): least-squares lines of the per-scenario median p50
against targets and pages, and the "Scaling" section of summary.md on a synthesized results
directory. Run: /usr/bin/python3 -m pytest -q tests/harness/test_scaling.py"""

import random
import statistics

import pytest

import test_report as synth
from test_report import full_dir  # noqa: F401  (the fixture)
from benchlib import records, report, results, scaling, scenarios

REMAP = records.WORKLOADS[0]
TARGETS = [1, 3, 7, 15, 31, 63]


def rows_for(points, backend="ipi", guest="tlbstorm", platform="kvm", **extra):
    """Scenario rows (results.scenario_rows's shape, the fields aggregate() reads), one per
    (vcpus, pages, p50_ns) point."""
    return [{"guest": guest, "platform": platform, "firmware": "direct", "vcpus": v,
             "overcommit": 1.0, "backend": backend, "workload": REMAP, "pages": p, "full": False,
             "initiators": "one", "aspaces": 1, "rep": 0, "run_id": f"{guest}-v{v}",
             "p50_ns": p50, "status": "ok", "violations": 0, "watchdog": 0,
             "equivalent": REMAP, **extra} for v, p, p50 in points]


# ---------------------------------------------------------------------------------------------
# The fit


def test_fit_recovers_a_planted_line():
    fit = scaling.fit_line(TARGETS, [1000 + 250 * t for t in TARGETS])
    assert fit.slope == pytest.approx(250) and fit.intercept == pytest.approx(1000)
    assert fit.r2 == pytest.approx(1.0) and fit.se == pytest.approx(0, abs=1e-9)
    assert (fit.n, fit.x_min, fit.x_max) == (6, 1, 63)


def test_fit_with_noise():
    rng = random.Random(7)
    xs = [t for t in TARGETS for _ in range(4)]
    ys = [1000 + 250 * x + rng.gauss(0, 200) for x in xs]
    fit = scaling.fit_line(xs, ys)
    ref = statistics.linear_regression(xs, ys)
    assert fit.slope == pytest.approx(ref.slope) and fit.intercept == pytest.approx(ref.intercept)
    assert fit.r2 == pytest.approx(statistics.correlation(xs, ys) ** 2)
    assert 0 < fit.se < 10 and abs(fit.slope - 250) < 4 * fit.se
    assert 0.99 < fit.r2 < 1


def test_fewer_than_three_points_are_refused():
    assert scaling.fit_line([1, 3], [1250, 1750]) is None
    assert scaling.fit_line([1, 1, 1, 3], [1250, 1250, 1260, 1750]) is None  # 2 distinct x
    assert scaling.fit_line([1, None, 3, 7], [1, 2, None, 4]) is None        # Nones left out
    two = scaling.fit_line([1, 3], [1250, 1750], min_points=2)
    assert two.slope == pytest.approx(250) and two.se is None
    aggs = scenarios.aggregate(rows_for([(2, 1, 1250), (4, 1, 1750)]))
    assert scaling.target_fits(aggs) == [] and scaling.page_fits(aggs) == []
    assert scaling.target_rows(aggs) == [] and scaling.tables(aggs, []) == []


def test_per_target_groups_and_invalid_scenarios():
    points = [(t + 1, p, 1000 + 250 * t + 20 * p) for t in (1, 3, 7) for p in (1, 8)]
    aggs = scenarios.aggregate(rows_for(points) + rows_for(
        [(t + 1, 1, 900 + 100 * t) for t in (1, 3, 7)], backend="kvm-flush"))
    fits = {(a["backend"], a["pages"]): f for a, f in scaling.target_fits(aggs)}
    assert set(fits) == {("ipi", 1), ("ipi", 8), ("kvm-flush", 1)}
    assert fits[("ipi", 8)].slope == pytest.approx(250)
    assert fits[("ipi", 8)].intercept == pytest.approx(1160)
    assert fits[("kvm-flush", 1)].slope == pytest.approx(100)
    # A scenario with stale reads is no point of a line: ipi at 1 page keeps 2 vCPU counts.
    stale = rows_for([(8, 1, 99999)], violations=2)
    aggs = scenarios.aggregate(rows_for(points[:4] + points[5:]) + stale)
    assert [(a["pages"], f.n) for a, f in scaling.target_fits(aggs)] == [(8, 3)]


def test_pages_split_at_the_threshold():
    pages = [1, 8, 16, 33, 64, 512, 4096]

    def kinked(p):   # 20 ns/page flushed one by one, 2 ns/page around one full flush
        return 5000 + 20 * p if p <= 33 else 5000 + 20 * 33 + 400 + 2 * (p - 33)
    aggs = scenarios.aggregate(rows_for([(4, p, kinked(p)) for p in pages]))
    fits = scaling.page_fits(aggs)
    assert [(t, above, f.n) for _, t, above, f in fits] == [(33, False, 4), (33, True, 3)]
    below, above = fits[0][3], fits[1][3]
    assert below.slope == pytest.approx(20) and below.intercept == pytest.approx(5000)
    assert above.slope == pytest.approx(2) and above.r2 == pytest.approx(1)
    # The boots' own threshold moves the split: 8 puts 16 and 33 above it.
    thresholds = {"tlbstorm-v4": 8}
    assert [(t, above, f.n) for _, t, above, f in scaling.page_fits(aggs, thresholds)] == \
        [(8, False, 2), (8, True, 5)]
    rows = scaling.page_rows(aggs)
    assert [r[1:4] for r in rows] == [["≤ 33 pages", "4 (1..33)", "20.0"],
                                      ["> 33 pages", "3 (64..4096)", "2.0"]]
    assert rows[0][0] == f"tlbstorm, kvm, ipi, {REMAP}, 4 vCPUs"


# ---------------------------------------------------------------------------------------------
# summary.md


def planted_p50(vcpus, pages):
    return 1000 + 250 * (vcpus - 1) + (20 * pages if pages <= 33 else 660 + 2 * (pages - 33))


def scaling_dir(tmp_path, flush_threshold=33, vcpus_list=(2, 4, 8), pages_list=(1, 8, 64)):
    """A results directory of tlbstorm boots on kvm (2 vCPUs per host CPU), one ipi remap
    scenario per range size, p50 (ns) planted on planted_p50, 2 repetitions."""
    rng = random.Random(99)
    plan, runs = [], []
    for rep in range(2):
        for vcpus in vcpus_list:
            c = dict(synth.config("tlbstorm", "kvm", vcpus, rep), effective_overcommit=vcpus / 2)
            plan.append(c)
            floor = 2500 + 900 * vcpus
            recs = [synth.boot_record(), synth.floor_record(vcpus, synth.TSC_KHZ["kvm"], floor),
                    synth.bench_record("kvm", vcpus, floor, ["ipi"], [REMAP])]
            for sc, pages in enumerate(pages_list):
                shoot, *hist = synth.shootdown_record(rng, sc, "kvm", vcpus, "ipi", REMAP, pages)
                shoot["latency_ns"]["p50"] = planted_p50(vcpus, pages)
                shoot["env"]["flush_threshold"] = flush_threshold
                recs += [shoot] + hist
            recs.append({"record": "verdict", "verdict": "pass", "code": 0,
                         "detection": "shown"})
            runs.append(synth.run_dict(c, "pass", recs))
    rd = results.ResultsDir(tmp_path / "res")
    rd.create('name = "scale"\n', ".toml", plan, synth.HOST)
    for r in runs:
        rd.save_run(r)
    return rd


def test_summary_has_the_scaling_section(tmp_path):
    rd = scaling_dir(tmp_path)
    assert not [r for r in rd.runs() if r.get("invalid")]
    text = report.write_summary(rd, []).read_text()
    body = synth.section(text, "Scaling")
    assert "least-squares slopes of the per-scenario median p50" in body
    assert ("overcommitted host (here up to 4 vCPUs per host CPU) the per-target cost includes "
            "waiting for the host to schedule the target") in body
    per_target = synth.md_table(body, "scenario | points (targets)")
    assert [r["scenario"] for r in per_target] == \
        [f"tlbstorm, kvm, ipi, {REMAP}, {p}" for p in ("1 page", "8 pages", "64 pages")]
    for r in per_target:
        assert r["points (targets)"] == "3 (1..7)"
        assert (r["ns/target"], r["± s.e."], r["r²"]) == ("250.0", "± 0.0", "1.000")
    assert per_target[0]["intercept"] == "1,020.0 ns"
    per_page = synth.md_table(body, "scenario | range")
    # 1 and 8 pages at or below the threshold (two points: no s.e.), 64 alone above it.
    assert [(r["scenario"], r["range"], r["points (pages)"], r["ns/page"], r["± s.e."])
            for r in per_page] == [(f"tlbstorm, kvm, ipi, {REMAP}, {v} vCPUs", "≤ 33 pages",
                                    "2 (1..8)", "20.0", "—") for v in (2, 4, 8)]
    # The Scaling section sits after the tables and before the plots.
    assert text.index("## Ratio to the IPI floor") < text.index("## Scaling") < \
        text.index("## Plots")


def test_summary_reads_the_boots_threshold(tmp_path):
    rd = scaling_dir(tmp_path, flush_threshold=4, vcpus_list=(2, 4), pages_list=(1, 8, 64, 512))
    body = synth.section(report.write_summary(rd, []).read_text(), "Scaling")
    assert "Cost per added target" not in body          # 2 vCPU counts: no line
    per_page = synth.md_table(body, "scenario | range")
    assert [(r["range"], r["points (pages)"]) for r in per_page] == \
        [("> 4 pages", "3 (8..512)")] * 2
    # Not a straight line (the planted kink is at 33): the least-squares slope through 3 points.
    ref = statistics.linear_regression([8, 64, 512], [planted_p50(2, p) for p in (8, 64, 512)])
    assert [r["ns/page"] for r in per_page] == [f"{ref.slope:,.1f}"] * 2


def test_no_scaling_section_without_a_sweep(full_dir):  # noqa: F811 (the fixture)
    """test_report's directory: vCPUs 2 and 4 (8 only in a run with stale reads and one that
    timed out), pages 1 and 64: no scenario has 3 points."""
    rd, _ = full_dir
    text = report.write_summary(rd, []).read_text()
    assert "## Scaling" not in text
