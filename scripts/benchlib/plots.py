"""The plots of a results directory (plots/<kind>-<platform>.png), from the same aggregated
scenarios as the summary (scenarios.py). Without matplotlib (Debian's python3-matplotlib)
write_plots raises PlotsUnavailable; the CSV and the summary need nothing beyond jsonschema."""

from __future__ import annotations

import re
import warnings
from collections import Counter
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple

from . import records, results, shape
from .results import ResultsDir
from .scenarios import aggregate, guest_order, options_text, sort_key, valid, varying, workload_key

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator
    MISSING = None
except ImportError as e:
    plt = None
    MISSING = f"matplotlib is not available ({e})"

PLOT_DPI = 110
# Plot file name prefixes (plots/<prefix>-<platform>.png) and their captions.
PLOT_KINDS = {
    "latency_vs_vcpus": "shootdown latency p50 (solid) and p99 (dashed) vs vCPUs, per backend "
                        "and workload, at the smallest range",
    "latency_vs_pages": "shootdown latency p50 vs range size (pages) at the largest vCPU count "
                        "that was not overcommitted",
    "cdf": "latency CDF at the smallest range and the largest vCPU count that was not "
           "overcommitted, repetitions pooled",
    "floor_ratio": "shootdown latency p50 / IPI broadcast floor p50 vs vCPUs",
    "pv_ratio": "paravirtual / IPI shootdown p99 and p50 vs effective overcommit, tlbstorm within "
                "boots and the Linux peer across boots, with the levels' intervals",
}


class PlotsUnavailable(Exception):
    """Why there can be no plots here (matplotlib missing)."""


def _line_label(a: dict) -> str:
    """A line per backend (and per scenario option that varies: `options`, set by
    write_plots), one for the Linux peer per flush mechanism."""
    if a["guest"] == "linux":
        return f"linux ({a['linux_flush'] or 'unknown flush'})"
    text = options_text(a, a.get("options", ()))
    return f"{a['backend']} ({text})" if text else a["backend"]


def _baseline(aggs: List[dict]) -> Tuple[List[dict], str]:
    """One overcommit and one firmware per plot, so a line has one point per x: the smallest
    overcommit, and `direct` firmware if there (the Linux guest only boots direct), else the
    most common one. Returns the filtered aggregates and a description for the title."""
    if not aggs:
        return [], ""
    oc = min((a["overcommit"] for a in aggs if a["overcommit"] is not None), default=None)
    aggs = [a for a in aggs if a["overcommit"] == oc]
    fws = Counter(a["firmware"] for a in aggs)
    fw = "direct" if "direct" in fws else fws.most_common(1)[0][0]
    aggs = [a for a in aggs if a["firmware"] == fw]
    return aggs, f"overcommit {'—' if oc is None else f'{oc:g}'}, firmware {fw}"


def _reps_text(aggs: List[dict]) -> str:
    ns = sorted({a["n"] for a in aggs})
    if not ns:
        return ""
    n = str(ns[0]) if len(ns) == 1 else f"{ns[0]}-{ns[-1]}"
    return f"median of {n} reps"


def _guests_text(aggs: List[dict]) -> str:
    return "+".join(sorted({a["guest"] for a in aggs}, key=lambda g: (guest_order(g), g)))


def _widest(items: List[dict]) -> int:
    """The vCPU count the range and CDF plots show: the largest that was not overcommitted (its
    vCPUs each had a host CPU), else the largest; overcommitted boots measure the host's
    scheduler more than the shootdown."""
    fits = [a["vcpus"] for a in items if (a.get("effective_overcommit") or 1) <= 1]
    return max(fits) if fits else max(a["vcpus"] for a in items)


def _time_unit(values: Iterable[Optional[float]]) -> Tuple[float, str]:
    """(divisor, name) that puts nanosecond values in readable numbers: ns, µs or ms."""
    top = max((v for v in values if v is not None), default=0)
    return (1e6, "ms") if top >= 1e6 else (1e3, "µs") if top >= 1e4 else (1.0, "ns")


