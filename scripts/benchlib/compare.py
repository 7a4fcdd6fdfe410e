"""Compare two results directories scenario by scenario (A/B experiments, regressions).

For every scenario both hold, each side has one p50 and one p99 per repetition. The decision is
a bootstrap confidence interval of the relative difference of the medians, median(B)/median(A)
- 1: each side's repetitions are resampled with replacement RESAMPLES times, and the central
CONFIDENCE share of the resampled differences is the interval. A change counts ("slower",
"faster") only when the whole interval lies beyond the practical margin ±min_change; otherwise
the verdict is "cannot tell" (the interval reaches zero or inside the margin). With fewer than
MIN_REPS repetitions on a side there is no interval, and the verdict says so. The random
generator is seeded from the scenario and metric, so a comparison is reproducible. A correctness
difference (stale translations, watchdog) is always flagged, and so is a run whose records do
not match the schema (its scenarios cannot be compared) and a scenario on one side only.

Scenarios are matched by scenarios.SCENARIO_KEY: the boot's configuration and every scenario
option of the schema (ack, full, ...), so ack=early is compared with ack=early only."""

from __future__ import annotations

import math
import random
import statistics
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from .results import ResultsDir, scenario_rows
from .scenarios import SCENARIO_KEY, options_text, sort_key, varying

KEY = SCENARIO_KEY
MIN_CHANGE = 0.05    # the practical margin: smaller changes never count
MIN_REPS = 5         # repetitions each side needs for an interval
RESAMPLES = 2000
CONFIDENCE = 0.95
METRICS = ("p50_ns", "p99_ns")
SLOWER, FASTER, CANNOT_TELL = "slower", "faster", "cannot tell"


@dataclass
class Side:
    values: Dict[str, List[float]]
    violations: int
    watchdog: int

    def median(self, metric: str) -> Optional[float]:
        v = self.values.get(metric) or []
        return statistics.median(v) if v else None

    def reps(self, metric: str) -> int:
        return len(self.values.get(metric) or [])


@dataclass
class Finding:
    key: Tuple
    metric: str
    a: Optional[float]
    b: Optional[float]
    change: Optional[float]            # median(B) / median(A) - 1
    flagged: bool
    note: str = ""
    ci_low: Optional[float] = None     # the interval of the change (relative), or None
    ci_high: Optional[float] = None
    reps_a: int = 0
    reps_b: int = 0
    verdict: str = ""                  # latency findings: slower, faster, cannot tell (...)
    margin: float = MIN_CHANGE         # the min_change it was judged against


def seed_of(key: Tuple, metric: str) -> int:
    """A seed that is the same in every process (Python's hash() of text is not)."""
    return zlib.crc32(repr((tuple(key), metric)).encode())


def _percentile(ordered: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) of sorted values, interpolated between the two nearest."""
    pos = q * (len(ordered) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def bootstrap_interval(a: Sequence[float], b: Sequence[float], seed: int,
                       resamples: int = RESAMPLES,
                       confidence: float = CONFIDENCE) -> Tuple[float, float]:
    """Percentile bootstrap interval of median(B*) / median(A*) - 1, each side's values
    resampled with replacement. A's values must be positive."""
    rng = random.Random(seed)
    diffs = []
    for _ in range(resamples):
        ma = statistics.median(rng.choices(a, k=len(a)))
        mb = statistics.median(rng.choices(b, k=len(b)))
        diffs.append(mb / ma - 1.0)
    diffs.sort()
    tail = (1.0 - confidence) / 2
    return _percentile(diffs, tail), _percentile(diffs, 1.0 - tail)


def verdict(low: float, high: float, min_change: float) -> str:
    if low > min_change:
        return SLOWER
    if high < -min_change:
        return FASTER
    return CANNOT_TELL


def judge(key: Tuple, metric: str, x: Side, y: Side,
          min_change: float = MIN_CHANGE) -> Optional[Finding]:
    """One latency comparison: its change, interval and verdict (None: no median on A)."""
    va, vb = x.values.get(metric) or [], y.values.get(metric) or []
    ma, mb = x.median(metric), y.median(metric)
    if not ma or mb is None:
        return None
    f = Finding(key, metric, ma, mb, mb / ma - 1.0, False, reps_a=len(va), reps_b=len(vb),
                margin=min_change)
    if min(len(va), len(vb)) < MIN_REPS:
        f.verdict = (f"{CANNOT_TELL} ({min(len(va), len(vb))} repetitions; "
                     f"at least {MIN_REPS} needed)")
    elif min(va) <= 0:
        f.verdict = f"{CANNOT_TELL} (a latency of 0 on A)"
    else:
        f.ci_low, f.ci_high = bootstrap_interval(va, vb, seed_of(key, metric))
        f.verdict = verdict(f.ci_low, f.ci_high, min_change)
        f.flagged = f.verdict in (SLOWER, FASTER)
    return f


