"""Reports of a results directory: results.csv, summary.md and plots/*.png (docs/records.md
explains the numbers they are made of).

Everything here is derived from runs/*/result.json and can be rebuilt at any time; every
function works on partial results (missing runs, failed runs without records, no runs at all).
Scenarios are grouped across repetitions by scenarios.py, the plots drawn by plots.py, the cells
formatted by cells.py; peer.py sets tlbstorm beside the Linux peer."""

from __future__ import annotations

import csv
import datetime
import json
import os
import re
import warnings
from collections import Counter
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from . import html, peer, plots, records, results, scaling, shape, targetside
from .cells import backend_cell, detection_cell, fmt_int, fmt_ns, fmt_num, fmt_ratio, table
from .results import NOT_SHOWN, ROW_FIELDS, ResultsDir, ResultsError, outcome_label
from .scenarios import (OTHER_OPTIONS, aggregate, by_config, sort_key, valid, varying,
                        workload_key)


# ---------------------------------------------------------------------------------------------
# Small helpers


def _write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------
# results.csv


def write_csv(rd: ResultsDir) -> Path:
    """results.csv: one line per scenario row (ROW_FIELDS order), runs in plan order."""
    path = rd.path / "results.csv"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=ROW_FIELDS, lineterminator="\n", extrasaction="ignore")
        w.writeheader()
        for row in results.scenario_rows(rd.runs()):
            w.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in ROW_FIELDS})
    os.replace(tmp, path)
    return path


# ---------------------------------------------------------------------------------------------
# summary.md


def matrix_name(rd: ResultsDir) -> str:
    """The matrix's `name` field (matrix.toml / matrix.json as given, or plan.json), else the
    results directory's name: the matrix file's own name is not kept in the directory."""
    try:
        plan = json.loads((rd.path / "plan.json").read_text())
        for k in ("matrix_name", "matrix", "name"):
            if isinstance(plan.get(k), str) and plan[k]:
                return plan[k]
    except (OSError, ValueError, AttributeError):
        pass
    for f in sorted(rd.path.glob("matrix.*")):
        try:
            text = f.read_text()
        except OSError:
            continue
        # A top-level `name = "..."` (TOML, before any [table]) or "name": "..." (JSON).
        m = (re.search(r'^\s*name\s*=\s*["\']([^"\']+)["\']', text.split("\n[", 1)[0], re.M)
             or re.search(r'"name"\s*:\s*"([^"]+)"', text))
        if m:
            return m.group(1)
    return rd.path.resolve().name


def _report_date(rd: ResultsDir, host: dict, runs: List[dict]) -> str:
    finished = sorted(r["finished"] for r in runs if isinstance(r.get("finished"), str))
    started = host.get("started")
    if started and finished:
        return f"{started[:10]} (runs finished {finished[0][:16]} .. {finished[-1][:16]})"
    if started or finished:
        return (started or finished[-1])[:10]
    return datetime.date.today().isoformat()


def _host_section(host: dict, runs: List[dict]) -> List[str]:
    def get(k):
        v = host.get(k)
        return "unknown" if v is None else v
    cores = (f"{get('host_cpus_online')} online, {get('host_cpus_available')} available to the "
             f"harness")
    kvm = {True: "yes (/dev/kvm read-write)", False: "no"}.get(host.get("kvm_device"), "unknown")
    lines = ["## Host", "",
             f"- Host CPU: {get('host_cpu')}"
             + (" (the host is itself a VM)" if host.get("host_hypervisor_flag") else ""),
             f"- Cores: {cores}",
             f"- QEMU: {get('qemu_version')}",
             f"- tlbstorm revision: {get('tlbstorm_revision')}",
             f"- Host kernel: {get('host_kernel')}" + (f" ({host['host_os']})"
                                                        if host.get("host_os") else ""),
             f"- KVM device: {kvm}"]
    # Runs carry their own host record; a resumed benchmark may mix revisions.
    revs = sorted({str((r.get("host") or {}).get("tlbstorm_revision")) for r in runs
                   if (r.get("host") or {}).get("tlbstorm_revision")})
    if len(revs) > 1:
        lines.append(f"- **Warning: runs come from {len(revs)} tlbstorm revisions: "
                     f"{', '.join(revs)}**")
    return lines + [""]