def _log_scale(ax, axis: str) -> None:
    """A log axis labelled with plain numbers (12, 20, 50) rather than powers of ten: the
    ranges here rarely span more than two decades, so the minor ticks carry the labels."""
    getattr(ax, f"set_{axis}scale")("log")
    a = ax.xaxis if axis == "x" else ax.yaxis
    a.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    a.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    a.set_minor_formatter(FuncFormatter(lambda v, _: ""))


def _spans_decades(values: Iterable[float]) -> bool:
    vals = [v for v in values if v is not None and v > 0]
    return bool(vals) and max(vals) / min(vals) >= 20


def _subplots(n: int, title: str):
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols + 2.2, 3.8 * rows + 0.8),
                             squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=11)
    return fig, list(axes.flat[:n])


def _save(fig, path: Path) -> Path:
    # One legend for the figure, right of the axes, so it never covers data.
    handles, labels = [], []
    for ax in fig.axes:
        for h, l in zip(*ax.get_legend_handles_labels()):
            if l not in labels:
                handles.append(h)
                labels.append(l)
    if handles:
        fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=9,
                   frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=PLOT_DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def _workloads(aggs: List[dict]) -> List[str]:
    # Subplots by the tlbstorm workload, so a Linux operation lands next to its equivalent.
    return sorted({a["equivalent"] for a in aggs if a["equivalent"]}, key=workload_key)


def _lines(aggs: List[dict], x: str) -> Dict[str, List[dict]]:
    out: Dict[str, List[dict]] = {}
    for a in sorted(aggs, key=lambda a: (guest_order(a["guest"]), a["backend"] or "",
                                         sort_key(a[x]))):
        out.setdefault(_line_label(a), []).append(a)
    return out


def _palette(aggs: List[dict]) -> Dict[str, object]:
    """One colour per line label for all of a platform's plots, so a backend keeps its colour
    from plot to plot (tlbstorm backends first, then Linux)."""
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    labels = sorted({(guest_order(a["guest"]), _line_label(a)) for a in aggs})
    return {l: cycle[i % len(cycle)] for i, (_, l) in enumerate(labels)}


def _smallest_range(aggs: List[dict]) -> Tuple[List[dict], str, Optional[int]]:
    """The baseline rows (_baseline) at their smallest page count: what the per-vCPU plots
    show. -> (rows, baseline description, pages); no rows when there is nothing to plot."""
    aggs, base = _baseline(aggs)
    if not aggs:
        return [], base, None
    small = min(a["pages"] for a in aggs)
    return [a for a in aggs if a["pages"] == small], base, small


def _plot_vs_vcpus(platform: str, aggs: List[dict], colors: dict, path: Path
                 ) -> Optional[Path]:
    aggs, base, small = _smallest_range([a for a in aggs if a["p50_ns"] is not None])
    if not aggs:
        return None
    wls = _workloads(aggs)
    fig, axes = _subplots(len(wls), f"{platform} ({_guests_text(aggs)}): shootdown latency "
                          f"vs vCPUs, {small} page(s), {base}, {_reps_text(aggs)}")
    for ax, wl in zip(axes, wls):
        sel = [a for a in aggs if a["equivalent"] == wl]
        div, unit = _time_unit([a["p50_ns"] for a in sel] + [a["p99_ns"] for a in sel])
        for label, pts in _lines(sel, "vcpus").items():
            xs = [a["vcpus"] for a in pts]
            ax.plot(xs, [a["p50_ns"] / div for a in pts], "o-", color=colors[label],
                    label=f"{label} p50")
            if any(a["p99_ns"] is not None for a in pts):
                ax.plot(xs, [a["p99_ns"] / div if a["p99_ns"] is not None else None
                             for a in pts], "s--", color=colors[label], alpha=0.7,
                        label=f"{label} p99")
        if _spans_decades([a["p50_ns"] for a in sel] + [a["p99_ns"] for a in sel]):
            _log_scale(ax, "y")
        ax.set_title(wl)
        ax.set_xlabel("vCPUs")
        ax.set_ylabel(f"latency ({unit})")
        ax.set_xticks(sorted({a["vcpus"] for a in sel}))
        ax.grid(True, alpha=0.3)
    return _save(fig, path)


