"""The paravirtual effect's shape (docs/bench.md, "The paravirtual effect against overcommit").

What the published cases show, in shape rather than in time: a paravirtual flush (Hyper-V's
hypercalls, KVM's steal-time flush) costs about what IPIs cost when every vCPU has a host CPU,
and wins more the more vCPUs share each host CPU, because it does not wait for a vCPU that is
not running. For every paravirtual backend measured beside `ipi` in the same boots, this takes
the ratio PV / IPI of one percentile per boot (the same scenario but its backend, so like with
like and free of the host's drift between boots), groups the boots by effective overcommit
(vCPUs per host CPU; in the lab, per outer vCPU) and judges:

- at 1x the ratio is about 1: its interval meets [1 / (1 + tolerance), 1 + tolerance];
- the ratio does not grow with overcommit: no level's interval lies wholly above the previous
  level's, and the highest level's lies wholly below the lowest's;
- the goal (reported, not judged): at 4x and above, p99's ratio at most 0.1.

A level's interval is the envelope of its boots' ratio intervals, each from the two
percentiles' confidence intervals (PV low / IPI high to PV high / IPI low), so it is wide when
the data are. A series holds, fails, or cannot tell (too few levels, no intervals, no 1x level,
or a difference inside the noise). Pure functions of scenario rows (results.scenario_rows)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from .scenarios import SCENARIO_KEY

IPI = "ipi"
METRICS = ("p99", "p50")
TOLERANCE = 0.2      # "about 1" at 1x: the interval meets [1/1.2, 1.2]
GOAL_RATIO = 0.1     # the goal: PV p99 at most 0.1x IPI's at 4x overcommit
GOAL_OVERCOMMIT = 4.0
HOLDS, FAILS, CANNOT_TELL = "holds", "fails", "cannot tell"
# A series: one PV backend's scenario, every key field but the backend and the overcommit.
SERIES_KEY = tuple(k for k in SCENARIO_KEY if k not in ("backend", "vcpus", "overcommit"))


@dataclass
class Level:
    """One overcommit level of a series: the per-boot (ratio, low, high) and their envelope
    (None unless every boot has an interval)."""
    overcommit: float
    boots: List[Tuple[float, Optional[float], Optional[float]]] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return statistics.median(r for r, _, _ in self.boots)

    @property
    def low(self) -> Optional[float]:
        lows = [lo for _, lo, _ in self.boots]
        return None if None in lows else min(lows)

    @property
    def high(self) -> Optional[float]:
        highs = [hi for _, _, hi in self.boots]
        return None if None in highs else max(highs)


@dataclass
class Series:
    key: Dict[str, object]
    backend: str
    metric: str
    levels: List[Level]
    verdict: str = CANNOT_TELL
    reasons: List[str] = field(default_factory=list)
    goal: Optional[bool] = None   # None: no level at GOAL_OVERCOMMIT or above (or metric p50)


def _valid(row: dict) -> bool:
    return row.get("status") == "ok" and not row.get("violations") and not row.get("watchdog")


def _ratio(pv: dict, ipi: dict, metric: str) -> Tuple[Optional[float], Optional[float], Optional[float]]:
    """(ratio, low, high) of one boot; None where a number is missing or zero."""
    p, i = pv.get(f"{metric}_ns"), ipi.get(f"{metric}_ns")
    if not p or not i:
        return None, None, None
    plo, phi = pv.get(f"{metric}_ci_low_ns"), pv.get(f"{metric}_ci_high_ns")
    ilo, ihi = ipi.get(f"{metric}_ci_low_ns"), ipi.get(f"{metric}_ci_high_ns")
    if None in (plo, phi, ilo, ihi) or not ilo or not ihi:
        return p / i, None, None
    return p / i, plo / ihi, phi / ilo


def _overcommit(row: dict) -> float:
    oc = row.get("effective_overcommit") or row.get("overcommit") or 1.0
    return round(float(oc), 3)


def series(rows: Iterable[dict], metric: str = "p99") -> List[Series]:
    """Every PV backend's series against `ipi` in the same boots (rows of valid scenarios)."""
    by_boot: Dict[tuple, Dict[str, dict]] = {}
    for r in rows:
        if r.get("guest") != "tlbstorm" or not _valid(r):
            continue
        k = (r["run_id"],) + tuple(r.get(f) for f in SERIES_KEY)
        by_boot.setdefault(k, {})[r["backend"]] = r
    out: Dict[tuple, Series] = {}
    for k, backends in by_boot.items():
        ipi = backends.get(IPI)
        if ipi is None:
            continue
        for name, pv in backends.items():
            if name == IPI:
                continue
            ratio, low, high = _ratio(pv, ipi, metric)
            if ratio is None:
                continue
            sk = (name,) + k[1:]
            s = out.setdefault(sk, Series(dict(zip(SERIES_KEY, k[1:])), name, metric, []))
            oc = _overcommit(pv)
            lv = next((lv for lv in s.levels if lv.overcommit == oc), None)
            if lv is None:
                lv = Level(oc)
                s.levels.append(lv)
            lv.boots.append((ratio, low, high))
    for s in out.values():
        s.levels.sort(key=lambda lv: lv.overcommit)
        judge(s)
    return sorted(out.values(), key=lambda s: (s.backend, str(s.key)))


