"""Scenarios across repetitions: the key that names one scenario, the aggregation of its
repetitions' rows (results.scenario_rows), and the order the reports list them in. The summary,
the plots and `scripts/bench compare` all group by the same key."""

from __future__ import annotations

import statistics
from typing import Dict, Iterable, List, Optional, Sequence

from .records import SCENARIO_FIELDS, WORKLOADS
from .results import NOT_SHOWN

# One boot's configuration in the matrix (repetitions aside).
RUN_KEY = ("guest", "platform", "firmware", "vcpus", "overcommit")
# The scenario's own options (the schema's "x-scenario" fields) but those that only say how
# long it ran: two records that differ in any other (ack=early,late in one boot) are two
# scenarios, never merged or compared with each other.
REPEAT_FIELDS = ("iterations", "warmup")
OPTION_FIELDS = tuple(f for f in SCENARIO_FIELDS if f not in REPEAT_FIELDS)
SCENARIO_KEY = RUN_KEY + OPTION_FIELDS
# Options with a column of their own everywhere; the others are shown where they vary.
SHOWN_OPTIONS = ("backend", "workload", "pages")
OTHER_OPTIONS = tuple(f for f in OPTION_FIELDS if f not in SHOWN_OPTIONS)
# Medians reported per scenario key.
MEDIAN_FIELDS = ("p50_ns", "p99_ns", "max_ns", "per_s", "ratio_to_floor", "ratio_to_null",
                 "null_p50_ns", "reference_p50_ns", "shootdown_cost_p50_ns", "linux_flush_p50_ns",
                 "entry_p50_cycles", "handler_p50_cycles", "seen_p50_cycles",
                 "offset_uncertainty_cycles", "refill_per_page_p50_cycles")
# (low, high) column pairs of the p50 intervals, reported per scenario key as their envelope.
INTERVAL_FIELDS = (("p50_ci_low_ns", "p50_ci_high_ns"),
                   ("linux_flush_p50_ci_low_ns", "linux_flush_p50_ci_high_ns"))
WORKLOAD_ORDER = {w: i for i, w in enumerate(WORKLOADS)}


def sort_key(value) -> tuple:
    # Keys mix None, numbers and strings; order them without comparing across types.
    if value is None:
        return (2, "")
    if isinstance(value, (int, float)):
        return (0, value)
    return (1, str(value))


def guest_order(guest: Optional[str]) -> int:
    return 0 if guest == "tlbstorm" else 1


def workload_key(w: Optional[str]) -> tuple:
    return (WORKLOAD_ORDER.get(w, len(WORKLOAD_ORDER)), w or "")


def valid(a: dict) -> bool:
    """A scenario whose numbers mean something: no stale-TLB violation, no watchdog, status ok
    in every repetition. Plots show only these (the tables show everything, flagged)."""
    return not (a["violations"] or a["watchdog"] or a["not_ok"])


def _median(values: Iterable) -> Optional[float]:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def _detection(rs: List[dict]) -> dict:
    """`not_shown` (repetitions that did not show detection), `detection_by` (what showed it,
    joined with '/'), `detection_reasons` (why not, distinct, in order of appearance)."""
    unshown = [r for r in rs if r.get("detection") == NOT_SHOWN]
    return {"not_shown": len(unshown),
            "detection_by": "/".join(sorted({str(r["detection_by"]) for r in rs
                                             if r.get("detection") != NOT_SHOWN
                                             and r.get("detection_by")})) or None,
            "detection_reasons": list(dict.fromkeys(r.get("detection_reason")
                                                    or "no reason given" for r in unshown))}


def _envelope(rs: List[dict]) -> dict:
    """Per INTERVAL_FIELDS pair, the lowest low and the highest high of the repetitions: every
    repetition's interval lies inside (one repetition: its own interval)."""
    out = {}
    for low, high in INTERVAL_FIELDS:
        lows = [r[low] for r in rs if r.get(low) is not None]
        highs = [r[high] for r in rs if r.get(high) is not None]
        out[low], out[high] = (min(lows) if lows else None), (max(highs) if highs else None)
    return out