def _plot_vs_pages(platform: str, aggs: List[dict], colors: dict, path: Path
                 ) -> Optional[Path]:
    aggs, base = _baseline([a for a in aggs if a["p50_ns"] is not None])
    if not aggs:
        return None
    top = _widest(aggs)
    aggs = [a for a in aggs if a["vcpus"] == top]
    if len({a["pages"] for a in aggs}) < 2:
        return None  # one range size: nothing to draw a line through
    wls = _workloads(aggs)
    fig, axes = _subplots(len(wls), f"{platform} ({_guests_text(aggs)}): p50 latency vs "
                          f"range size, {top} vCPUs, {base}, {_reps_text(aggs)}")
    for ax, wl in zip(axes, wls):
        sel = [a for a in aggs if a["equivalent"] == wl]
        div, unit = _time_unit(a["p50_ns"] for a in sel)
        for label, pts in _lines(sel, "pages").items():
            ax.plot([a["pages"] for a in pts], [a["p50_ns"] / div for a in pts], "o-",
                    color=colors[label], label=label)
        ax.set_xscale("log", base=2)
        ticks = sorted({a["pages"] for a in sel})
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.minorticks_off()
        if _spans_decades(a["p50_ns"] for a in sel):
            _log_scale(ax, "y")
        ax.set_title(wl)
        ax.set_xlabel("pages per shootdown (4 KiB each)")
        ax.set_ylabel(f"p50 latency ({unit})")
        ax.grid(True, alpha=0.3, which="both")
    return _save(fig, path)


def _plot_floor_ratio(platform: str, aggs: List[dict], colors: dict, path: Path
                 ) -> Optional[Path]:
    aggs, base, small = _smallest_range([a for a in aggs if a["ratio_to_floor"] is not None
                                         and a["guest"] != "linux"])
    if not aggs:
        return None
    wls = _workloads(aggs)
    fig, axes = _subplots(len(wls), f"{platform} ({_guests_text(aggs)}): p50 / IPI floor "
                          f"vs vCPUs, {small} page(s), {base}, {_reps_text(aggs)}")
    for ax, wl in zip(axes, wls):
        sel = [a for a in aggs if a["equivalent"] == wl]
        for label, pts in _lines(sel, "vcpus").items():
            ax.plot([a["vcpus"] for a in pts], [a["ratio_to_floor"] for a in pts], "o-",
                    color=colors[label], label=label)
        ax.axhline(1.0, color="grey", linestyle=":", linewidth=1)
        ax.set_title(wl)
        ax.set_xlabel("vCPUs")
        ax.set_ylabel("p50 / IPI broadcast floor p50 (x)")
        ax.set_xticks(sorted({a["vcpus"] for a in sel}))
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
    return _save(fig, path)


def _cdf_rows(runs: List[dict], platform: str) -> List[Tuple[records.Record, dict, dict]]:
    """(shootdown record, its row, its run's histograms) of the valid, placeable scenarios of
    one platform that have a latency histogram, at the baseline, the smallest range and the
    widest vCPU count (_widest)."""
    rows = []
    for run in runs:
        if (run.get("config") or {}).get("platform") != platform:
            continue
        hists = results.histograms(run)
        for rec in records.of_kind(results.run_records(run), "shootdown"):
            row = results.scenario_row(run, rec)
            ok = row["status"] == "ok" and not row["violations"] and not row["watchdog"]
            if ok and row["vcpus"] is not None and row["tsc_khz"] \
                    and (rec["scenario"], "latency") in hists:
                rows.append((rec, row, hists))
    if not rows:
        return []
    base_aggs, _ = _baseline([r[1] for r in rows])
    keep = {(a["overcommit"], a["firmware"]) for a in base_aggs}
    rows = [r for r in rows if (r[1]["overcommit"], r[1]["firmware"]) in keep]
    small = min(r[1]["pages"] for r in rows)
    rows = [r for r in rows if r[1]["pages"] == small]
    top = _widest([r[1] for r in rows])
    return [r for r in rows if r[1]["vcpus"] == top]