# The Linux peer cannot switch its flush within a boot: its PV/IPI ratio is taken across boots,
# between a platform that offers the PV flush and its twin that does not (matrix.PLATFORMS).
LINUX_PAIRS = {"hvlab-kvm": "hvlab-kvm-nopv"}


def _envelope_ratio(pv: List[dict], ipi: List[dict], metric: str):
    """(ratio of medians, low, high) of Linux's in-kernel flush over boots; None when missing."""
    f = f"linux_flush_{metric}_ns"
    a, b = [r[f] for r in pv if r.get(f)], [r[f] for r in ipi if r.get(f)]
    if not a or not b:
        return None
    ratio = statistics.median(a) / statistics.median(b)
    lo_f, hi_f = f"linux_flush_{metric}_ci_low_ns", f"linux_flush_{metric}_ci_high_ns"
    pv_lo, pv_hi = [r.get(lo_f) for r in pv], [r.get(hi_f) for r in pv]
    ipi_lo, ipi_hi = [r.get(lo_f) for r in ipi], [r.get(hi_f) for r in ipi]
    if None in pv_lo + pv_hi + ipi_lo + ipi_hi or not all(ipi_lo):
        return ratio, None, None
    return ratio, min(pv_lo) / max(ipi_hi), max(pv_hi) / min(ipi_lo)


def linux_series(rows: Iterable[dict], metric: str = "p50") -> List[Series]:
    """The Linux peer's flush with the PV interface over its flush without, per overcommit
    (LINUX_PAIRS), as series of their own (label `linux`)."""
    groups: Dict[tuple, Dict[str, List[dict]]] = {}
    twin = {v: k for k, v in LINUX_PAIRS.items()}
    for r in rows:
        p = r.get("platform")
        if r.get("guest") != "linux" or not _valid(r) or (p not in LINUX_PAIRS and p not in twin):
            continue
        base = twin.get(p, p)
        k = (base, r.get("equivalent"), r.get("pages"), _overcommit(r))
        groups.setdefault(k, {}).setdefault("ipi" if p in twin else "pv", []).append(r)
    out: Dict[tuple, Series] = {}
    for (base, eq, pages, oc), g in sorted(groups.items(), key=lambda kv: str(kv[0])):
        got = _envelope_ratio(g.get("pv", []), g.get("ipi", []), metric)
        if got is None:
            continue
        s = out.setdefault((base, eq, pages), Series(
            {"platform": base, "workload": eq, "pages": pages, "targets": "spin"}, "linux",
            metric, []))
        s.levels.append(Level(oc, [got]))
    for s in out.values():
        s.levels.sort(key=lambda lv: lv.overcommit)
        judge(s)
    return list(out.values())


