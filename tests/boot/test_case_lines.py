"""Case lines end to end (docs/records.md, "Case lines"): a real boot prints one per scenario
and self-test, right after its record, with the id benchlib.cases derives from that record, the
ids a boot's bench record asks for, a skip for a backend this platform cannot use, and results
that agree with the records."""

import json

import pytest

from benchlib import cases, records
from conftest import describe

pytestmark = pytest.mark.boot


def record_case_pairs(res):
    """(record, the case line after it) for every record that has one, in serial order."""
    pairs, pending = [], None
    for line in res.lines:
        if line.startswith("TLBSTORM {"):
            rec = records.load([json.loads(line[len("TLBSTORM "):])])[0]
            if rec.kind in cases.CASE_RECORDS:
                assert pending is None, f"record without its case line before {line[:80]}"
                pending = rec
        elif line.startswith("TLBSTORM-CASE ") and pending is not None:
            pairs.append((pending, next(c for c in res.cases if c["id"] == line.split()[1])))
            pending = None
    assert pending is None, "the last record has no case line"
    return pairs


def test_bench_case_lines(built, boot):
    # Two values of ack make it part of the id; hv-flush cannot be used under plain TCG.
    res = boot(firmware="direct", smp=2, timeout=240,
               cmdline="backend=ipi,hv-flush,all workload=remap,unmap pages=1,4 ack=early,late "
                       "iters=60 warmup=5")
    assert res.verdict in ("pass", "skip"), describe(res)
    assert not [w for w in res.warnings if "case line" in w], res.warnings
    recs = records.load(res.records)
    bench = records.first(recs, "bench")
    pairs = record_case_pairs(res)
    assert len(pairs) == 8 and all(r.kind == "shootdown" for r, _ in pairs), describe(res)
    for rec, case in pairs:
        assert case["id"] == cases.case_id(rec, bench) and ".ack-" in case["id"]
        bad = rec["status"] != "ok" or rec["oracle"]["violations"] or rec["watchdog_timeouts"]
        assert case["result"] == ("fail" if bad else "pass"), (rec.data, case)
        assert (case["units"], case["measurement"]) == ("ns", rec["latency_ns"]["p50"]), case
    skipped = [c for c in res.cases if c["result"] == "skip"]
    assert [c["id"] for c in skipped] == [f"shootdown.hv-flush.{w}.{p}p.ack-{a}"
                                          for w in ("remap", "unmap") for p in (1, 4)
                                          for a in ("early", "late")]
    # Every id the bench record asks for is printed once, in the kernel's order; `all` adds
    # nothing twice.
    ids = [c["id"] for c in res.cases]
    assert len(set(ids)) == len(ids) == 16
    assert cases.expected_ids(recs, res.cases) == ids


def test_selftest_case_lines(built, boot):
    res = boot(firmware="direct", smp=2, timeout=240, cmdline="mode=selftest")
    pairs = record_case_pairs(res)
    assert pairs and all(r.kind == "selftest" for r, _ in pairs), describe(res)
    for rec, case in pairs:
        assert case["id"] == f"selftest.{rec['name']}" == cases.case_id(rec)
        assert case["result"] == {"error": "fail"}.get(rec["result"], rec["result"])
        assert (case["measurement"], case["units"]) == (rec["checks"], "checks")
    assert len(res.cases) == len(pairs)