def cdf_series(runs: List[dict], platform: str) -> Tuple[Dict[tuple, List[Tuple[float, int]]],
                                                          dict]:
    """The CDF data of one platform (_cdf_rows): {(equivalent workload, label): [(high_ns,
    count), ...]} with the repetitions' buckets pooled, plus a description dict (pages,
    vcpus, base, reps, guests). Empty when there is nothing to plot."""
    rows = _cdf_rows(runs, platform)
    if not rows:
        return {}, {}
    options = varying([row for _, row, _ in rows])
    series: Dict[tuple, List[Tuple[float, int]]] = {}
    reps: Dict[tuple, set] = {}
    for rec, row, hists in rows:
        flush = row["linux_flush"] or "unknown flush"
        kinds = [("latency", f"linux MT ({flush})" if row["guest"] == "linux"
                  else _line_label(dict(row, options=options))),
                 ("reference", f"linux ST reference ({flush})")]
        for of, label in kinds:
            buckets = hists.get((rec["scenario"], of))
            if not buckets:
                continue
            key = (row["equivalent"], label)
            # A bucket's upper bound: the CDF at x says "this share took at most x".
            series.setdefault(key, []).extend(
                (results.cycles_to_ns(b[1], row["tsc_khz"]), int(b[2])) for b in buckets)
            reps.setdefault(key, set()).add(row["rep"])
    first = rows[0][1]
    desc = {"pages": first["pages"], "vcpus": first["vcpus"],
            "base": _baseline([row for _, row, _ in rows])[1],
            "reps": sorted({len(v) for v in reps.values()}),
            "guests": "+".join(sorted({row["guest"] for _, row, _ in rows},
                                      key=lambda g: (guest_order(g), g)))}
    return series, desc


def _plot_cdf(platform: str, runs: List[dict], colors: dict, path: Path
              ) -> Optional[Path]:
    series, d = cdf_series(runs, platform)
    series = {k: v for k, v in series.items() if sum(c for _, c in v) > 0}
    if not series:
        return None
    wls = _workloads([{"equivalent": k[0]} for k in series])
    reps = "-".join(str(n) for n in (d["reps"][0], d["reps"][-1])) if len(d["reps"]) > 1 \
        else str(d["reps"][0])
    fig, axes = _subplots(len(wls), f"{platform} ({d['guests']}): latency CDF, "
                          f"{d['pages']} page(s), {d['vcpus']} vCPUs, {d['base']}, {reps} reps "
                          f"pooled")
    for ax, wl in zip(axes, wls):
        div, unit = _time_unit(x for (w, _), pts in series.items() if w == wl for x, _ in pts)
        for (w, label), pts in sorted(series.items(), key=lambda kv: kv[0][1]):
            if w != wl:
                continue
            pts = sorted((x / div, c) for x, c in pts)
            total = sum(c for _, c in pts)
            xs, ys, acc = [], [], 0
            for x, c in pts:
                acc += c
                xs.append(x)
                ys.append(acc / total)
            # Linux's MT and ST curves take the colour of its line in the other plots.
            ref = label.startswith("linux ST")
            color = colors.get(re.sub(r"^linux (MT|ST reference) ", "linux ", label))
            ax.step(xs, ys, where="post", linestyle="--" if ref else "-", color=color,
                    label=label)
        _log_scale(ax, "x")
        ax.set_ylim(0, 1.02)
        ax.set_title(wl)
        ax.set_xlabel(f"latency ({unit})")
        ax.set_ylabel("fraction of shootdowns ≤ x")
        ax.grid(True, alpha=0.3, which="both")
    return _save(fig, path)