def judge(s: Series, tolerance: float = TOLERANCE) -> None:
    """Fill in s.verdict, s.reasons and s.goal (module docstring)."""
    lv = s.levels
    fails, unsure = [], []
    if len(lv) < 2:
        unsure.append(f"{len(lv)} overcommit level(s): at least 2 are needed")
    if any(x.low is None for x in lv):
        unsure.append("a level without a confidence interval")
    if lv and lv[0].overcommit > 1.0:
        unsure.append(f"no 1x level (the lowest is {lv[0].overcommit:g}x)")
    if not unsure:
        one = lv[0]
        if one.high < 1 / (1 + tolerance) or one.low > 1 + tolerance:
            fails.append(f"at 1x the ratio is {one.ratio:.2f} [{one.low:.2f}, {one.high:.2f}], "
                         f"not about 1 (±{tolerance:g})")
        for a, b in zip(lv, lv[1:]):
            if b.low > a.high:
                fails.append(f"the ratio grows from {a.overcommit:g}x ({a.ratio:.2f}) to "
                             f"{b.overcommit:g}x ({b.ratio:.2f}) beyond both intervals")
        if not fails and not lv[-1].high < lv[0].low:
            unsure.append(f"the ratio at {lv[-1].overcommit:g}x ({lv[-1].ratio:.2f} "
                          f"[{lv[-1].low:.2f}, {lv[-1].high:.2f}]) is not clearly below 1x's "
                          f"({lv[0].ratio:.2f} [{lv[0].low:.2f}, {lv[0].high:.2f}])")
    s.verdict = FAILS if fails else CANNOT_TELL if unsure else HOLDS
    s.reasons = fails or unsure
    top = [x for x in lv if x.overcommit >= GOAL_OVERCOMMIT]
    s.goal = None if s.metric != "p99" or not top else top[-1].ratio <= GOAL_RATIO


def overall(all_series: Sequence[Series]) -> str:
    if not all_series:
        return CANNOT_TELL
    verdicts = {s.verdict for s in all_series}
    return FAILS if FAILS in verdicts else HOLDS if verdicts == {HOLDS} else CANNOT_TELL


def _label(s: Series, varying: Sequence[str]) -> str:
    """`platform backend / ipi, workload Np` and the options that differ between series."""
    k = s.key
    opts = "" if s.backend == "linux" else " ".join(f"{f}={k[f]}" for f in varying)
    over = "its flush without PV (across boots)" if s.backend == "linux" else "ipi"
    return f"{k.get('platform')} {s.backend} / {over}, {k.get('workload')} {k.get('pages')}p" + \
        (f" {opts}" if opts else "")


def render(all_series: Sequence[Series]) -> List[str]:
    """Markdown lines: one row per series, its ratio at each level, the verdict and why."""
    if not all_series:
        return ["No paravirtual backend was measured beside `ipi` in the same boots."]
    levels = sorted({lv.overcommit for s in all_series for lv in s.levels})
    ours = [s for s in all_series if s.backend != "linux"]
    varying = [f for f in SERIES_KEY if f not in ("platform", "workload", "pages")
               and len({str(s.key.get(f)) for s in ours}) > 1 or f == "targets"]
    head = ["series", "metric"] + [f"{oc:g}x" for oc in levels] + ["shape", "goal ≤0.1 at 4x", "why"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in all_series:
        at = {lv.overcommit: lv for lv in s.levels}
        cells = [_label(s, varying), s.metric]
        for oc in levels:
            lv = at.get(oc)
            cells.append("—" if lv is None else f"{lv.ratio:.2f}" + (
                "" if lv.low is None else f" [{lv.low:.2f}, {lv.high:.2f}]"))
        goal = "—" if s.goal is None else ("met" if s.goal else "not met")
        cells += [s.verdict, goal, "; ".join(s.reasons) or "—"]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append(f"\nOverall: the shape {overall(all_series)}.")
    return lines


def section(rows: Sequence[dict]) -> List[str]:
    """summary.md's section, when some boot measured a PV backend beside ipi at 2 or more
    overcommit levels (a single level has no shape to show)."""
    found = [s for m in METRICS for s in series(rows, m) + linux_series(rows, m)]
    if not any(len(s.levels) >= 2 for s in found):
        return []
    return (["## The paravirtual effect against overcommit", "",
             "PV / IPI of each percentile in the same boots (the median over boots; in brackets "
             "the envelope of the boots' intervals from both percentiles' confidence intervals), "
             "by effective overcommit (vCPUs per host CPU; in the Hyper-V lab, per outer vCPU). "
             "The shape holds when the ratio is about 1 at 1x (within ±"
             f"{TOLERANCE:g}) and falls with overcommit beyond the intervals; "
             "`scripts/bench shape DIR` exits non-zero when it does not (docs/bench.md). Lab "
             "timings are emulated: only these within-boot ratios mean something.", ""]
            + render(found) + [""])
