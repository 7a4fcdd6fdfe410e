"""The kernel's case lines (docs/records.md, "Case lines"): their ids made from records the way
the kernel makes them, and the ids a boot must print, from its `bench` record.

A scenario's id is shootdown.<backend>.<workload>.<pages>p, then .<field>-<value> for each other
list option (ack, inflight, targets) that the boot was given more than one value of; a
self-test's is selftest.<name>, a conformance check's conformance.<check>.<form>. Each run of
characters outside [a-z0-9._-] becomes one '-', and none ends an id."""

from __future__ import annotations

import itertools
import re
from typing import Dict, Iterable, List, Optional, Tuple

from . import records
import tlbrun  # scripts/ is on the path (scripts/bench, pytest.ini)

CASE_RECORDS = tlbrun.CASE_RECORDS  # the records that have a case line

# The bench record's lists beyond backend, workload and pages, and the shootdown record's field
# each drives, in the kernel's option-table order (the order of the id's suffixes).
SUFFIX_LISTS = (("acks", "ack"), ("inflights", "inflight"), ("targets", "targets"))
# Backend choices the kernel resolves at boot (bench/bench.c resolve_backends).
RESOLVED_AT_BOOT = ("auto", "all")
_UNSAFE = re.compile(r"[^a-z0-9._-]+")


def clean(cid: str) -> str:
    """As the kernel writes ids: lower-case, each run of other characters one '-', none last."""
    return _UNSAFE.sub("-", cid.lower()).rstrip("-")


def _multi(bench: Optional[records.Record]) -> List[tuple]:
    """(list, field) of the suffix lists this boot had more than one value of."""
    if bench is None:
        return []
    return [(name, field) for name, field in SUFFIX_LISTS if len(_list(bench, name)) > 1]


def _list(bench: records.Record, name: str) -> list:
    """One of the suffix lists ([] where an older kernel's record has none)."""
    value = bench.data.get(name)
    return list(value) if isinstance(value, list) else []


def scenario_id(backend: str, workload: str, pages: int, suffix: Dict[str, object]) -> str:
    return clean(f"shootdown.{backend}.{workload}.{pages}p" +
                 "".join(f".{f}-{v}" for f, v in suffix.items()))


def product_ids(backends: Iterable[str], workloads: list, pages: list,
                suffix: List[Tuple[str, list]]) -> List[str]:
    """Every scenario id of these lists in the kernel's order: backends outermost, then workloads,
    pages and the (field, values) suffix lists, the last varying fastest."""
    fields = [f for f, _ in suffix]
    return [scenario_id(b, w, p, dict(zip(fields, rest))) for b in backends
            for w, p, *rest in itertools.product(workloads, pages, *(v for _, v in suffix))]


def case_id(rec: records.Record, bench: Optional[records.Record] = None) -> str:
    """The id of the case line a shootdown, selftest or conformance record has."""
    if rec.kind == "selftest":
        return clean(f"selftest.{rec['name']}")
    if rec.kind == "conformance":
        return clean(f"conformance.{rec['check']}.{rec['form']}")
    return scenario_id(rec["backend"], rec["workload"], rec["pages"],
                       {f: rec[f] for _, f in _multi(bench)})


def expected_ids(recs: Iterable[records.Record], cases: Iterable[dict] = ()) -> List[str]:
    """The scenario ids a benchmark boot must print, in its order: every combination of the bench
    record's lists. Backends the kernel picks at boot (auto, all) are those its records and case
    lines name. [] without a bench record (self-tests and conformance: the boot lists them)."""
    recs = list(recs)
    bench = records.first(recs, "bench")
    if bench is None:
        return []
    seen = [r["backend"] for r in recs if r.kind == "shootdown"] + \
        [c["id"].split(".")[1] for c in cases if c.get("id", "").startswith("shootdown.")]
    backends: List[str] = []
    for b in records.bench_list(bench, "backends"):
        for name in (dict.fromkeys(seen) if b in RESOLVED_AT_BOOT else [b]):
            if name not in backends:
                backends.append(name)
    return product_ids(backends, records.bench_list(bench, "workloads"),
                       records.bench_list(bench, "pages"),
                       [(f, _list(bench, name)) for name, f in _multi(bench)])


def missing(expected: Iterable[str], cases: Iterable[dict]) -> List[str]:
    """The expected ids no case line has."""
    have = {c.get("id") for c in cases}
    return [e for e in expected if e not in have]
