"""summary.html: the results directory in one self-contained page to open from disk
(docs/bench.md, "The results directory").

The page is summary.md's content (its tables, and every plot embedded as a base64 PNG data URI)
followed by what a reader in a browser also wants at hand: the host and guest environment of
every run, the detection and confidence flags of every scenario, and the conformance records
when runs have them. Every text that comes from a run is escaped."""

from __future__ import annotations

import base64
import os
import re
from html import escape
from pathlib import Path
from typing import List, Optional, Sequence

from . import records
from .results import ResultsDir, outcome_label, run_records, scenario_rows

STYLE = """body{font-family:sans-serif;margin:2em;max-width:110em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:90%}
th,td{border:1px solid #bbb;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#eee}img{max-width:100%;border:1px solid #ddd}
.bad{background:#fdd}.warn{background:#ffd}code{background:#f4f4f4}"""
CONFORMANCE_FIELDS = ("check", "form", "outcome", "detail")


def _inline(text: str) -> str:
    """Escaped text with summary.md's inline marks: **bold**, `code`."""
    out = escape(text)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    return out


def data_uri(path: Path) -> Optional[str]:
    try:
        return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode()
    except OSError:
        return None


def _cells(line: str) -> List[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _table(rows: List[List[str]], header: Sequence[str], raw: bool = False) -> List[str]:
    cell = (lambda c: c) if raw else _inline
    out = ["<table>", "<tr>" + "".join(f"<th>{cell(h)}</th>" for h in header) + "</tr>"]
    for r in rows:
        cls = ' class="bad"' if any("⚠" in c or "STALE" in c for c in r) else ""
        out.append(f"<tr{cls}>" + "".join(f"<td>{cell(c)}</td>" for c in r) + "</tr>")
    return out + ["</table>"]


def markdown_to_html(text: str, base: Path) -> List[str]:
    """The few Markdown forms summary.md uses: headings, tables, images, lists, paragraphs."""
    out: List[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("|"):
            block = []
            while i < len(lines) and lines[i].startswith("|"):
                if not re.match(r"^\|[\s:|-]+\|$", lines[i]):
                    block.append(_cells(lines[i]))
                i += 1
            out += _table(block[1:], block[0])
            continue
        m = re.match(r"^(#{1,4}) (.*)", line)
        img = re.match(r"^!\[([^\]]*)\]\(([^)]+)\)$", line)
        if m:
            n = len(m.group(1))
            out.append(f"<h{n}>{_inline(m.group(2))}</h{n}>")
        elif img:
            uri = data_uri(base / img.group(2))
            out.append(f'<p><img alt="{escape(img.group(1))}" src="{uri}"></p>' if uri else
                       f"<p>(plot {escape(img.group(2))} missing)</p>")
        elif line.startswith("- "):
            out.append(f"<ul><li>{_inline(line[2:])}</li></ul>")
        elif line.strip():
            out.append(f"<p>{_inline(line)}</p>")
        i += 1
    return out


def environment_section(runs: List[dict]) -> List[str]:
    """Per run: host (CPU, kernel, QEMU) and guest (kernel version, CPU it saw, firmware)."""
    rows = []
    for r in runs:
        host = r.get("host") or {}
        boot = records.first(run_records(r), "boot")
        guest = (f"{boot['version']}, {boot['cpu'].data.get('brand')}, {boot['firmware']} "
                 f"via {boot['loader']}") if boot is not None else "—"
        rows.append([r["id"], outcome_label(r), str(r.get("accel")),
                     f"{host.get('host_cpu')} ({host.get('host_cpus_available')} CPUs"
                     + (", a VM" if host.get("host_hypervisor_flag") else "") + ")",
                     f"{host.get('host_kernel')} / {host.get('qemu_version')}", guest,
                     str((r.get("config") or {}).get("cmdline", ""))])
    if not rows:
        return []
    return (["<h2>Environment</h2>"]
            + _table(rows, ["run", "outcome", "accel", "host CPU", "host kernel / QEMU",
                            "guest (version, CPU, firmware)", "command line"]))


def flags_section(runs: List[dict]) -> List[str]:
    """Every scenario's detection and its percentiles' confidence, one row each."""
    rows = []
    for row in scenario_rows(runs):
        rows.append([row["run_id"], str(row["backend"]), str(row["workload"]),
                     str(row["pages"]), str(row["detection"]),
                     str(row["detection_by"] or row["detection_reason"] or ""),
                     f"{row['p50_ns']} [{row['p50_ci_low_ns']}, {row['p50_ci_high_ns']}]",
                     f"{row['p99_ns']} [{row['p99_ci_low_ns']}, {row['p99_ci_high_ns']}]",
                     "low" if row["p99_low_confidence"] else "ok",
                     ("⚠ " if row["violations"] else "") + str(row["violations"])])
    if not rows:
        return []
    return (["<h2>Detection and confidence</h2>",
             "<p>Per scenario and run: whether detection was shown (by what, or why not), p50 "
             "and p99 in ns with their about-95% intervals, whether p99 rests on too few "
             "samples (low), and stale-TLB violations.</p>"]
            + _table(rows, ["run", "backend", "workload", "pages", "detection", "by / why",
                            "p50 [CI]", "p99 [CI]", "p99 confidence", "stale"]))


def conformance_section(runs: List[dict]) -> List[str]:
    """Records of kind "conformance" (check, form, outcome, detail), when runs have them."""
    rows = []
    for r in runs:
        for rec in run_records(r):
            if rec.kind == "conformance":
                rows.append([r["id"]] + [str(rec.data.get(f, "")) for f in CONFORMANCE_FIELDS])
    if not rows:
        return []
    return ["<h2>Conformance</h2>"] + _table(rows, ["run", *CONFORMANCE_FIELDS])


def render(rd: ResultsDir, summary_md: str) -> str:
    runs = rd.runs()
    title = next((ln[2:] for ln in summary_md.splitlines() if ln.startswith("# ")),
                 "tlbstorm benchmark")
    body = (markdown_to_html(summary_md, rd.path) + environment_section(runs)
            + flags_section(runs) + conformance_section(runs))
    return "\n".join(['<!DOCTYPE html>', '<html lang="en"><head><meta charset="utf-8">',
                      f"<title>{escape(title)}</title>", f"<style>{STYLE}</style>",
                      "</head><body>"] + body + ["</body></html>", ""])


def write_html(rd: ResultsDir) -> Path:
    """summary.html beside summary.md (written first), atomically."""
    path = rd.path / "summary.html"
    text = render(rd, (rd.path / "summary.md").read_text())
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path
