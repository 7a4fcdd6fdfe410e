"""Compare two results directories scenario by scenario (A/B experiments, regressions).

For every scenario both hold, the medians of the per-repetition p50 and p99 latencies are
compared. The run-to-run noise is estimated from the repetitions themselves: the relative
spread (max - min) / median of each side's repetitions. A change counts only when it is larger
than NOISE_FACTOR times the larger of the two spreads and larger than min_change; with a single
repetition on either side the noise is unknown and SINGLE_REP_NOISE stands in for it (said in
the table). A correctness difference (stale translations, watchdog) is always flagged, and so is
a run whose records do not match the schema (its scenarios cannot be compared).

Scenarios are matched by scenarios.SCENARIO_KEY: the boot's configuration and every scenario
option of the schema (ack, full, ...), so ack=early is compared with ack=early only."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from .results import ResultsDir, scenario_rows
from .scenarios import SCENARIO_KEY, options_text, sort_key, varying

KEY = SCENARIO_KEY
NOISE_FACTOR = 2.0
SINGLE_REP_NOISE = 0.25
MIN_CHANGE = 0.05
METRICS = ("p50_ns", "p99_ns")


@dataclass
class Side:
    values: Dict[str, List[float]]
    violations: int
    watchdog: int

    def median(self, metric: str) -> Optional[float]:
        v = self.values.get(metric) or []
        return statistics.median(v) if v else None

    def spread(self, metric: str) -> Optional[float]:
        v = self.values.get(metric) or []
        if len(v) < 2:
            return None
        med = statistics.median(v)
        return (max(v) - min(v)) / med if med else None


@dataclass
class Finding:
    key: Tuple
    metric: str
    a: Optional[float]
    b: Optional[float]
    change: Optional[float]     # b / a - 1
    threshold: Optional[float]  # the change that would count
    noise_known: bool
    flagged: bool
    note: str = ""


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
    return [Finding((), "records", None, None, None, None, False, True,
                    f"{side}: run {r['id']}: {r['invalid']}") for r in rd.runs() if r.get("invalid")]


def compare(a: ResultsDir, b: ResultsDir, min_change: float = MIN_CHANGE) -> List[Finding]:
    sa, sb = sides(a), sides(b)
    findings: List[Finding] = _invalid(a, "A") + _invalid(b, "B")
    for key in sorted(set(sa) | set(sb), key=lambda k: tuple(sort_key(x) for x in k)):
        if key not in sa or key not in sb:
            findings.append(Finding(key, "-", None, None, None, None, False, True,
                                    f"only in {'A' if key in sa else 'B'}"))
            continue
        x, y = sa[key], sb[key]
        if bool(x.violations) != bool(y.violations) or bool(x.watchdog) != bool(y.watchdog):
            findings.append(Finding(key, "correctness", x.violations, y.violations, None, None,
                                    True, True, f"stale translations A {x.violations}, "
                                    f"B {y.violations}; watchdog A {x.watchdog}, B {y.watchdog}"))
        for m in METRICS:
            ma, mb = x.median(m), y.median(m)
            if not ma or mb is None:
                continue
            spreads = [s for s in (x.spread(m), y.spread(m)) if s is not None]
            known = len(spreads) == 2
            noise = max(spreads) if known else max(spreads + [SINGLE_REP_NOISE])
            threshold = max(min_change, NOISE_FACTOR * noise)
            change = mb / ma - 1.0
            findings.append(Finding(key, m, ma, mb, change, threshold, known,
                                    abs(change) > threshold,
                                    "" if known else "noise unknown (one repetition)"))
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


def render(findings: List[Finding], a: Path, b: Path, everything: bool = False) -> str:
    flagged = [f for f in findings if f.flagged]
    lines = [f"# Comparison: A = {a}, B = {b}", "",
             f"{len(flagged)} difference(s) beyond the noise out of {len(findings)} "
             f"comparison(s). A latency change counts when it exceeds {NOISE_FACTOR:g}x the "
             f"larger relative spread of the repetitions (at least {MIN_CHANGE:.0%}; "
             f"{SINGLE_REP_NOISE:.0%} stands in for the spread of a single repetition).", ""]
    shown = findings if everything else flagged
    options = varying([dict(zip(KEY, f.key)) for f in findings if f.key])
    if not shown:
        lines.append("No difference beyond the noise.")
        return "\n".join(lines) + "\n"
    lines += ["| scenario | metric | A | B | change | counts above | verdict |",
              "|---|---|---:|---:|---:|---:|---|"]
    for f in shown:
        if f.change is None:
            va, vb = ("" if v is None else v for v in (f.a, f.b))
            note = f.note.replace("|", "\\|")
            lines.append(f"| {_key_text(f.key, options)} | {f.metric} | {va} | {vb} | | | "
                         f"**{note}** |")
            continue
        verdict = ("**slower**" if f.change > 0 else "**faster**") if f.flagged else "noise"
        if f.note:
            verdict += f" ({f.note})"
        lines.append(f"| {_key_text(f.key, options)} | {f.metric} | {f.a:.0f} ns | "
                     f"{f.b:.0f} ns | {f.change:+.1%} | {f.threshold:.1%} | {verdict} |")
    return "\n".join(lines) + "\n"
