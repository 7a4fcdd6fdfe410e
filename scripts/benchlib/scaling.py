"""Scaling: what one more target, or one more page, adds to a shootdown (docs/bench.md,
"Scaling").

From the per-scenario aggregates (scenarios.aggregate: the median of the repetitions' p50s),
ordinary least-squares lines of p50_ns against targets = vCPUs - 1, for every scenario run at
3 or more vCPU counts, and against pages, for every scenario run at 3 or more range sizes, fitted
apart at or below the flush threshold (flushed page by page) and above it (one full flush). Pure
functions of the aggregates and the runs' records; report.py renders the tables."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from . import records, results
from .scenarios import SCENARIO_KEY, by_config, options_text, valid, varying

# The kernel's default (kernel/options.c, mm/flush.c) and Linux's tlb_single_page_flush_ceiling:
# ranges of more pages are flushed whole. The boots' own value (env.flush_threshold) wins.
DEFAULT_FLUSH_THRESHOLD = 33
MIN_POINTS = 3                   # distinct x values a group needs to be fitted
# A scenario's key but the swept variable: the scenarios of one line.
TARGET_GROUP = tuple(k for k in SCENARIO_KEY if k != "vcpus")
PAGE_GROUP = tuple(k for k in SCENARIO_KEY if k != "pages")

TARGET_HEADER = ["scenario", "points (targets)", "ns/target", "± s.e.", "r²", "intercept"]
PAGE_HEADER = ["scenario", "range", "points (pages)", "ns/page", "± s.e.", "r²", "intercept"]


@dataclass(frozen=True)
class Fit:
    """y = intercept + slope * x by ordinary least squares over n points (x from x_min to
    x_max). r2: 1 - SSE / SST (None when every y is equal); se: the slope's standard error
    sqrt(SSE / (n - 2) / Sxx) (None with fewer than 3 points)."""
    slope: float
    intercept: float
    r2: Optional[float]
    se: Optional[float]
    n: int
    x_min: float
    x_max: float


def fit_line(xs: Iterable[float], ys: Iterable[float], min_points: int = MIN_POINTS
             ) -> Optional[Fit]:
    """The least-squares line through (xs, ys), pairs with a None left out; None when fewer
    than min_points (at least 2) distinct x values remain."""
    pts = [(float(x), float(y)) for x, y in zip(xs, ys) if x is not None and y is not None]
    if len({x for x, _ in pts}) < max(2, min_points):
        return None
    n = len(pts)
    mx = sum(x for x, _ in pts) / n
    my = sum(y for _, y in pts) / n
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    sxy = sum((x - mx) * (y - my) for x, y in pts)
    syy = sum((y - my) ** 2 for _, y in pts)
    slope = sxy / sxx
    intercept = my - slope * mx
    sse = sum((y - intercept - slope * x) ** 2 for x, y in pts)
    r2 = 1.0 - sse / syy if syy > 0 else None
    se = math.sqrt(sse / (n - 2) / sxx) if n > 2 else None
    return Fit(slope, intercept, r2, se, n, min(x for x, _ in pts), max(x for x, _ in pts))


# ---------------------------------------------------------------------------------------------
# Groups of aggregates


def usable(aggs: Iterable[dict]) -> List[dict]:
    """The aggregates a line may go through: valid (no stale-TLB violation, watchdog or failed
    status), with a p50, a vCPU count and a range size."""
    return [a for a in aggs if valid(a) and a.get("p50_ns") is not None
            and isinstance(a.get("vcpus"), int) and isinstance(a.get("pages"), int)]


def run_thresholds(runs: Iterable[dict]) -> Dict[str, int]:
    """run id -> the flush threshold its shootdown records' env carries (runs without one are
    left out)."""
    out = {}
    for run in runs:
        rec = records.first(results.run_records(run), "shootdown")
        if rec is not None:
            out[run["id"]] = rec["env"]["flush_threshold"]
    return out


def threshold_of(a: dict, thresholds: Mapping[str, int]) -> int:
    """The flush threshold of an aggregate's boots (the most common one), else the default."""
    seen = Counter(thresholds[r] for r in a.get("run_ids") or [] if r in thresholds)
    return seen.most_common(1)[0][0] if seen else DEFAULT_FLUSH_THRESHOLD


def _groups(aggs: Iterable[dict], fields: Sequence[str],
            extra: Optional[Callable[[dict], object]] = None) -> List[List[dict]]:
    """Aggregates with equal `fields` (and equal extra(a)), in config order."""
    out: Dict[tuple, List[dict]] = {}
    for a in by_config(list(aggs)):
        key = tuple(a.get(k) for k in fields) + ((extra(a),) if extra else ())
        out.setdefault(key, []).append(a)
    return list(out.values())


def target_fits(aggs: Iterable[dict]) -> List[Tuple[dict, Fit]]:
    """(first aggregate of the group, fit of p50_ns against vCPUs - 1) for every scenario run
    at MIN_POINTS or more vCPU counts."""
    out = []
    for members in _groups(usable(aggs), TARGET_GROUP):
        fit = fit_line([a["vcpus"] - 1 for a in members], [a["p50_ns"] for a in members])
        if fit is not None:
            out.append((members[0], fit))
    return out


