"""Table cells of the summary (report.py and peer.py render with them): latencies, ratios and
counts for people, Markdown tables, and the cells several tables share."""

from __future__ import annotations

import re
from typing import List, Optional, Sequence

from .scenarios import options_text


def fmt_ns(ns: Optional[float]) -> str:
    """A latency for people: ns below 1 µs, else µs with 3 significant digits (more above
    999 µs rather than an exponent)."""
    if ns is None:
        return "—"
    if abs(ns) < 1000:
        return f"{ns:.0f} ns"
    us = ns / 1000
    if abs(us) < 10:
        return f"{us:.2f} µs"
    if abs(us) < 100:
        return f"{us:.1f} µs"
    return f"{us:.0f} µs"


def parse_ns(text: str) -> Optional[float]:
    """The inverse of fmt_ns (for tests and for anyone reading summary.md back)."""
    m = re.fullmatch(r"\s*(-?[\d.]+) (ns|µs)\s*", text)
    if not m:
        return None
    return float(m.group(1)) * (1000 if m.group(2) == "µs" else 1)


def fmt_interval(ns: Optional[float], low: Optional[float], high: Optional[float]) -> str:
    """A latency with its interval, `1.23 µs (1.20 µs..1.26 µs)`; the latency alone when the
    interval is not known."""
    if ns is None or low is None or high is None:
        return fmt_ns(ns)
    return f"{fmt_ns(ns)} ({fmt_ns(low)}..{fmt_ns(high)})"


def fmt_ratio(r: Optional[float]) -> str:
    return "—" if r is None else f"{r:.2f}x"


def fmt_int(v: Optional[float]) -> str:
    return "—" if v is None else f"{v:,.0f}"


def fmt_num(v) -> str:
    """1.0 -> "1", 1.5 -> "1.5": overcommit factors."""
    return "—" if v is None else f"{v:g}"


def table(header: Sequence[str], rows: List[Sequence[str]]) -> List[str]:
    """A Markdown table's lines."""
    # Pipes inside cells (error messages) would split the cell.
    clean = [[str(c).replace("|", "\\|").replace("\n", " ") for c in r] for r in rows]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in clean]
    return lines


def detection_cell(a: dict) -> str:
    """shown (and by what), or not shown with the reasons (how many repetitions when not
    all)."""
    not_shown = a["not_shown"]
    if not not_shown:
        return "shown" + (f" ({a['detection_by']})" if a.get("detection_by") else "")
    count = "" if not_shown == a["n"] else f" ×{not_shown} of {a['n']}"
    return f"not shown{count}: " + "; ".join(a["detection_reasons"])


def backend_cell(a: dict, options: Sequence[str]) -> str:
    """The backend, with the scenario options that tell it from its neighbours."""
    text = options_text(a, options)
    return f"{a['backend']} ({text})" if text else a["backend"]