def _outcomes_section(rd: ResultsDir, runs: List[dict]) -> List[str]:
    lines = ["## Runs", ""]
    try:
        planned = len(rd.plan()) if rd.exists() else None
    except ResultsError:
        planned = None
    counts = Counter(outcome_label(r) for r in runs)
    done = "; ".join(f"{n} {o}" for o, n in counts.most_common()) or "none"
    lines.append(f"{len(runs)} run{'' if len(runs) == 1 else 's'} finished"
                 + (f" of {planned} planned" if planned else "") + f": {done}.")
    if planned and len(runs) < planned:
        missing = planned - len(runs)
        lines.append(f"**{missing} planned run{'s have' if missing > 1 else ' has'} no result "
                     f"yet** "
                     f"(interrupted or still running; `scripts/bench run MATRIX --out DIR "
                     f"--resume` finishes it).")
    invalid = [r for r in runs if r.get("invalid")]
    if invalid:
        lines.append(f"**⚠ {len(invalid)} run{'s have' if len(invalid) > 1 else ' has'} a "
                     f"record that does not match docs/records.schema.json: "
                     f"{'their' if len(invalid) > 1 else 'its'} scenarios are left out of "
                     f"every table and plot** (the reason is below).")
    bad = [r for r in runs if outcome_label(r) != "pass"]
    if bad:
        lines += ["", "Runs that did not pass, passed without showing detection, or whose "
                  "records are invalid:", ""]
        rows = []
        for r in bad:
            if r.get("invalid"):
                why = r["invalid"]
            elif outcome_label(r) == results.PASS_NOT_SHOWN:
                why = _not_shown_reason(r)
            else:
                why = (r.get("error") or r.get("summary") or "; ".join(r.get("warnings") or [])
                       or "—")
            rows.append([f"`{r.get('id')}`", outcome_label(r),
                         str(r.get("attempts", "—")), why.strip().splitlines()[0][:200]])
        lines += table(["run", "outcome", "attempts", "reason"], rows)
    return lines + [""]


def _not_shown_reason(run: dict) -> str:
    """Why a pass did not show detection: its scenarios' reasons, each with where it held."""
    where: Dict[str, List[str]] = {}
    for rec in records.of_kind(results.run_records(run), "shootdown"):
        det = rec["detection"]
        if det["status"] == NOT_SHOWN:
            where.setdefault(det["reason"], []).append(
                f"{rec['backend']} {rec['workload']} {rec['pages']}p")
    if not where:
        return "detection not shown (no scenario ran)"
    return "detection not shown: " + "; ".join(f"{reason} ({', '.join(w)})"
                                               for reason, w in where.items())


def _overcommit_cell(a: dict) -> str:
    """The matrix's overcommit, and what the boot really had when that differs (more vCPUs
    than the host CPUs there were to pin QEMU to)."""
    cell = fmt_num(a["overcommit"])
    eff = a.get("effective_overcommit")
    if eff is not None and a["overcommit"] is not None and eff != a["overcommit"]:
        cell += f" (really {fmt_num(eff)})"
    return cell


def _stale_cell(a: dict) -> str:
    # The correctness column: any stale-TLB observation makes the numbers meaningless.
    parts = []
    if a["violations"]:
        parts.append(f"**⚠ {a['violations']} STALE**")
    if a["watchdog"]:
        parts.append(f"**⚠ {a['watchdog']} watchdog**")
    if a["not_ok"] and not parts:
        parts.append(f"**⚠ status not ok ×{a['not_ok']}**")
    return " ".join(parts) or "0"


def _spread_cell(a: dict) -> str:
    if a["p50_spread"] is None:
        return "—"
    return f"{a['p50_spread'] * 100:.1f}% ({fmt_ns(a['p50_min'])}..{fmt_ns(a['p50_max'])})"


def main_table_header(show_firmware: bool, options: Sequence[str] = ()) -> List[str]:
    """The scenario table's columns; `options`: the scenario options that vary (varying())."""
    return (["guest", "platform"] + (["firmware"] if show_firmware else [])
            + ["vCPUs", "overcommit", "backend", "workload", "pages"] + list(options)
            + ["p50", "p99", "x null", "null p50", "x floor", "per s", "reps", "p50 spread",
               "stale", "detection"])