def sides(rd: ResultsDir) -> Dict[Tuple, Side]:
    out: Dict[Tuple, Side] = {}
    for row in scenario_rows(rd.runs()):
        key = tuple(row[k] for k in KEY)
        s = out.setdefault(key, Side({m: [] for m in METRICS}, 0, 0))
        for m in METRICS:
            if row.get(m) is not None:
                s.values[m].append(float(row[m]))
        s.violations += row.get("violations") or 0
        s.watchdog += row.get("watchdog") or 0
    return out


def _invalid(rd: ResultsDir, side: str) -> List[Finding]:
    return [Finding((), "records", None, None, None, True, f"{side}: run {r['id']}: {r['invalid']}")
            for r in rd.runs() if r.get("invalid")]


def compare(a: ResultsDir, b: ResultsDir, min_change: float = MIN_CHANGE) -> List[Finding]:
    sa, sb = sides(a), sides(b)
    findings: List[Finding] = _invalid(a, "A") + _invalid(b, "B")
    for key in sorted(set(sa) | set(sb), key=lambda k: tuple(sort_key(x) for x in k)):
        if key not in sa or key not in sb:
            findings.append(Finding(key, "-", None, None, None, True,
                                    f"only in {'A' if key in sa else 'B'}", margin=min_change))
            continue
        x, y = sa[key], sb[key]
        if bool(x.violations) != bool(y.violations) or bool(x.watchdog) != bool(y.watchdog):
            findings.append(Finding(key, "correctness", x.violations, y.violations, None, True,
                                    f"stale translations A {x.violations}, B {y.violations}; "
                                    f"watchdog A {x.watchdog}, B {y.watchdog}",
                                    margin=min_change))
        for m in METRICS:
            f = judge(key, m, x, y, min_change)
            if f is not None:
                findings.append(f)
    return findings


def _key_text(key: Tuple, options: List[str]) -> str:
    """A scenario for people, with the options (ack, ...) that vary among the findings."""
    if not key:
        return "—"
    k = dict(zip(KEY, key))
    oc = "—" if k["overcommit"] is None else f"{k['overcommit']:g}"
    text = options_text(k, options)
    return (f"{k['guest']} {k['platform']}/{k['firmware']} {k['vcpus']} vCPUs x{oc} "
            f"{k['backend']} {k['workload']} {k['pages']}p" + (f" {text}" if text else ""))


def rule_text(min_change: float) -> str:
    return (f"A latency change counts when the {CONFIDENCE:.0%} bootstrap interval of the "
            f"difference of the medians of the repetitions (median B / median A − 1, "
            f"{RESAMPLES} resamples of each side's repetitions) lies entirely beyond "
            f"±{min_change:.0%}; otherwise the verdict is cannot tell. An interval needs at "
            f"least {MIN_REPS} repetitions on each side.")


def _row(f: Finding, options: List[str]) -> str:
    scenario = _key_text(f.key, options)
    if f.change is None:
        va, vb = ("" if v is None else v for v in (f.a, f.b))
        note = f.note.replace("|", "\\|")
        return f"| {scenario} | {f.metric} | {va} | {vb} | | | | **{note}** |"
    interval = ("—" if f.ci_low is None else f"[{f.ci_low:+.1%}, {f.ci_high:+.1%}]")
    shown = f"**{f.verdict}**" if f.flagged else f.verdict
    return (f"| {scenario} | {f.metric} | {f.a:.0f} ns | {f.b:.0f} ns | {f.change:+.1%} | "
            f"{interval} | {f.reps_a}/{f.reps_b} | {shown} |")


def render(findings: List[Finding], a: Path, b: Path, everything: bool = False) -> str:
    flagged = [f for f in findings if f.flagged]
    margin = findings[0].margin if findings else MIN_CHANGE
    short = sum(1 for f in findings
                if f.change is not None and min(f.reps_a, f.reps_b) < MIN_REPS)
    lines = [f"# Comparison: A = {a}, B = {b}", "",
             f"{len(flagged)} difference(s) flagged out of {len(findings)} comparison(s). "
             + rule_text(margin)
             + (f" {short} comparison(s) could not be decided for want of repetitions."
                if short else ""), ""]
    shown = findings if everything else flagged
    options = varying([dict(zip(KEY, f.key)) for f in findings if f.key])
    if not shown:
        lines.append("No difference beyond the noise.")
        return "\n".join(lines) + "\n"
    lines += [f"| scenario | metric | A (median) | B (median) | change | "
              f"{CONFIDENCE:.0%} interval | reps A/B | verdict |",
              "|---|---|---:|---:|---:|---:|---:|---|"]
    lines += [_row(f, options) for f in shown]
    return "\n".join(lines) + "\n"