def _flush_trace(rs: List[dict]) -> dict:
    """The Linux peer's traced flush: `linux_flush_measured` (repetitions that measured it) and
    `linux_flush_unavailable` (why the others did not, distinct, in order of appearance; empty
    for tlbstorm's scenarios)."""
    unmeasured = [r for r in rs if r.get("guest") == "linux"
                  and r.get("linux_flush_p50_ns") is None]
    return {"linux_flush_measured": sum(1 for r in rs if r.get("linux_flush_p50_ns") is not None),
            "linux_flush_unavailable": list(dict.fromkeys(r["linux_flush_unavailable"]
                                                          for r in unmeasured
                                                          if r.get("linux_flush_unavailable")))}


def _one(key: tuple, rs: List[dict]) -> dict:
    a = dict(zip(SCENARIO_KEY, key))
    a["n"] = len(rs)
    for f in MEDIAN_FIELDS:
        a[f] = _median(r.get(f) for r in rs)
    p50s = [r["p50_ns"] for r in rs if r.get("p50_ns") is not None]
    a["p50_min"] = min(p50s) if p50s else None
    a["p50_max"] = max(p50s) if p50s else None
    a["p50_spread"] = ((a["p50_max"] - a["p50_min"]) / a["p50_ns"]
                       if len(p50s) > 1 and a["p50_ns"] else None)
    a["violations"] = sum(int(r.get("violations") or 0) for r in rs)
    a["watchdog"] = sum(int(r.get("watchdog") or 0) for r in rs)
    a["not_ok"] = sum(1 for r in rs if r.get("status") != "ok")
    a["equivalent"] = rs[0].get("equivalent")
    a["effective_overcommit"] = rs[0].get("effective_overcommit")
    a["linux_flush"] = "/".join(sorted({r["linux_flush"] for r in rs
                                        if r.get("linux_flush")})) or None
    a["reps"] = sorted({r.get("rep") for r in rs}, key=sort_key)
    a["run_ids"] = [r.get("run_id") for r in rs]
    a.update(_envelope(rs))
    a.update(_flush_trace(rs))
    a.update(_detection(rs))
    return a


def aggregate(rows: Iterable[dict]) -> List[dict]:
    """One dict per scenario key (SCENARIO_KEY), in order of first appearance: the key fields,
    `n` (repetitions), medians of MEDIAN_FIELDS, the p50 spread (`p50_min`, `p50_max`,
    `p50_spread` = (max - min) / median, None with fewer than two values), total `violations`
    and `watchdog`, `not_ok` (scenarios whose status was not ok), `equivalent`, `linux_flush`
    (the mechanisms seen, joined with '/'), `reps` (the rep numbers), `run_ids`, the envelope of
    the repetitions' p50 intervals (_envelope), the Linux peer's traced flush (_flush_trace) and
    the repetitions' detection (_detection)."""
    groups: Dict[tuple, List[dict]] = {}
    for r in rows:
        groups.setdefault(tuple(r.get(k) for k in SCENARIO_KEY), []).append(r)
    return [_one(key, rs) for key, rs in groups.items()]


def by_config(aggs: List[dict]) -> List[dict]:
    """Config order: platform, guest (tlbstorm first), firmware, overcommit, vCPUs, workload,
    pages, the other options, then backend, so backends of one scenario sit next to each
    other."""
    def key(a):
        return ((sort_key(a["platform"]), guest_order(a["guest"]), sort_key(a["firmware"]),
                 sort_key(a["overcommit"]), sort_key(a["vcpus"]), workload_key(a["equivalent"]),
                 sort_key(a["pages"])) + tuple(sort_key(a[f]) for f in OTHER_OPTIONS)
                + (sort_key(a["backend"]),))
    return sorted(aggs, key=key)


def varying(items: Sequence[dict]) -> List[str]:
    """The OTHER_OPTIONS that take more than one value among the tlbstorm scenarios of items
    (the Linux peer's are fixed): the ones a table or plot must show to tell rows apart."""
    own = [a for a in items if a.get("guest") != "linux"]
    return [f for f in OTHER_OPTIONS if len({str(a.get(f)) for a in own}) > 1]


def options_text(a: dict, fields: Sequence[str]) -> str:
    """`ack=late, full=True` for the given option fields of a scenario (empty without any)."""
    return ", ".join(f"{f}={a.get(f)}" for f in fields)