def page_fits(aggs: Iterable[dict], thresholds: Optional[Mapping[str, int]] = None
              ) -> List[Tuple[dict, int, bool, Fit]]:
    """(first aggregate, flush threshold, above it?, fit of p50_ns against pages) for every
    scenario run at MIN_POINTS or more range sizes: one fit for the sizes at or below the
    threshold and one for those above, each where it has 2 or more sizes."""
    thresholds = thresholds or {}

    def thr(a: dict) -> int:
        return threshold_of(a, thresholds)
    out = []
    for members in _groups(usable(aggs), PAGE_GROUP, thr):
        if len({a["pages"] for a in members}) < MIN_POINTS:
            continue
        t = thr(members[0])
        for above in (False, True):
            side = [a for a in members if (a["pages"] > t) == above]
            fit = fit_line([a["pages"] for a in side], [a["p50_ns"] for a in side], 2)
            if fit is not None:
                out.append((members[0], t, above, fit))
    return out


# ---------------------------------------------------------------------------------------------
# Table cells (report.py renders them under "## Scaling")


def _num(v: Optional[float]) -> str:
    return "—" if v is None else f"{v:,.1f}"


def _fit_cells(fit: Fit) -> List[str]:
    """ns per unit, ± s.e., r², intercept; s.e. and r² only from 3 points on (through two
    points any line is exact)."""
    r2 = "—" if fit.r2 is None or fit.n < 3 else f"{fit.r2:.3f}"
    se = "—" if fit.se is None else f"± {fit.se:,.1f}"
    return [_num(fit.slope), se, r2, f"{_num(fit.intercept)} ns"]


def _points(fit: Fit) -> str:
    return f"{fit.n} ({fit.x_min:g}..{fit.x_max:g})"


def _labeller(aggs: List[dict]) -> Callable[[dict, str], str]:
    """label(a, swept) names a scenario but its swept variable ("vcpus" or "pages"): guest,
    platform, backend and workload always, the firmware, overcommit and other scenario
    options where they vary among the aggregates."""
    show_fw = len({a.get("firmware") for a in aggs}) > 1
    show_oc = len({a.get("overcommit") for a in aggs}) > 1
    options = varying(aggs)

    def label(a: dict, swept: str) -> str:
        parts = [a["guest"], a["platform"]] + ([a["firmware"]] if show_fw else [])
        parts += [f"overcommit {_num(a['overcommit']).removesuffix('.0')}"] if show_oc else []
        parts += [a["backend"], a["workload"]]
        n, unit = (a["pages"], "page") if swept == "vcpus" else (a["vcpus"], "vCPU")
        parts.append(f"{n} {unit}{'' if n == 1 else 's'}")
        return ", ".join(parts + ([options_text(a, options)] if options else []))
    return label


def target_rows(aggs: Iterable[dict]) -> List[List[str]]:
    aggs = usable(aggs)
    label = _labeller(aggs)
    return [[label(a, "vcpus"), _points(fit)] + _fit_cells(fit) for a, fit in target_fits(aggs)]


def page_rows(aggs: Iterable[dict], thresholds: Optional[Mapping[str, int]] = None
              ) -> List[List[str]]:
    aggs = usable(aggs)
    label = _labeller(aggs)
    return [[label(a, "pages"), f"> {t} pages" if above else f"≤ {t} pages", _points(fit)]
            + _fit_cells(fit) for a, t, above, fit in page_fits(aggs, thresholds)]


def tables(aggs: Sequence[dict], runs: Iterable[dict]) -> List[Tuple[str, List[str], list]]:
    """(title, header, rows) of the tables that have rows: cost per added target, per page."""
    found = [("Cost per added target", TARGET_HEADER, target_rows(aggs)),
             ("Cost per added page", PAGE_HEADER, page_rows(aggs, run_thresholds(runs)))]
    return [t for t in found if t[2]]


def caption(aggs: Sequence[dict]) -> str:
    """What the numbers are, and how far the vCPUs of the fitted boots were overcommitted."""
    worst = max((a.get("effective_overcommit") or 0 for a in usable(aggs)), default=0)
    here = (f" (here up to {worst:g} vCPUs per host CPU)" if worst > 1 else "")
    return ("These are ordinary least-squares slopes of the per-scenario median p50 (the median "
            "of the repetitions' p50s) against the targets (vCPUs − 1) or the pages, across the "
            "boots of this one results directory: ns/target and ns/page are the slopes, ± s.e. "
            "their standard error sqrt(SSE / (n − 2) / Σ(x − x̄)²) (from 3 points), r² = 1 − "
            "SSE / SST, the intercept the line's value at 0 targets or 0 pages. A scenario "
            "needs 3 vCPU counts or 3 range sizes; ranges at or below the flush threshold (the "
            "boots' env.flush_threshold) are flushed page by page and those above it by one "
            "full flush, so each side gets its own line. Scenarios with stale-TLB violations, "
            "watchdog timeouts or a failed status are left out. On an overcommitted host"
            f"{here} the per-target cost includes waiting for the host to schedule the target.")