def plot_pv_ratio(rows: List[dict], path: Path) -> Optional[Path]:
    """One panel per metric: every shape series (shape.py) with two or more levels, its ratio
    against effective overcommit with the level's interval as an error bar; 1 and the goal
    (0.1) drawn. None without such a series."""
    per_metric = {m: [s for s in shape.series(rows, m) + shape.linux_series(rows, m)
                      if len(s.levels) >= 2] for m in shape.METRICS}
    if not any(per_metric.values()):
        return None
    fig, axes = _subplots(len(shape.METRICS), "PV / IPI vs overcommit (below 1: PV wins)")
    for ax, m in zip(axes, shape.METRICS):
        for s in per_metric[m]:
            xs = [lv.overcommit for lv in s.levels]
            ys = [lv.ratio for lv in s.levels]
            err = [[max(0.0, lv.ratio - lv.low) if lv.low is not None else 0 for lv in s.levels],
                   [max(0.0, lv.high - lv.ratio) if lv.high is not None else 0 for lv in s.levels]]
            label = f"{s.key.get('platform')} {s.backend}" + (
                "" if s.backend == "linux" else f" targets={s.key.get('targets')}")
            ax.errorbar(xs, ys, yerr=err, marker="o", capsize=3, label=label,
                        linestyle="--" if s.backend == "linux" else "-")
        ax.axhline(1.0, color="grey", linewidth=0.8)
        ax.axhline(shape.GOAL_RATIO, color="grey", linewidth=0.8, linestyle=":")
        ax.set_xlabel("effective overcommit (vCPUs per host CPU)")
        ax.set_ylabel(f"{m} ratio PV / IPI")
        ax.set_title(m)
        ax.set_yscale("log")
        ax.grid(True, alpha=0.3, which="both")
    return _save(fig, path)


def _safe_name(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(s))


def write_plots(rd: ResultsDir) -> List[Path]:
    """plots/<kind>-<platform>.png for each kind of PLOT_KINDS that has data. Raises
    PlotsUnavailable without matplotlib (write_reports turns that into a note)."""
    if plt is None:
        raise PlotsUnavailable(MISSING)
    out_dir = rd.path / "plots"
    out_dir.mkdir(parents=True, exist_ok=True)
    # Plots of an earlier report that have no data now must not linger as if current.
    for kind in PLOT_KINDS:
        for old in out_dir.glob(f"{kind}-*.png"):
            old.unlink()
    runs = rd.runs()
    # A plot needs a position on its axes: rows without vCPUs cannot be placed.
    aggs = [a for a in aggregate(results.scenario_rows(runs))
            if valid(a) and a["vcpus"] is not None]
    made = []
    for p in sorted({a["platform"] for a in aggs if a["platform"]}):
        pa = [a for a in aggs if a["platform"] == p]
        options = varying(pa)
        pa = [dict(a, options=options) for a in pa]
        colors = _palette(pa)
        name = _safe_name(p)
        for kind, fn, arg in (("latency_vs_vcpus", _plot_vs_vcpus, pa),
                              ("latency_vs_pages", _plot_vs_pages, pa),
                              ("cdf", _plot_cdf, runs),
                              ("floor_ratio", _plot_floor_ratio, pa)):
            try:
                path = fn(p, arg, colors, out_dir / f"{kind}-{name}.png")
            except Exception as e:  # noqa: BLE001 - odd data costs one plot, not the report
                plt.close("all")
                warnings.warn(f"plot {kind}-{name}.png skipped: {type(e).__name__}: {e}")
                continue
            if path is not None:
                made.append(path)
    try:
        path = plot_pv_ratio(results.scenario_rows(runs), out_dir / "pv_ratio-all.png")
    except Exception as e:  # noqa: BLE001
        plt.close("all")
        warnings.warn(f"plot pv_ratio-all.png skipped: {type(e).__name__}: {e}")
        path = None
    if path is not None:
        made.append(path)
    return made