def _main_row(a: dict, show_fw: bool, options: Sequence[str]) -> List[str]:
    return ([a["guest"], a["platform"]] + ([a["firmware"]] if show_fw else [])
            + [str(a["vcpus"]), _overcommit_cell(a), a["backend"], a["workload"],
               str(a["pages"])] + [str(a[f]) for f in options]
            + [fmt_ns(a["p50_ns"]), fmt_ns(a["p99_ns"]), fmt_ratio(a.get("ratio_to_null")),
               fmt_ns(a.get("null_p50_ns")), fmt_ratio(a["ratio_to_floor"]),
               fmt_int(a["per_s"]), str(a["n"]), _spread_cell(a), _stale_cell(a),
               detection_cell(a)])


def _main_section(aggs: List[dict]) -> List[str]:
    lines = ["## Shootdown latency (median of repetitions)", ""]
    if not aggs:
        return lines + ["No scenario results yet.", ""]
    bad = [a for a in aggs if a["violations"]]
    if bad:
        lines += [f"**⚠ CORRECTNESS: {len(bad)} scenarios saw stale-TLB violations "
                  f"({sum(a['violations'] for a in bad)} in all) — their latencies are not "
                  f"valid results.**", ""]
    # The Linux peer has no oracle: its "not shown" is expected, not news.
    unshown = [a for a in aggs if a["not_shown"] and a["guest"] != "linux"]
    if unshown:
        lines += [f"**{len(unshown)} tlbstorm scenario{'s' if len(unshown) > 1 else ''} did not "
                  f"show detection: {'their' if len(unshown) > 1 else 'its'} clean oracle does "
                  f"not show that a broken flush would have been seen here** (the detection "
                  f"column says why).", ""]
    show_fw = len({a["firmware"] for a in aggs}) > 1
    options = varying(aggs)
    lines += table(main_table_header(show_fw, options),
                    [_main_row(a, show_fw, options) for a in by_config(aggs)])
    lines += ["", "p50/p99: the initiator's latency from the start to the completion of a "
              "shootdown; x null: p50 / the p50 of the null shootdowns interleaved with it (the "
              "same targets, kick, handler and acknowledgement, no change and no flush: the "
              "in-scenario floor, the headline); null p50: theirs; x floor: p50 / the boot's "
              "IPI broadcast round-trip p50 (context); per s: "
              "shootdowns per second of the whole loop (in lockstep it includes waiting for the "
              "readers); p50 spread: (max - min) / median of the repetitions' "
              "p50s; stale: stale-TLB oracle violations summed over repetitions (must be 0); "
              "detection: whether the scenario showed that its oracle could have seen a broken "
              "flush, in every repetition (shown by the canary or by its own negative control), "
              "else why not (docs/records.md, \"Detection\"). Scenario options that vary "
              "between scenarios (ack, full, ...) have a column each.", ""]
    return lines


def _floor_section(aggs: List[dict]) -> List[str]:
    """Rows (platform, firmware, overcommit, backend, workload) at each platform's smallest
    range, columns vCPUs: how far above the hardware's IPI round trip each backend sits."""
    aggs = [a for a in aggs if a["guest"] != "linux" and a["ratio_to_floor"] is not None
            and a["pages"] is not None]
    if not aggs:
        return []
    smallest = {}
    for a in aggs:
        smallest[a["platform"]] = min(smallest.get(a["platform"], a["pages"]), a["pages"])
    aggs = [a for a in aggs if a["pages"] == smallest[a["platform"]]]
    vcpus = sorted({a["vcpus"] for a in aggs}, key=sort_key)
    show_fw = len({a["firmware"] for a in aggs}) > 1
    options = varying(aggs)
    cells: Dict[tuple, Dict[int, str]] = {}
    first: Dict[tuple, dict] = {}
    for a in by_config(aggs):
        # One row per scenario but its vCPUs: every option that is not shown in it is equal.
        key = (sort_key(a["platform"]), sort_key(a["firmware"]), sort_key(a["overcommit"]),
               sort_key(a["backend"]), workload_key(a["workload"])) + tuple(
                   sort_key(a[f]) for f in OTHER_OPTIONS)
        # An invalid scenario's ratio is shown but flagged, as in the main table.
        cells.setdefault(key, {})[a["vcpus"]] = (fmt_ratio(a["ratio_to_floor"])
                                                 + ("" if valid(a) else " ⚠"))
        first.setdefault(key, a)
    header = (["platform"] + (["firmware"] if show_fw else [])
              + ["overcommit", "backend", "workload", "pages"] + [f"{v} vCPUs" for v in vcpus])
    rows = []
    for k in sorted(cells):
        a = first[k]
        rows.append([a["platform"]] + ([a["firmware"]] if show_fw else [])
                    + [fmt_num(a["overcommit"]), backend_cell(a, options), a["workload"],
                       str(a["pages"])] + [cells[k].get(v, "—") for v in vcpus])
    return (["## Ratio to the IPI floor", "",
             "Median p50 latency / the boot's IPI broadcast round-trip p50 (1x: a shootdown "
             "costs no more than interrupting every other CPU once; ⚠: the scenario had "
             "stale-TLB violations, watchdog timeouts or a failed status).", ""]
            + table(header, rows) + [""])


