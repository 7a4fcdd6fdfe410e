"""The summary's "tlbstorm vs Linux": each tlbstorm scenario beside the Linux peer's equivalent
(docs/linux.md, "In the benchmark report").

The headline sets tlbstorm's in-scenario figure (its shootdown p50 with the p50's interval, and
x null) beside Linux's in-kernel one (`flush_tlb_mm_range` timed by ftrace, `linux_flush_ns`).
The system call's figures (multi-threaded, single-threaded, their difference) stay beside them
as context, and stand in for the headline, labelled so, where Linux's flush was not measured."""

from __future__ import annotations

from typing import List, Optional, Tuple

from .cells import backend_cell, detection_cell, fmt_interval, fmt_ns, fmt_num, fmt_ratio, table
from .scenarios import by_config, varying

# tlbstorm's scenario next to the Linux peer's: the same boot configuration, workload and range;
# Linux's fixed options (one initiator, one address space, range flushes, reader threads that
# spin: targets=spin) must match too, so only tlbstorm's spinning-target scenarios meet Linux
# (a halted target's wake-up is not in Linux's figure). ack, skip_flush and observe are
# tlbstorm's own: each tlbstorm scenario gets its row.
COMPARE_KEY = ("platform", "firmware", "vcpus", "overcommit", "equivalent", "pages", "full",
               "initiators", "aspaces", "targets")

COMPARE_HEADER = ["platform", "vCPUs", "overcommit", "workload", "pages", "tlbstorm backend",
                  "tlbstorm p50 (~95% CI)", "tlbstorm x null", "Linux flush p50 (in kernel)",
                  "tlbstorm / Linux", "Linux MT p50", "Linux ST p50", "Linux cost (MT - ST)",
                  "tlbstorm / Linux cost", "tlbstorm / Linux MT", "Linux mechanism",
                  "tlbstorm detection"]

# How the headline ratio says it fell back to the system call's cost.
FALLBACK = "system call MT - ST: flush not measured"


def linux_cost(lx: dict) -> Optional[float]:
    """Linux's shootdown cost as the system call shows it: the median of its reported MT - ST
    p50 differences, else the difference of the medians."""
    if lx.get("shootdown_cost_p50_ns") is not None:
        return lx["shootdown_cost_p50_ns"]
    if lx.get("p50_ns") is not None and lx.get("reference_p50_ns") is not None:
        return lx["p50_ns"] - lx["reference_p50_ns"]
    return None


def comparisons(aggs: List[dict]) -> List[Tuple[dict, dict]]:
    """(tlbstorm aggregate, Linux aggregate) pairs with equal COMPARE_KEY, in config order."""
    linux = {tuple(a[k] for k in COMPARE_KEY): a for a in aggs if a["guest"] == "linux"}
    pairs = []
    for a in by_config(aggs):
        if a["guest"] == "linux":
            continue
        lx = linux.get(tuple(a[k] for k in COMPARE_KEY))
        if lx is not None:
            pairs.append((a, lx))
    return pairs


def _div(a: Optional[float], b: Optional[float]) -> Optional[float]:
    return a / b if a is not None and b is not None and b > 0 else None


def flush_cell(lx: dict) -> str:
    """Linux's in-kernel flush p50 with its interval (and in how many repetitions, when not in
    all), else `not measured` with the peer's reasons."""
    if lx["linux_flush_p50_ns"] is None:
        reasons = lx["linux_flush_unavailable"]
        return "not measured" + (": " + "; ".join(reasons) if reasons else "")
    cell = fmt_interval(lx["linux_flush_p50_ns"], lx["linux_flush_p50_ci_low_ns"],
                        lx["linux_flush_p50_ci_high_ns"])
    if lx["linux_flush_measured"] < lx["n"]:
        cell += f" (measured in {lx['linux_flush_measured']} of {lx['n']} reps)"
    return cell


