"""scripts/benchlib/report.py on synthesized results directories (no QEMU): the CSV equals the
shootdown records, summary.md's numbers agree with them, the plots are valid PNGs, and empty or
partial directories do not crash. Run: /usr/bin/python3 -m pytest -q tests/harness/test_report.py"""

import csv
import math
import random
import re
import statistics
import struct
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
from benchlib import cells, peer, plots, report, results, scenarios, shape

TSC_KHZ = {"kvm": 2_900_000, "hvlab": 2_100_000}
BACKENDS = {"kvm": ["ipi", "kvm-flush"], "hvlab": ["ipi", "hv-flush"]}
WORKLOADS = ["remap", "protect"]
LINUX_OPS = {"remap": "madvise", "protect": "mprotect"}
PAGES = [1, 64]
VCPUS = [2, 4]
REPS = 2
ITERS = 300


# ---------------------------------------------------------------------------------------------
# Record synthesis


def log_linear_buckets(samples):
    """The kernel's histogram: exact below 64, else 32 sub-buckets per power of two."""
    counts = {}
    for v in samples:
        if v < 64:
            lo, hi = v, v
        else:
            e = v.bit_length() - 1
            width = (1 << e) // 32
            lo = (1 << e) + ((v - (1 << e)) // width) * width
            hi = lo + width - 1
        counts[(lo, hi)] = counts.get((lo, hi), 0) + 1
    return [[lo, hi, n] for (lo, hi), n in sorted(counts.items())]


def summary(samples):
    if not samples:
        return {**{k: 0 for k in ("count", "min", "p50", "p90", "p99", "p999", "max", "mean")},
                "p50_ci": [0, 0], "p99_ci": [0, 0], "p99_low_confidence": False}
    s = sorted(samples)
    n = len(s)

    def pct(p):
        return s[min(n - 1, int(math.ceil(p / 100 * n)) - 1)]

    def ci(q):  # the kernel's ranks (kernel/stats.c), at sample resolution
        half = 1.96 * math.sqrt(n * q * (1 - q))
        lo, hi = max(1, math.floor(n * q - half)), math.ceil(n * q + half) + 1
        return [s[lo - 1], s[min(hi, n) - 1]], hi <= n
    p50_ci, _ = ci(0.5)
    p99_ci, bounded = ci(0.99)
    return {"count": n, "min": s[0], "p50": pct(50), "p90": pct(90), "p99": pct(99),
            "p999": pct(99.9), "max": s[-1], "mean": sum(s) // n, "p50_ci": p50_ci,
            "p99_ci": p99_ci, "p99_low_confidence": not bounded}


def to_ns(summ, khz):
    def conv(v):
        return [int(x * 1e6 / khz) for x in v] if isinstance(v, list) else int(v * 1e6 / khz)
    return {k: (v if k in ("count", "p99_low_confidence") else conv(v))
            for k, v in summ.items()}


def samples_for(rng, median_cycles, n=ITERS):
    return [max(40, int(rng.lognormvariate(math.log(median_cycles), 0.35))) for _ in range(n)]


def hist_records(scenario, of, buckets):
    parts = [buckets[i:i + 128] for i in range(0, len(buckets), 128)] or [[]]
    return [{"record": "latency_hist", "scenario": scenario, "of": of, "unit": "cycles",
             "part": i, "last": i == len(parts) - 1, "buckets": b} for i, b in enumerate(parts)]


def env(platform, vcpus, **extra):
    return {"version": "v0.9-12-gabcdef0", "hypervisor": "kvm" if platform == "kvm" else "hyperv",
            "hypervisor_vendor": "KVMKVMKVM" if platform == "kvm" else "Microsoft Hv",
            "cpu_brand": "AMD EPYC 7B13", "cpus": vcpus, "tsc_khz": TSC_KHZ[platform],
            "tsc_source": "cpuid-0x40000010", "tsc_invariant": True, "apic_mode": "x2APIC",
            "pcid": True, "invpcid": True, "flush_threshold": 33, **extra}


def oracle(stale=0, opportunities=2700):
    return {"checks": 9000, "changes": ITERS + 20, "opportunities": opportunities,
            "opportunities_per_shootdown_milli": opportunities * 1000 // ITERS,
            "stale_reads": stale, "writes_after_readonly": 0, "reads_after_unmap": 0,
            "unexpected_faults": 0, "transition_faults": 0, "violations": stale, "events": []}


def detection(reason=None, canary_violations=37, retention=512):
    """A shootdown record's `detection`: shown by the canary, or not shown for `reason`."""
    canary = {"control": "remote", "iterations": 4, "changes": 4, "checks": 900,
              "opportunities": 8 if canary_violations or reason is None else 0,
              "violations": canary_violations if reason is None else 0}
    return {"status": "not shown" if reason else "shown", "by": None if reason else "canary",
            "reason": reason, "retention_largest_shown": retention, "canary": canary}


LINUX_DETECTION = {"status": "not shown", "by": None, "reason": "the Linux peer has no oracle",
                   "retention_largest_shown": 0, "canary": None}
# Fields the records had before detection existed: an older results directory lacks them.
DETECTION_FIELDS = ("observe", "error", "detection")
ORACLE_DETECTION_FIELDS = ("changes", "opportunities", "opportunities_per_shootdown_milli",
                           "violations")


def legacy(recs):
    """The same records as an older kernel wrote them: no detection anywhere."""
    out = []
    for r in recs:
        r = {k: v for k, v in r.items() if k not in DETECTION_FIELDS}
        if "oracle" in r:
            r["oracle"] = {k: v for k, v in r["oracle"].items()
                           if k not in ORACLE_DETECTION_FIELDS}
        out.append(r)
    return out


def boot_record(version="v0.9-12-gabcdef0"):
    return {"record": "boot", "version": version, "protocol": "multiboot1", "loader": "qemu",
            "cmdline": "mode=bench", "firmware": "bios", "mem_usable_bytes": 536330240,
            "mmap_entries": 6, "framebuffer": None, "console": "none", "acpi": {"revision": 2},
            "cpu": {"vendor": "AuthenticAMD", "brand": "AMD EPYC 7B13"}}


def bench_record(platform, vcpus, floor_cycles, backends, workloads, acks=("late",)):
    """A bench record: lists as arrays (today's kernel), or as strings (the older form the
    schema still accepts: the synthetic Linux peer's uses it)."""
    return {"record": "bench", "backends": backends, "workloads": workloads,
            "pages": PAGES if isinstance(backends, list) else ",".join(map(str, PAGES)),
            **({"acks": list(acks)} if isinstance(backends, list) else {}),
            "iterations": ITERS, "warmup": 20, "skip_flush": "none",
            "observe": "free" if backends == "linux" else "lockstep",
            "canary": 0 if backends == "linux" else 16, "timer_overhead_min_cycles": 30,
            "timer_overhead_p50_cycles": 36, "ipi_floor_p50_cycles": floor_cycles,
            "env": env(platform, vcpus)}


def floor_record(vcpus, khz, floor_cycles):
    return {"record": "ipi_floor", "iterations": 200, "pingpong_iterations": 200, "targets": "spin",
            "cpus": vcpus,
            "tsc_khz": khz,
            "pingpong": [], "broadcast": {
                "p50_cycles": floor_cycles, "p99_cycles": floor_cycles * 2,
                "max_cycles": floor_cycles * 5, "p50_ns": int(floor_cycles * 1e6 / khz),
                "p99_ns": int(floor_cycles * 2e6 / khz), "max_ns": int(floor_cycles * 5e6 / khz)}}


def shootdown_record(rng, sc, platform, vcpus, backend, wl, pages, stale=0, reason=None,
                     ack="late", base=None):
    """A tlbstorm shootdown record (every field the schema asks for) and its histogram."""
    khz = TSC_KHZ[platform]
    floor_cycles = 2500 + 900 * vcpus
    if base is None:
        base = (floor_cycles * (1.4 if backend == "ipi" else 0.9)
                + 40 * pages * (2 if wl == "protect" else 1))
    smp = samples_for(rng, base)
    cyc = summary(smp)
    null = summary(samples_for(rng, floor_cycles))
    rec = {"record": "shootdown", "scenario": sc, "backend": backend, "workload": wl,
           "pages": pages, "full": False, "initiators": "one", "aspaces": 1,
           "ack": ack, "skip_flush": "none", "observe": "lockstep", "inflight": "skip",
           "targets": "spin",
           "iterations": ITERS, "warmup": 20, "status": "ok", "error": None,
           "shootdowns": ITERS, "targets_per_shootdown_milli": (vcpus - 1) * 1000,
           "skipped_targets": 0, "fallbacks": 0, "steal_ns": 0,
           "latency_cycles": cyc, "latency_ns": to_ns(cyc, khz),
           "ack_cycles": summary(samples_for(rng, base / 2)),
           "shootdowns_per_s": int(1e9 / (cyc["mean"] * 1e6 / khz)),
           "null_latency_cycles": null, "null_latency_ns": to_ns(null, khz),
           "ratio_to_null_p50": round(cyc["p50"] / null["p50"], 3), "untargeted_shootdowns": 0,
           "suspected_preemptions": 0,
           "null_untargeted": 0, "acks_before_start": 0,
           "ipi_floor_p50_cycles": floor_cycles,
           "ratio_to_ipi_floor_p50": round(cyc["p50"] / floor_cycles, 2),
           "oracle": oracle(stale), "detection": detection(reason),
           "watchdog_timeouts": 0, "deferred_flushes": 0,
           "noflush_switches": 0, "env": env(platform, vcpus)}
    return [rec] + hist_records(sc, "latency", log_linear_buckets(smp))


def tlbstorm_records(rng, platform, vcpus, stale=0, backends=None, workloads=None,
                     not_shown=None):
    """not_shown: {pages: reason} for the scenarios that did not show detection."""
    floor_cycles = 2500 + 900 * vcpus
    backends, workloads = backends or BACKENDS[platform], workloads or WORKLOADS
    recs = [boot_record(), floor_record(vcpus, TSC_KHZ[platform], floor_cycles),
            bench_record(platform, vcpus, floor_cycles, backends, workloads)]
    sc = 0
    for backend in backends:
        for wl in workloads:
            for pages in PAGES:
                recs += shootdown_record(rng, sc, platform, vcpus, backend, wl, pages, stale,
                                         (not_shown or {}).get(pages))
                sc += 1
    return recs


def linux_records(rng, platform, vcpus, unavailable=None):
    """The Linux peer's records: no boot record, its bench record's lists as strings.
    unavailable: why its flush was not traced (then not measured), else traced."""
    khz = TSC_KHZ[platform]
    lenv = env(platform, vcpus, linux_flush="kvm-pv", version="6.1.0-13-amd64", guest="linux",
               tsc_source="linux-calibrated")
    recs = [dict(bench_record(platform, vcpus, 0, "linux", ",".join(LINUX_OPS.values())),
                 env=lenv)]
    sc = 0
    for wl in WORKLOADS:
        for pages in PAGES:
            st = samples_for(rng, 1800 + 30 * pages)
            mt = samples_for(rng, 1800 + 30 * pages + 5200 + 700 * vcpus)
            st_ns, mt_ns = to_ns(summary(st), khz), to_ns(summary(mt), khz)
            flush = [x // 3 for x in mt]  # the traced flush_tlb_mm_range: no draw of its own
            recs.append({
                "record": "shootdown", "scenario": sc, "backend": "linux",
                "workload": LINUX_OPS[wl], "equivalent": wl, "pages": pages, "full": False,
                "initiators": "one", "aspaces": 1, "ack": "late", "skip_flush": "none",
                "observe": "free", "inflight": "read", "targets": "spin", "iterations": ITERS, "warmup": 20, "status": "ok",
                "error": None, "shootdowns": ITERS,
                "targets_per_shootdown_milli": (vcpus - 1) * 1000, "skipped_targets": 0,
                "fallbacks": 0, "steal_ns": 0,
                "latency_cycles": summary(mt), "latency_ns": mt_ns, "ack_cycles": summary([]),
                "shootdowns_per_s": int(1e9 / mt_ns["mean"]), "ipi_floor_p50_cycles": 0,
                "null_latency_cycles": None, "null_latency_ns": None, "ratio_to_null_p50": None,
                "suspected_preemptions": None,
                "untargeted_shootdowns": 0, "null_untargeted": 0, "acks_before_start": 0,
                "ratio_to_ipi_floor_p50": None, "oracle": oracle(opportunities=0),
                "detection": LINUX_DETECTION, "watchdog_timeouts": 0, "deferred_flushes": 0,
                "noflush_switches": 0, "reference_latency_cycles": summary(st),
                "reference_latency_ns": st_ns,
                "shootdown_cost_cycles_p50": summary(mt)["p50"] - summary(st)["p50"],
                "shootdown_cost_ns_p50": mt_ns["p50"] - st_ns["p50"], "reader_faults": 0,
                **linux_flush_fields(flush, khz, unavailable), "env": lenv})
            recs += hist_records(sc, "latency", log_linear_buckets(mt))
            recs += hist_records(sc, "reference", log_linear_buckets(st))
            sc += 1
    return recs


def linux_flush_fields(flush, khz, unavailable=None):
    """A Linux shootdown record's traced flush (samples in cycles), or why it was not traced."""
    if unavailable:
        return {"linux_flush_ns": None, "linux_flush_cycles": None, "linux_flush_calls": 0,
                "linux_flush_paths": {}, "linux_flush_unavailable": unavailable}
    return {"linux_flush_ns": to_ns(summary(flush), khz), "linux_flush_cycles": summary(flush),
            "linux_flush_calls": ITERS,
            "linux_flush_paths": {"native_flush_tlb_multi": ITERS, "kvm_flush_tlb_multi": ITERS,
                                  "hyperv_flush_tlb_multi": 0},
            "linux_flush_unavailable": None}


HOST = {"hostname": "bench1", "host_cpu": "AMD EPYC 7B13 64-Core Processor",
        "host_cpus_online": 16, "host_cpus_available": 16, "host_hypervisor_flag": False,
        "host_kernel": "6.1.0-13-amd64", "host_os": "Debian GNU/Linux 12 (bookworm)",
        "kvm_device": True, "qemu_version": "QEMU emulator version 7.2.5 (Debian 1:7.2+dfsg-7)",
        "tlbstorm_revision": "v0.9-12-gabcdef0", "python": "3.11.2",
        "started": "2026-12-01T11:00:00+00:00"}


def config(guest, platform, vcpus, rep, firmware="direct"):
    c = {"guest": guest, "platform": platform, "firmware": firmware, "vcpus": vcpus,
         "overcommit": 1.0, "rep": rep, "host_cpus": list(range(vcpus)), "memory": 512,
         "cmdline": "", "backends": ["linux"] if guest == "linux" else BACKENDS[platform],
         "workloads": WORKLOADS, "pages": PAGES, "iterations": ITERS, "warmup": 20,
         "timeout": 300}
    c["id"] = f"{guest}-{platform}-{firmware}-v{vcpus}-o1-r{rep}"
    return c


def run_dict(cfg, outcome, records, summary_line=None, error=None, status=0):
    return {"id": cfg["id"], "config": {k: v for k, v in cfg.items() if k != "id"},
            "outcome": outcome, "status": status,
            "verdict": outcome if outcome in ("pass", "fail") else None, "attempts": 1,
            "duration_s": 12.3, "accel": "kvm", "error": error, "warnings": [],
            "summary": summary_line or f"run: {outcome}", "qemu_argv": ["qemu-system-x86_64"],
            "host": HOST, "records": records, "finished": "2026-12-01T12:00:00+00:00"}


@pytest.fixture
def full_dir(tmp_path):
    """2 platforms x 2 backends x vCPUs 2/4 x pages 1/64 x 2 reps, Linux guest runs on kvm, a
    failed run (stale reads) and a timeout run without records, and a planned run not yet done."""
    rng = random.Random(1234)
    plan, runs = [], []
    for rep in range(REPS):
        for platform in ("kvm", "hvlab"):
            for vcpus in VCPUS:
                c = config("tlbstorm", platform, vcpus, rep)
                plan.append(c)
                recs = tlbstorm_records(rng, platform, vcpus)
                recs.append({"record": "verdict", "verdict": "pass", "code": 0,
                             "detection": "shown"})
                runs.append(run_dict(c, "pass", recs))
            if platform == "kvm":
                for vcpus in VCPUS:
                    c = config("linux", platform, vcpus, rep)
                    plan.append(c)
                    runs.append(run_dict(c, "pass", linux_records(rng, platform, vcpus) + [
                        {"record": "verdict", "verdict": "pass", "code": 0,
                         "detection": None}]))
    c = config("tlbstorm", "hvlab", 8, 0)
    plan.append(c)
    recs = tlbstorm_records(rng, "hvlab", 8, stale=3, backends=["ipi"], workloads=["remap"])
    recs.append({"record": "verdict", "verdict": "fail", "code": 1, "detection": "shown"})
    runs.append(run_dict(c, "fail", recs, "run: verdict fail (stale reads)", status=3))
    c = config("tlbstorm", "kvm", 8, 0)
    plan.append(c)
    runs.append(run_dict(c, "timeout", [], error="QEMU killed after 300 s (no verdict)", status=5))
    plan.append(config("tlbstorm", "kvm", 8, 1))      # planned, never ran
    rd = results.ResultsDir(tmp_path / "res")
    rd.create('name = "smoke-matrix"\nplatforms = ["kvm", "hvlab"]\n', ".toml", plan, HOST)
    for r in runs:
        rd.save_run(r)
    return rd, runs


# ---------------------------------------------------------------------------------------------
# Helpers


def shootdowns(runs):
    return [(run, rec) for run in runs for rec in run["records"] if rec["record"] == "shootdown"]


def md_table(text, first_header):
    """The rows of the Markdown table whose header starts with `first_header`, as dicts."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("| " + first_header):
            header = [c.strip() for c in line.strip("|").split("|")]
            rows = []
            for row in lines[i + 2:]:
                if not row.startswith("|"):
                    break
                rows.append(dict(zip(header, [c.strip() for c in row.strip("|").split("|")])))
            return rows
    raise AssertionError(f"no table starting with {first_header!r}")


def section(text, title):
    m = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert m, f"no section {title!r}"
    return m.group(1)


def assert_png(path):
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13, path
    w, h = struct.unpack(">II", data[16:24])
    assert w > 0 and h > 0, path
    return w, h


def close(text_value, expected, rel=0.006):
    """A 3-significant-digit rendering agrees with the exact value."""
    v = cells.parse_ns(text_value)
    assert v is not None, text_value
    assert abs(v - expected) <= max(rel * abs(expected), 0.5), (text_value, expected)


def envelope(summaries):
    """The lowest and highest bound of the summaries' p50 intervals."""
    cis = [s["p50_ci"] for s in summaries]
    return min(lo for lo, _ in cis), max(hi for _, hi in cis)


def close_interval(cell, expected, bounds):
    """`p50 (low..high)` as cells.fmt_interval renders it agrees with the exact values."""
    m = re.fullmatch(r"(.+?) \((.+?)\.\.(.+?)\)", cell)
    assert m, cell
    for text_value, value in zip(m.groups(), (expected,) + tuple(bounds)):
        close(text_value, value)


# ---------------------------------------------------------------------------------------------
# Tests


def test_csv_rows_equal_shootdown_records(full_dir):
    rd, runs = full_dir
    path = report.write_csv(rd)
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == results.ROW_FIELDS
        rows = list(reader)
    order = {c["id"]: i for i, c in enumerate(rd.plan())}
    expected = shootdowns(sorted(runs, key=lambda r: order[r["id"]]))
    # platforms x reps x vCPUs x backends x workloads x pages, Linux, the failed run's 2
    assert len(rows) == len(expected) == 2 * 2 * 2 * 2 * 2 * 2 + 2 * 2 * 2 * 2 + 2
    for row, (run, rec) in zip(rows, expected):
        assert row["run_id"] == run["id"]
        assert row["backend"] == rec["backend"] and row["workload"] == rec["workload"]
        assert int(row["pages"]) == rec["pages"]
        assert int(row["vcpus"]) == run["config"]["vcpus"]
        for f, k in (("min_ns", "min"), ("p50_ns", "p50"), ("p99_ns", "p99"), ("max_ns", "max")):
            assert int(row[f]) == rec["latency_ns"][k]
        assert int(row["per_s"]) == rec["shootdowns_per_s"]
        if rec["backend"] == "linux":
            assert row["ratio_to_floor"] == "" and row["linux_flush"] == "kvm-pv"
            assert int(row["reference_p50_ns"]) == rec["reference_latency_ns"]["p50"]
            assert int(row["shootdown_cost_p50_ns"]) == rec["shootdown_cost_ns_p50"]
            flush_ns, flush_cycles = rec["linux_flush_ns"], rec["linux_flush_cycles"]
            assert (int(row["linux_flush_p50_ns"]), int(row["linux_flush_p99_ns"])) == \
                (flush_ns["p50"], flush_ns["p99"])
            assert [int(row["linux_flush_p50_ci_low_ns"]),
                    int(row["linux_flush_p50_ci_high_ns"])] == flush_ns["p50_ci"]
            assert int(row["linux_flush_p50_cycles"]) == flush_cycles["p50"]
            assert int(row["linux_flush_calls"]) == rec["linux_flush_calls"]
            assert row["linux_flush_paths"] == (f"native_flush_tlb_multi={ITERS};"
                                                f"kvm_flush_tlb_multi={ITERS};"
                                                f"hyperv_flush_tlb_multi=0")
            assert row["linux_flush_unavailable"] == ""
        else:
            assert float(row["ratio_to_floor"]) == rec["ratio_to_ipi_floor_p50"]
            assert all(row[f] == "" for f in results.ROW_FIELDS if f.startswith("linux_flush"))
        assert int(row["violations"]) == rec["oracle"]["stale_reads"]
        # detection, straight from the record
        det = rec["detection"]
        assert row["detection"] == det["status"]
        assert row["detection_by"] == (det["by"] or "")
        assert row["detection_reason"] == (det["reason"] or "")
        assert int(row["opportunities"]) == rec["oracle"]["opportunities"]
        if det["canary"] is None:
            assert row["canary_violations"] == ""
        else:
            assert int(row["canary_violations"]) == det["canary"]["violations"]
        if rec["backend"] == "linux":
            assert (row["detection"], row["detection_reason"]) == \
                ("not shown", "the Linux peer has no oracle")


def test_aggregate_medians_and_spread():
    rows = [{"guest": "tlbstorm", "platform": "kvm", "firmware": "direct", "vcpus": 2,
             "overcommit": 1.0, "backend": "ipi", "workload": "remap", "pages": 1, "rep": r,
             "p50_ns": p50, "p99_ns": p50 * 2, "max_ns": p50 * 9, "per_s": 1000 - p50,
             "ratio_to_floor": p50 / 100, "violations": v, "status": "ok", "equivalent": "remap"}
            for r, (p50, v) in enumerate([(100, 0), (130, 2), (110, 0)])]
    rows.append(dict(rows[0], vcpus=4))
    aggs = scenarios.aggregate(rows)
    assert [a["vcpus"] for a in aggs] == [2, 4]
    a = aggs[0]
    assert a["n"] == 3 and a["p50_ns"] == 110 and a["p99_ns"] == 220 and a["max_ns"] == 990
    assert a["per_s"] == 890 and a["ratio_to_floor"] == pytest.approx(1.1)
    assert (a["p50_min"], a["p50_max"]) == (100, 130)
    assert a["p50_spread"] == pytest.approx(30 / 110)
    assert a["violations"] == 2
    assert aggs[1]["n"] == 1 and aggs[1]["p50_spread"] is None


def test_summary_agrees_with_records(full_dir):
    rd, runs = full_dir
    out = report.write_reports(rd)
    text = out["summary"].read_text()
    assert text.startswith("# tlbstorm benchmark: smoke-matrix\n")
    assert "2026-12-01" in text
    host = section(text, "Host")
    for v in ("AMD EPYC 7B13", "QEMU emulator version 7.2.5", "v0.9-12-gabcdef0",
              "6.1.0-13-amd64", "16 online", "KVM device: yes"):
        assert v in host, v

    outcomes = section(text, "Runs")
    assert f"{len(runs)} runs finished of {len(runs) + 1} planned" in outcomes
    assert "1 planned run has no result yet" in outcomes
    bad = {r["run"].strip("`"): r for r in md_table(outcomes, "run")}
    assert set(bad) == {"tlbstorm-hvlab-direct-v8-o1-r0", "tlbstorm-kvm-direct-v8-o1-r0"}
    assert bad["tlbstorm-kvm-direct-v8-o1-r0"]["outcome"] == "timeout"
    assert "QEMU killed after 300 s" in bad["tlbstorm-kvm-direct-v8-o1-r0"]["reason"]

    # The main table: one row per scenario key, medians of the repetitions' records.
    table = md_table(section(text, "Shootdown latency (median of repetitions)"), "guest")
    groups = {}
    for run, rec in shootdowns(runs):
        key = (run["config"]["guest"], run["config"]["platform"], str(run["config"]["vcpus"]),
               rec["backend"], rec["workload"], str(rec["pages"]))
        groups.setdefault(key, []).append(rec)
    assert len(table) == len(groups)
    for row in table:
        recs = groups[(row["guest"], row["platform"], row["vCPUs"], row["backend"],
                       row["workload"], row["pages"])]
        assert int(row["reps"]) == len(recs)
        close(row["p50"], statistics.median(r["latency_ns"]["p50"] for r in recs))
        close(row["p99"], statistics.median(r["latency_ns"]["p99"] for r in recs))
        assert int(row["per s"].replace(",", "")) == round(
            statistics.median(r["shootdowns_per_s"] for r in recs))
        stale = sum(r["oracle"]["stale_reads"] for r in recs)
        if stale:
            assert row["stale"] == f"**⚠ {stale} STALE**"
        else:
            assert row["stale"] == "0"
        if row["guest"] == "linux":
            assert row["x floor"] == "—"
        else:
            ratio = statistics.median(r["ratio_to_ipi_floor_p50"] for r in recs)
            assert row["x floor"] == f"{ratio:.2f}x"
        if row["guest"] == "linux":
            assert row["detection"] == "not shown: the Linux peer has no oracle"
        else:
            assert row["detection"] == "shown (canary)"
        if len(recs) > 1:
            p50s = [r["latency_ns"]["p50"] for r in recs]
            spread = (max(p50s) - min(p50s)) / statistics.median(p50s)
            assert row["p50 spread"].startswith(f"{spread * 100:.1f}%")
    assert "CORRECTNESS: 2 scenarios saw stale-TLB violations (6 in all)" in text
    # Only the Linux peer's scenarios do not show detection, and that is expected.
    assert "did not show detection" not in text and "pass, detection not shown" not in text

    # tlbstorm vs Linux: kvm only, every tlbstorm backend next to Linux's equivalent operation.
    cmp_rows = md_table(section(text, "tlbstorm vs Linux"), "platform")
    assert len(cmp_rows) == 2 * 2 * 2 * 2      # backends x workloads x pages x vCPUs
    assert {r["platform"] for r in cmp_rows} == {"kvm"}
    for row in cmp_rows:
        wl, op = row["workload"].split(" / ")
        assert LINUX_OPS[wl] == op
        t = groups[("tlbstorm", "kvm", row["vCPUs"], row["tlbstorm backend"], wl, row["pages"])]
        lx = groups[("linux", "kvm", row["vCPUs"], "linux", op, row["pages"])]
        t50 = statistics.median(r["latency_ns"]["p50"] for r in t)
        cost = statistics.median(r["shootdown_cost_ns_p50"] for r in lx)
        mt = statistics.median(r["latency_ns"]["p50"] for r in lx)
        # The headline: tlbstorm's in-scenario figure beside Linux's in-kernel flush.
        close_interval(row["tlbstorm p50 (~95% CI)"], t50, envelope(r["latency_ns"] for r in t))
        assert row["tlbstorm x null"] == \
            f"{statistics.median(r['ratio_to_null_p50'] for r in t):.2f}x"
        flush = statistics.median(r["linux_flush_ns"]["p50"] for r in lx)
        close_interval(row["Linux flush p50 (in kernel)"], flush,
                       envelope(r["linux_flush_ns"] for r in lx))
        assert row["tlbstorm / Linux"] == f"{t50 / flush:.2f}x"
        # The system call's figures beside it, as context.
        close(row["Linux MT p50"], mt)
        close(row["Linux ST p50"], statistics.median(r["reference_latency_ns"]["p50"] for r in lx))
        close(row["Linux cost (MT - ST)"], cost)
        assert row["tlbstorm / Linux cost"] == f"{t50 / cost:.2f}x"
        assert row["tlbstorm / Linux MT"] == f"{t50 / mt:.2f}x"
        assert row["Linux mechanism"] == "kvm-pv"
        assert row["tlbstorm detection"] == "shown (canary)"
    assert "Linux flushed remote TLBs with: kvm: kvm-pv." in text
    assert peer.FALLBACK not in text and "Linux's flush was not measured in" not in text

    floor = md_table(section(text, "Ratio to the IPI floor"), "platform")
    assert {(r["platform"], r["backend"]) for r in floor} == {
        ("kvm", "ipi"), ("kvm", "kvm-flush"), ("hvlab", "ipi"), ("hvlab", "hv-flush")}
    assert all(r["pages"] == "1" for r in floor)
    # The failed run's stale scenario is flagged, not silently mixed in.
    hv_ipi = [r for r in floor if (r["platform"], r["backend"], r["workload"])
              == ("hvlab", "ipi", "remap")][0]
    assert hv_ipi["8 vCPUs"].endswith("⚠") and not hv_ipi["4 vCPUs"].endswith("⚠")

    # Every plot embedded, with a caption line.
    for p in out["plots"]:
        assert f"](plots/{p.name})" in text
    assert "results.csv" in text and "records.jsonl" in text


NO_TRACER = "no function_graph tracer (available_tracers: nop)"
NO_TRACEFS = "tracefs on /sys/kernel/tracing has no tracing_on"


def test_linux_flush_not_measured_falls_back(tmp_path):
    """Where the Linux peer could not trace its flush, the headline says why and falls back to
    the system call's cost, labelled so; where only some repetitions traced it, it is their
    flush, and the cell says in how many. results.csv keeps the reason."""
    rng = random.Random(5)
    rd = results.ResultsDir(tmp_path / "untraced")
    plan = [config("tlbstorm", "kvm", 2, 0), config("linux", "kvm", 2, 0),
            config("tlbstorm", "kvm", 4, 0), config("linux", "kvm", 4, 0),
            config("linux", "kvm", 4, 1)]
    rd.create("", ".toml", plan, HOST)
    recs = {c["id"]: tlbstorm_records(rng, "kvm", c["vcpus"], backends=["ipi"],
                                      workloads=["remap"]) for c in plan[0::2]}
    recs[plan[1]["id"]] = linux_records(rng, "kvm", 2, unavailable=NO_TRACER)
    recs[plan[3]["id"]] = linux_records(rng, "kvm", 4)
    recs[plan[4]["id"]] = linux_records(rng, "kvm", 4, unavailable=NO_TRACEFS)
    for c in plan:
        rd.save_run(run_dict(c, "pass", recs[c["id"]]))
    out = report.write_reports(rd)
    text = section(out["summary"].read_text(), "tlbstorm vs Linux")

    def of(run_id, pages):
        return next(r for r in recs[run_id] if r["record"] == "shootdown"
                    and r["pages"] == int(pages) and r.get("equivalent", r["workload"]) == "remap")
    rows = md_table(text, "platform")
    assert sorted((r["vCPUs"], r["pages"]) for r in rows) == [
        ("2", "1"), ("2", "64"), ("4", "1"), ("4", "64")]
    for row in rows:
        v2 = row["vCPUs"] == "2"
        t = of(plan[0 if v2 else 2]["id"], row["pages"])
        t50 = t["latency_ns"]["p50"]
        close_interval(row["tlbstorm p50 (~95% CI)"], t50, t["latency_ns"]["p50_ci"])
        if v2:
            lx = of(plan[1]["id"], row["pages"])
            cost = lx["shootdown_cost_ns_p50"]
            assert row["Linux flush p50 (in kernel)"] == f"not measured: {NO_TRACER}"
            assert row["tlbstorm / Linux"] == f"{t50 / cost:.2f}x ({peer.FALLBACK})"
            assert row["tlbstorm / Linux cost"] == f"{t50 / cost:.2f}x"
        else:
            flush = of(plan[3]["id"], row["pages"])["linux_flush_ns"]
            cell = row["Linux flush p50 (in kernel)"]
            assert cell.endswith(" (measured in 1 of 2 reps)"), cell
            close_interval(cell.removesuffix(" (measured in 1 of 2 reps)"), flush["p50"],
                           flush["p50_ci"])
            assert row["tlbstorm / Linux"] == f"{t50 / flush['p50']:.2f}x"
    assert ("**Linux's flush was not measured in 2 of 4 rows: their tlbstorm / Linux is the "
            f"system call's figure ({peer.FALLBACK}).**") in text

    with open(out["csv"], newline="") as f:
        csv_rows = [r for r in csv.DictReader(f) if r["run_id"] == plan[1]["id"]]
    assert len(csv_rows) == 4
    for r in csv_rows:
        assert r["linux_flush_unavailable"] == NO_TRACER
        assert (r["linux_flush_p50_ns"], r["linux_flush_p50_cycles"], r["linux_flush_calls"],
                r["linux_flush_paths"]) == ("", "", "0", "")


def test_flush_and_headline_cells():
    """The cells on their own: no reason at all, a non-positive system-call cost, and several
    repetitions' reasons."""
    lx = {"linux_flush_p50_ns": None, "linux_flush_unavailable": [], "n": 1,
          "shootdown_cost_p50_ns": -300, "p50_ns": 5000, "reference_p50_ns": 5300}
    t = {"p50_ns": 2000}
    assert peer.flush_cell(lx) == "not measured"
    assert peer.headline_cell(t, lx) == f"— (cost ≤ 0; {peer.FALLBACK})"
    lx.update(shootdown_cost_p50_ns=None, reference_p50_ns=1000,
              linux_flush_unavailable=[NO_TRACER, NO_TRACEFS])
    assert peer.flush_cell(lx) == f"not measured: {NO_TRACER}; {NO_TRACEFS}"
    assert peer.headline_cell(t, lx) == f"0.50x ({peer.FALLBACK})"
    lx.update(linux_flush_p50_ns=800, linux_flush_p50_ci_low_ns=None,
              linux_flush_p50_ci_high_ns=None, linux_flush_measured=1)
    assert peer.flush_cell(lx) == "800 ns" and peer.headline_cell(t, lx) == "2.50x"


def test_aggregate_intervals_and_flush_trace():
    """Across repetitions: the p50 intervals' envelope, the flush's median over the repetitions
    that measured it, and the others' reasons (tlbstorm's scenarios have none)."""
    base = {"guest": "linux", "platform": "tcg", "firmware": "direct", "vcpus": 2,
            "overcommit": 1.0, "backend": "linux", "workload": "madvise", "pages": 1,
            "status": "ok"}
    rows = [dict(base, rep=0, p50_ns=900, p50_ci_low_ns=850, p50_ci_high_ns=990,
                 linux_flush_p50_ns=300, linux_flush_p50_ci_low_ns=280,
                 linux_flush_p50_ci_high_ns=330),
            dict(base, rep=1, p50_ns=1000, p50_ci_low_ns=930, p50_ci_high_ns=1100,
                 linux_flush_p50_ns=340, linux_flush_p50_ci_low_ns=320,
                 linux_flush_p50_ci_high_ns=350),
            dict(base, rep=2, p50_ns=950, p50_ci_low_ns=900, p50_ci_high_ns=1000,
                 linux_flush_unavailable=NO_TRACER),
            dict(base, rep=3, p50_ns=960, p50_ci_low_ns=910, p50_ci_high_ns=1010,
                 linux_flush_unavailable=NO_TRACER)]
    (a,) = scenarios.aggregate(rows)
    assert (a["p50_ci_low_ns"], a["p50_ci_high_ns"]) == (850, 1100)
    assert a["linux_flush_p50_ns"] == 320 and a["linux_flush_measured"] == 2
    assert (a["linux_flush_p50_ci_low_ns"], a["linux_flush_p50_ci_high_ns"]) == (280, 350)
    assert a["linux_flush_unavailable"] == [NO_TRACER]
    (t,) = scenarios.aggregate([dict(r, guest="tlbstorm", backend="ipi") for r in rows[2:]])
    assert t["linux_flush_unavailable"] == [] and t["linux_flush_p50_ns"] is None
    assert peer.flush_cell(a) == "320 ns (280 ns..350 ns) (measured in 2 of 4 reps)"


def test_pass_without_detection_shown(tmp_path):
    """A pass whose scenarios did not all show detection is presented as "pass, detection not
    shown" (runs line, runs table with the reasons), its scenarios say why in the detection
    column and in results.csv; records of an older kernel without detection make their run
    invalid (test_records.py has more of that)."""
    rng = random.Random(99)
    rd = results.ResultsDir(tmp_path / "det")
    plan = [config("tlbstorm", "kvm", v, 0) for v in (2, 4)] + [config("tlbstorm", "hvlab", 2, 0)]
    rd.create("", ".toml", plan, HOST)
    beyond = "range beyond the largest size shown (16 pages)"
    recs = tlbstorm_records(rng, "kvm", 2, backends=["ipi"], workloads=["remap"],
                            not_shown={64: beyond})
    recs.append({"record": "verdict", "verdict": "pass", "code": 0, "detection": "not shown"})
    not_shown = run_dict(plan[0], "pass", recs)
    not_shown["detection"] = "not shown"            # what runner.boot keeps from RunResult
    rd.save_run(not_shown)
    # A result.json from before runner kept `detection`: the verdict record says it.
    recs = tlbstorm_records(rng, "kvm", 4, backends=["ipi"], workloads=["remap"],
                            not_shown={1: "no canary (canary=0)", 64: "no canary (canary=0)"})
    recs.append({"record": "verdict", "verdict": "pass", "code": 0, "detection": "not shown"})
    rd.save_run(run_dict(plan[1], "pass", recs))
    # An older kernel: no detection in any record, no claim.
    recs = legacy(tlbstorm_records(rng, "hvlab", 2, backends=["ipi"], workloads=["remap"]))
    recs.append({"record": "verdict", "verdict": "pass", "code": 0})
    rd.save_run(run_dict(plan[2], "pass", recs))

    assert [results.outcome_label(r) for r in rd.runs()] == [
        "pass, detection not shown", "pass, detection not shown", "pass, records invalid"]
    out = report.write_reports(rd)
    text = out["summary"].read_text()
    runs_part = section(text, "Runs")
    assert ("3 runs finished of 3 planned: 2 pass, detection not shown; 1 pass, records "
            "invalid.") in runs_part
    listed = {r["run"].strip("`"): r for r in md_table(runs_part, "run")}
    assert set(listed) == {plan[0]["id"], plan[1]["id"], plan[2]["id"]}
    assert listed[plan[2]["id"]]["reason"].startswith("invalid record: bench (#2) record: "
                                                       "field 'observe': 'observe' is a required "
                                                       "property (written by an older tlbstorm?")
    assert listed[plan[0]["id"]]["outcome"] == "pass, detection not shown"
    assert listed[plan[0]["id"]]["reason"] == f"detection not shown: {beyond} (ipi remap 64p)"
    assert listed[plan[1]["id"]]["reason"] == \
        "detection not shown: no canary (canary=0) (ipi remap 1p, ipi remap 64p)"

    main = section(text, "Shootdown latency (median of repetitions)")
    assert "**3 tlbstorm scenarios did not show detection" in main
    cells = {(r["platform"], r["vCPUs"], r["pages"]): r["detection"]
             for r in md_table(main, "guest")}
    assert cells == {("kvm", "2", "1"): "shown (canary)",
                     ("kvm", "2", "64"): f"not shown: {beyond}",
                     ("kvm", "4", "1"): "not shown: no canary (canary=0)",
                     ("kvm", "4", "64"): "not shown: no canary (canary=0)"}

    with open(out["csv"], newline="") as f:
        rows = {(r["run_id"], r["pages"]): r for r in csv.DictReader(f)}
    r = rows[(plan[0]["id"], "64")]
    assert (r["detection"], r["detection_by"], r["detection_reason"], r["canary_violations"]) \
        == ("not shown", "", beyond, "0")
    r = rows[(plan[0]["id"], "1")]
    assert (r["detection"], r["detection_by"], r["detection_reason"]) == ("shown", "canary", "")
    assert int(r["canary_violations"]) == 37 and int(r["opportunities"]) == 2700
    assert not any(run_id == plan[2]["id"] for run_id, _ in rows)    # invalid: left out


def test_detection_across_repetitions():
    """Shown in one repetition and not in the other: the cell says how many did not."""
    base = {"guest": "tlbstorm", "platform": "tcg", "firmware": "direct", "vcpus": 2,
            "overcommit": 1.0, "backend": "ipi", "workload": "remap", "pages": 64,
            "p50_ns": 100, "status": "ok", "violations": 0}
    rows = [dict(base, rep=0, detection="shown", detection_by="canary"),
            dict(base, rep=1, detection="not shown", detection_reason="the canary's missing "
                 "flush was not seen"),
            dict(base, rep=2, detection="shown", detection_by="canary")]
    (a,) = scenarios.aggregate(rows)
    assert a["not_shown"] == 1
    assert cells.detection_cell(a) == \
        "not shown ×1 of 3: the canary's missing flush was not seen"
    (a,) = scenarios.aggregate([rows[0], dict(rows[0], rep=1, detection_by="control")])
    assert cells.detection_cell(a) == "shown (canary/control)"


def test_plots_are_valid_pngs(full_dir):
    rd, _ = full_dir
    made = plots.write_plots(rd)
    names = sorted(p.name for p in made)
    per_platform = [k for k in plots.PLOT_KINDS if k != "pv_ratio"]
    # pv_ratio: one plot for the directory, only with PV beside ipi at 2 or more overcommits.
    oc = any(len(s.levels) >= 2 for s in shape.series(results.scenario_rows(rd.runs())))
    assert names == sorted([f"{k}-{p}.png" for k in per_platform for p in ("kvm", "hvlab")]
                           + (["pv_ratio-all.png"] if oc else []))
    for p in made:
        assert p.parent == rd.path / "plots"
        assert_png(p)


def test_records_jsonl_and_return_value(full_dir):
    rd, runs = full_dir
    out = report.write_reports(rd)
    n = sum(len(r["records"]) for r in runs)
    assert out["records"] == n
    assert len(out["records_jsonl"].read_text().splitlines()) == n
    assert out["csv"].is_file() and out["summary"].is_file()


def test_empty_results_dir(tmp_path):
    rd = results.ResultsDir(tmp_path / "empty")
    rd.create("", ".toml", [], {})
    out = report.write_reports(rd)
    assert out["plots"] == [] and out["records"] == 0
    assert out["csv"].read_text().strip() == ",".join(results.ROW_FIELDS)
    text = out["summary"].read_text()
    assert "0 runs finished" in text and "No scenario results yet." in text
    assert "# tlbstorm benchmark: empty" in text


def test_not_even_created(tmp_path):
    rd = results.ResultsDir(tmp_path / "nothing")
    out = report.write_reports(rd)
    assert out["summary"].is_file() and out["plots"] == []


def test_only_failed_runs_without_records(tmp_path):
    rd = results.ResultsDir(tmp_path / "failed")
    plan = [config("tlbstorm", "kvm", 2, 0), config("tlbstorm", "kvm", 4, 0)]
    rd.create("{}", ".json", plan, HOST)
    rd.save_run(run_dict(plan[0], "error", [], error="qemu-system-x86_64: not found", status=7))
    r = run_dict(plan[1], "unavailable", [], summary_line="run: platform kvm unavailable "
                 "(/dev/kvm missing)")
    rd.save_run(r)
    out = report.write_reports(rd)
    text = out["summary"].read_text()
    assert "qemu-system-x86_64: not found" in text
    assert "platform kvm unavailable (/dev/kvm missing)" in text
    assert out["plots"] == []


def test_partial_data_skips_empty_plots(tmp_path):
    """One platform, one vCPU count, one range size, no histograms, no floor: only the
    latency-vs-vCPUs plot has something to show."""
    rng = random.Random(7)
    rd = results.ResultsDir(tmp_path / "partial")
    c = config("tlbstorm", "kvm", 2, 0)
    rd.create("", ".toml", [c], HOST)
    recs = [r for r in tlbstorm_records(rng, "kvm", 2, backends=["ipi"], workloads=["remap"])
            if r["record"] not in ("latency_hist", "ipi_floor")]
    recs = [r for r in recs if r.get("pages", 1) == 1]
    for r in recs:
        if r["record"] == "shootdown":
            r["ratio_to_ipi_floor_p50"] = None
    rd.save_run(run_dict(c, "pass", recs))
    out = report.write_reports(rd)
    assert [p.name for p in out["plots"]] == ["latency_vs_vcpus-kvm.png"]
    assert_png(out["plots"][0])
    assert "## Ratio to the IPI floor" not in out["summary"].read_text()


def test_without_matplotlib(full_dir, monkeypatch):
    rd, _ = full_dir
    monkeypatch.setattr(plots, "plt", None)     # as when `import matplotlib` failed
    monkeypatch.setattr(plots, "MISSING", "matplotlib is not available (No module named x)")
    out = report.write_reports(rd)
    assert out["plots"] == []
    assert "Plots skipped: matplotlib is not available" in out["summary"].read_text()


def test_fmt_ns_round_trip():
    for ns, text in ((512, "512 ns"), (1234, "1.23 µs"), (12345, "12.3 µs"), (123456, "123 µs"),
                     (1234567, "1235 µs"), (None, "—")):
        assert cells.fmt_ns(ns) == text
        if ns is not None:
            close(text, ns)


def test_records_with_missing_fields(tmp_path):
    """Hand-edited or truncated records: a shootdown without latencies, pages or env, a
    histogram without its shootdown. The run is marked invalid with the first record's reason
    (its kind and field), its scenarios are left out, and the report is not a traceback."""
    rd = results.ResultsDir(tmp_path / "odd")
    c = config("tlbstorm", "kvm", 2, 0)
    rd.create("", ".toml", [c], HOST)
    recs = [{"record": "shootdown", "scenario": 0, "backend": "ipi", "workload": "remap"},
            {"record": "shootdown", "scenario": 1, "backend": "ipi", "workload": "remap",
             "pages": 1, "status": "ok", "latency_ns": {"p50": 900}},
            {"record": "latency_hist", "scenario": 7, "of": "latency", "buckets": [[5, 5, 1]]}]
    rd.save_run(run_dict(c, "no-verdict", recs))
    out = report.write_reports(rd)
    text = out["summary"].read_text()
    assert "no-verdict, records invalid" in text
    assert "invalid record: shootdown (#0) record: field 'pages': 'pages' is a required " \
        "property" in section(text, "Runs")
    assert "**⚠ 1 run has a record that does not match docs/records.schema.json" in text
    assert len(out["csv"].read_text().splitlines()) == 1
    assert out["plots"] == [] and [r["id"] for r in out["invalid"]] == [c["id"]]