def _scaling_section(aggs: List[dict], runs: List[dict]) -> List[str]:
    """Cost per added target and per added page (scaling.py), when some scenario qualifies."""
    found = scaling.tables(aggs, runs)
    if not found:
        return []
    lines = ["## Scaling", "", scaling.caption(aggs), ""]
    for title, header, rows in found:
        lines += [f"{title}:", ""] + table(header, rows) + [""]
    return lines


def _plot_caption(path: Path) -> str:
    prefix, _, platform = path.stem.partition("-")
    what = plots.PLOT_KINDS.get(prefix, path.stem)
    return f"{platform}: {what}." if platform else f"{what}."


def _plots_section(paths: Sequence[Path], note: Optional[str]) -> List[str]:
    lines = ["## Plots", "", "Scenarios with stale-TLB violations, watchdog timeouts or a failed "
             "status are left out of the plots.", ""]
    if note:
        lines += [note, ""]
    if not paths:
        return lines + ["No plots (no data to plot)." if not note else "", ""]
    for p in paths:
        cap = _plot_caption(Path(p))
        lines += [f"![{Path(p).stem}](plots/{Path(p).name})", "", f"*{cap}*", ""]
    return lines


def write_summary(rd: ResultsDir, plot_paths: Sequence[Path], plots_note: Optional[str] = None
                  ) -> Path:
    """summary.md: host, run outcomes, the aggregated tables and the plots (paths from
    write_plots; `plots_note` says why there are none, e.g. matplotlib missing)."""
    runs = rd.runs()
    host = rd.host() or next((r["host"] for r in runs if r.get("host")), {})
    rows = results.scenario_rows(runs)
    aggs = aggregate(rows)
    lines = [f"# tlbstorm benchmark: {matrix_name(rd)}", "",
             f"Date: {_report_date(rd, host, runs)}", ""]
    lines += _host_section(host, runs)
    lines += _outcomes_section(rd, runs)
    lines += _main_section(aggs)
    lines += peer.section(aggs)
    lines += _floor_section(aggs)
    lines += _scaling_section(aggs, runs)
    lines += targetside.section(aggs)
    lines += shape.section(rows)
    lines += _plots_section(plot_paths, plots_note)
    lines += ["Every run's configuration, host and records are in results.csv (one line per "
              "scenario) and records.jsonl (every record); raw serial output is in "
              "runs/<id>/serial.log.", ""]
    path = rd.path / "summary.md"
    _write_text_atomic(path, "\n".join(lines))
    return path


# ---------------------------------------------------------------------------------------------
# Everything


def write_reports(rd: ResultsDir) -> Dict[str, object]:
    """records.jsonl, results.csv, plots/*.png and summary.md. Returns
    {"records_jsonl": Path, "records": int, "csv": Path, "plots": [Path], "summary": Path}."""
    rd.path.mkdir(parents=True, exist_ok=True)
    n = rd.write_records_jsonl()
    csv_path = write_csv(rd)
    note = None
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            made = plots.write_plots(rd)
        skipped = [str(w.message) for w in caught if "skipped" in str(w.message)]
        if skipped:
            note = "Some plots failed: " + "; ".join(skipped) + "."
    except plots.PlotsUnavailable as e:
        made, note = [], f"Plots skipped: {e}."
    summary = write_summary(rd, made, note)
    html.write_html(rd)   # summary.html: the same, self-contained, for a browser
    invalid = [r for r in rd.runs() if r.get("invalid")]
    return {"records_jsonl": rd.path / "records.jsonl", "records": n, "csv": csv_path,
            "plots": made, "summary": summary, "invalid": invalid}