def _cost_ratio_cell(t: dict, lx: dict, why: str = "") -> str:
    """tlbstorm p50 / the system call's cost (MT - ST), with `why` in parentheses after it."""
    cost = linux_cost(lx)
    if cost is not None and cost <= 0:
        return f"— (cost ≤ 0{'; ' + why if why else ''})"
    ratio = _div(t["p50_ns"], cost)
    return fmt_ratio(ratio) + (f" ({why})" if why and ratio is not None else "")


def headline_cell(t: dict, lx: dict) -> str:
    """tlbstorm p50 / Linux's in-kernel flush p50; where the flush was not measured, tlbstorm
    p50 / the system call's cost, labelled (FALLBACK)."""
    if lx["linux_flush_p50_ns"] is None:
        return _cost_ratio_cell(t, lx, FALLBACK)
    return fmt_ratio(_div(t["p50_ns"], lx["linux_flush_p50_ns"]))


def _row(t: dict, lx: dict, options: List[str]) -> List[str]:
    return [t["platform"], str(t["vcpus"]), fmt_num(t["overcommit"]),
            f"{t['equivalent']} / {lx['workload']}", str(t["pages"]), backend_cell(t, options),
            fmt_interval(t["p50_ns"], t["p50_ci_low_ns"], t["p50_ci_high_ns"]),
            fmt_ratio(t["ratio_to_null"]), flush_cell(lx), headline_cell(t, lx),
            fmt_ns(lx["p50_ns"]), fmt_ns(lx["reference_p50_ns"]), fmt_ns(linux_cost(lx)),
            _cost_ratio_cell(t, lx), fmt_ratio(_div(t["p50_ns"], lx["p50_ns"])),
            lx["linux_flush"] or "—", detection_cell(t)]


CAPTION = (
    "Same platform, firmware, vCPUs and overcommit. **The headline**: tlbstorm's in-scenario "
    "figure beside Linux's in-kernel one. tlbstorm p50 is its shootdown latency (median of the "
    "repetitions' p50s; in parentheses the about-95% interval of p50, from the lowest to the "
    "highest bound of the repetitions'), x null that p50 over the p50 of the null shootdowns "
    "interleaved with it (the in-scenario floor). Linux flush p50 is Linux's own "
    "`flush_tlb_mm_range` inside the timed call, timed by ftrace during the measured iterations "
    "(the IPIs or hypercall and the wait for every target, with ftrace's own cost inside; "
    "docs/linux.md), with its interval the same way. tlbstorm / Linux is tlbstorm p50 over Linux "
    "flush p50: below 1x tlbstorm's shootdown is cheaper than Linux's flush. Where Linux's flush "
    "was not measured (the reason is in its cell), tlbstorm / Linux falls back to the system "
    "call's cost and says so.")

CONTEXT = (
    "Context, from the system call: Linux MT is the multi-threaded operation "
    "(madvise/mprotect/munmap with the range mapped on every CPU, so it shoots down remote "
    "TLBs), Linux ST the same operation single-threaded (no remote shootdown), Linux cost their "
    "difference (the median of the repetitions' differences): what the shootdown adds to the "
    "call, a difference of two distributions rather than a measured flush. tlbstorm / Linux cost "
    "and tlbstorm / Linux MT divide tlbstorm p50 by them.")


def section(aggs: List[dict]) -> List[str]:
    """The summary's "tlbstorm vs Linux" lines (none without a pair to compare)."""
    pairs = comparisons(aggs)
    if not pairs:
        return []
    options = varying([t for t, _ in pairs])
    lines = ["## tlbstorm vs Linux", "", CAPTION, ""]
    lines += table(COMPARE_HEADER, [_row(t, lx, options) for t, lx in pairs])
    flushes = sorted({f"{lx['platform']}: {lx['linux_flush'] or 'unknown'}" for _, lx in pairs})
    lines += ["", f"Linux flushed remote TLBs with: {'; '.join(flushes)}."]
    unmeasured = sum(1 for _, lx in pairs if lx["linux_flush_p50_ns"] is None)
    if unmeasured:
        lines += ["", f"**Linux's flush was not measured in {unmeasured} of {len(pairs)} "
                  f"rows: their tlbstorm / Linux is the system call's figure ({FALLBACK}).**"]
    return lines + ["", CONTEXT, ""]
