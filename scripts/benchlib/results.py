"""A results directory: the one place a benchmark's runs live (docs/bench.md, "Results").

    <dir>/matrix.toml        the matrix as given (matrix.json for JSON matrices)
    <dir>/plan.json          every configuration of the matrix, in run order, with its id
    <dir>/host.json          the host environment (CPU, cores, QEMU, kernel revision, ...)
    <dir>/runs/<id>/result.json   one finished boot: configuration, outcome, every record
    <dir>/runs/<id>/serial.log    its raw serial output (the last attempt's)
    <dir>/records.jsonl      every record of every run, with its run's configuration and host
    <dir>/results.csv, summary.md, plots/*.png   reports, rebuilt from runs/ at any time

runs/<id>/result.json is written atomically when a boot ends, so a crash, a timeout or Ctrl-C
loses at most the boot in flight, and a rerun resumes by skipping the ids already there.
Everything else is derived from runs/ and can be rebuilt (`scripts/bench report DIR`)."""

from __future__ import annotations

import datetime
import json
import os
import platform as pyplatform
import re
import subprocess
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple

from . import records

REPO_ROOT = Path(__file__).resolve().parents[2]
FORMAT = 1          # bump when the layout of a results directory changes


class ResultsError(Exception):
    """A one-line reason why a results directory cannot be used."""


def write_json_atomic(path: Path, data) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1, sort_keys=False)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _cmd_output(argv: List[str], cwd: Optional[Path] = None) -> Optional[str]:
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=20, cwd=cwd)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return p.stdout.strip() if p.returncode == 0 else None


def host_environment(qemu: str = "qemu-system-x86_64") -> Dict[str, object]:
    """What a reader needs to interpret the numbers: the host, QEMU and kernel revisions."""
    cpu_model = None
    flags: List[str] = []
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and cpu_model is None:
                cpu_model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = value.split()
    except OSError:
        pass
    qemu_version = _cmd_output([qemu, "--version"])
    return {
        "hostname": pyplatform.node(),
        "host_cpu": cpu_model,
        "host_cpus_online": os.cpu_count(),
        "host_cpus_available": len(os.sched_getaffinity(0)),
        "host_hypervisor_flag": "hypervisor" in flags,   # is the host itself a VM?
        "host_kernel": pyplatform.release(),
        "host_os": _os_release(),
        "kvm_device": os.access("/dev/kvm", os.R_OK | os.W_OK),
        "qemu_version": qemu_version.splitlines()[0] if qemu_version else None,
        "tlbstorm_revision": _cmd_output(["git", "describe", "--always", "--dirty"], REPO_ROOT),
        "python": pyplatform.python_version(),
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def _os_release() -> Optional[str]:
    try:
        text = Path("/etc/os-release").read_text()
    except OSError:
        return None
    m = re.search(r'^PRETTY_NAME="?([^"\n]*)"?', text, re.M)
    return m.group(1) if m else None


class ResultsDir:
    def __init__(self, path: Path):
        self.path = Path(path)
        # result.json -> ((mtime, size), loaded run): validating records is not free, and one
        # report reads the runs several times. Treat the loaded runs as read-only.
        self._loaded: Dict[Path, tuple] = {}

    # -- layout
    @property
    def runs_dir(self) -> Path:
        return self.path / "runs"

    def run_dir(self, run_id: str) -> Path:
        return self.runs_dir / run_id

    def exists(self) -> bool:
        return (self.path / "plan.json").is_file()

    # -- writing
    def create(self, matrix_text: str, matrix_suffix: str, plan: List[dict], host: dict,
               name: str = "") -> None:
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        (self.path / f"matrix{matrix_suffix}").write_text(matrix_text)
        write_json_atomic(self.path / "plan.json", {"format": FORMAT, "matrix": name,
                                                    "configurations": plan})
        write_json_atomic(self.path / "host.json", host)

    def save_run(self, result: dict) -> None:
        d = self.run_dir(result["id"])
        d.mkdir(parents=True, exist_ok=True)
        write_json_atomic(d / "result.json", {k: v for k, v in result.items()
                                              if k not in DERIVED})

    # -- reading
    def plan(self) -> List[dict]:
        try:
            data = json.loads((self.path / "plan.json").read_text())
        except (OSError, ValueError) as e:
            raise ResultsError(f"{self.path}: not a results directory (plan.json: {e})")
        if data.get("format") != FORMAT:
            raise ResultsError(f"{self.path}: results format {data.get('format')}, this harness "
                               f"reads format {FORMAT}")
        return data["configurations"]

    def host(self) -> dict:
        try:
            return json.loads((self.path / "host.json").read_text())
        except (OSError, ValueError):
            return {}

    def runs(self) -> List[dict]:
        """Every finished run (load_run: run_records(run) are its records typed, `invalid` says
        why when one is not), in plan order (runs not in the plan, e.g. imports, at the end)."""
        found: Dict[str, dict] = {}
        if self.runs_dir.is_dir():
            for f in sorted(self.runs_dir.glob("*/result.json")):
                try:
                    found[f.parent.name] = self._load(f)
                except (OSError, ValueError, KeyError, TypeError):
                    continue  # damaged(): a torn write cannot happen (atomic), a hand edit can
        order = {c["id"]: i for i, c in enumerate(self.plan())} if self.exists() else {}
        return sorted(found.values(), key=lambda r: (order.get(r["id"], len(order)), r["id"]))

    def _load(self, f: Path) -> dict:
        st = f.stat()
        stamp = (st.st_mtime_ns, st.st_size)
        if self._loaded.get(f, (None,))[0] != stamp:
            self._loaded[f] = (stamp, load_run(json.loads(f.read_text())))
        return self._loaded[f][1]

    def damaged(self) -> List[Tuple[str, str]]:
        """(run id, why) for every runs/<id>/result.json that cannot be read (a hand edit, a
        disk that filled up under another writer): runs() leaves them out, so they run again
        on --resume; set_aside() moves one out of the way first, so nothing is silently lost."""
        out = []
        if self.runs_dir.is_dir():
            for f in sorted(self.runs_dir.glob("*/result.json")):
                try:
                    self._load(f)
                except (OSError, ValueError, KeyError, TypeError) as e:
                    out.append((f.parent.name, f"{type(e).__name__}: {e}"[:200]))
        return out

    def set_aside(self, run_id: str) -> Path:
        """Rename a damaged result.json to result.json.damaged-N (N: the first free)."""
        f = self.run_dir(run_id) / "result.json"
        n = 1
        while (dest := f.with_name(f"result.json.damaged-{n}")).exists():
            n += 1
        f.replace(dest)
        return dest

    def done_ids(self) -> set:
        return {r["id"] for r in self.runs()}

    def write_records_jsonl(self) -> int:
        """records.jsonl: every record of every run whose records are valid, with the run's
        id, configuration and the host environment, one JSON object per line. Returns the
        number of lines."""
        host = self.host()
        n = 0
        tmp = self.path / ".records.jsonl.tmp"
        with open(tmp, "w") as f:
            for run in self.runs():
                for rec in run_records(run):
                    f.write(json.dumps({"run_id": run["id"], "config": run["config"],
                                        "host": run.get("host", host), **rec.data}) + "\n")
                    n += 1
        os.replace(tmp, self.path / "records.jsonl")
        return n


# ---------------------------------------------------------------------------------------------
# Loading runs: their records through the typed layer (records.py)


def records_problem(raw_records: Iterable[dict]) -> Optional[str]:
    """None when every record matches the schema, else the one-line reason of the first that
    does not (the run is then invalid: docs/bench.md, "Invalid records")."""
    try:
        records.load(raw_records)
    except records.RecordError as e:
        return f"invalid record: {e}"
    return None


# Keys load_run adds to a result.json dict; save_run leaves them out.
DERIVED = ("_records", "invalid")


def load_run(data: dict) -> dict:
    """result.json as the reports read it: `records` stay the plain dicts stored, and
    `_records` (read it through run_records) holds them as Records. A run with a record the
    schema refuses gets none and `invalid`, the one-line reason."""
    try:
        data["_records"] = records.load(data.get("records") or [])
    except records.RecordError as e:
        data["_records"], data["invalid"] = [], f"invalid record: {e}"
    return data


def run_records(run: dict) -> List[records.Record]:
    """A run's records as Records (none when one is invalid: run["invalid"] says why)."""
    if "_records" not in run:
        load_run(run)
    return run["_records"]


# ---------------------------------------------------------------------------------------------
# Scenario rows: one flat dict per shootdown record, what every report is made of

# Of the run (its configuration in the matrix), then the scenario's own configuration (the
# shootdown record's fields marked "x-scenario" in the schema, in schema order), then results.
RUN_FIELDS = ["run_id", "guest", "platform", "accel", "firmware", "vcpus", "overcommit",
              "effective_overcommit", "host_cpus", "rep"]
RESULT_FIELDS = ["equivalent", "status", "min_ns", "p50_ns", "p90_ns", "p99_ns", "p999_ns",
                 "max_ns", "mean_ns", "p50_ci_low_ns", "p50_ci_high_ns", "p99_ci_low_ns",
                 "p99_ci_high_ns", "p99_low_confidence", "p50_cycles", "p99_cycles", "per_s",
                 "null_p50_ns", "ratio_to_null", "untargeted", "suspected_preemptions",
                 "floor_p50_ns",
                 "ratio_to_floor", "violations", "detection", "detection_by",
                 "detection_reason", "opportunities", "canary_violations", "watchdog",
                 "fallbacks", "skipped_targets", "steal_ns", "reference_p50_ns",
                 "shootdown_cost_p50_ns", "entry_p50_cycles", "handler_p50_cycles",
                 "seen_p50_cycles", "offset_uncertainty_cycles", "refill_per_page_p50_cycles",
                 "linux_flush_p50_ns", "linux_flush_p50_ci_low_ns",
                 "linux_flush_p50_ci_high_ns", "linux_flush_p99_ns", "linux_flush_p50_cycles",
                 "linux_flush_calls", "linux_flush_paths", "linux_flush_unavailable", "tsc_khz",
                 "hypervisor", "linux_flush", "version"]
ROW_FIELDS = RUN_FIELDS + list(records.SCENARIO_FIELDS) + RESULT_FIELDS

NOT_SHOWN = "not shown"
PASS_NOT_SHOWN = "pass, detection not shown"
RECORDS_INVALID = "records invalid"


def run_detection(run: dict) -> Optional[str]:
    """A run's detection claim ("shown", "not shown", None: none made): the result's own
    `detection`, else its verdict record's (result.json files from before it was kept)."""
    if "detection" in run:
        return run["detection"]
    verdict = records.first(run_records(run), "verdict")
    return verdict["detection"] if verdict else None


def outcome_label(run: dict) -> str:
    """The outcome as people read it: a pass that did not show detection is never a plain
    pass, and a run with an invalid record says so (docs/bench.md)."""
    outcome = run.get("outcome", "unknown")
    if run.get("invalid"):
        return f"{outcome}, {RECORDS_INVALID}"
    if outcome == "pass" and run_detection(run) == NOT_SHOWN:
        return PASS_NOT_SHOWN
    return outcome


def _floor_ns(run: dict) -> Optional[int]:
    floor = records.first(run_records(run), "ipi_floor")
    return floor["broadcast"]["p50_ns"] if floor else None


def cycles_to_ns(cycles: Optional[float], tsc_khz: Optional[int]) -> Optional[float]:
    if cycles is None or not tsc_khz:
        return None
    return cycles * 1e6 / tsc_khz


def _run_columns(run: dict) -> dict:
    cfg = run["config"]
    return {"run_id": run["id"], "guest": cfg.get("guest", "tlbstorm"),
            "platform": cfg.get("platform"), "accel": run.get("accel"),
            "firmware": cfg.get("firmware"), "vcpus": cfg.get("vcpus"),
            "overcommit": cfg.get("overcommit"),
            # what the boot really had: vCPUs per host CPU QEMU was pinned to
            "effective_overcommit": cfg.get("effective_overcommit"),
            "host_cpus": len(cfg.get("host_cpus") or []) or None, "rep": cfg.get("rep", 0)}


def _interval_columns(lat: records.Record) -> dict:
    """The about-95% intervals of p50 and p99, and whether p99 is bounded by enough samples."""
    p50, p99 = lat["p50_ci"], lat["p99_ci"]
    return {"p50_ci_low_ns": p50[0], "p50_ci_high_ns": p50[1], "p99_ci_low_ns": p99[0],
            "p99_ci_high_ns": p99[1], "p99_low_confidence": lat["p99_low_confidence"]}


def _flush_columns(rec: records.Record) -> dict:
    """The Linux peer's own flush as ftrace timed it (docs/linux.md, "Linux's flush, traced"):
    p50 with its interval and p99 in ns, p50 in cycles, the calls traced, the remote-flush
    functions the warmup's flushes called (`name=calls;...`, the record's order) and why it was
    not measured. None for tlbstorm's records, and the summaries' columns when not measured."""
    ns, cyc = rec.opt("linux_flush_ns"), rec.opt("linux_flush_cycles")
    paths = rec.opt("linux_flush_paths")
    return {"linux_flush_p50_ns": None if ns is None else ns["p50"],
            "linux_flush_p50_ci_low_ns": None if ns is None else ns["p50_ci"][0],
            "linux_flush_p50_ci_high_ns": None if ns is None else ns["p50_ci"][1],
            "linux_flush_p99_ns": None if ns is None else ns["p99"],
            "linux_flush_p50_cycles": None if cyc is None else cyc["p50"],
            "linux_flush_calls": rec.opt("linux_flush_calls"),
            "linux_flush_paths": None if paths is None else ";".join(
                f"{name}={calls}" for name, calls in paths.data.items()),
            "linux_flush_unavailable": rec.opt("linux_flush_unavailable")}


def _target_columns(rec: records.Record) -> dict:
    """The targets' side (docs/records.md, `breakdown` and `refill`), p50s in cycles; None where
    the record has none (every CPU initiating, flush hypercalls, `breakdown=0`, the Linux peer)."""
    b, f = rec.opt("breakdown"), rec.opt("refill")

    def p50(key):
        return None if b is None or b[key] is None else b[key]["p50"]

    return {"entry_p50_cycles": p50("entry_cycles"), "handler_p50_cycles": p50("handler_cycles"),
            "seen_p50_cycles": p50("seen_cycles"),
            "offset_uncertainty_cycles": None if b is None else b["offset_uncertainty_cycles"],
            "refill_per_page_p50_cycles": None if f is None else f["per_page_p50_cycles"]}


def _result_columns(rec: records.Record, floor: Optional[int]) -> dict:
    lat, cyc, env = rec["latency_ns"], rec["latency_cycles"], rec["env"]
    det, ref = rec["detection"], rec.opt("reference_latency_ns")
    null = rec["null_latency_ns"]
    linux = rec["backend"] == "linux"
    return {
        "equivalent": rec.opt("equivalent") or rec["workload"], "status": rec["status"],
        **{f"{k}_ns": lat[k] for k in ("min", "p50", "p90", "p99", "p999", "max", "mean")},
        **_interval_columns(lat),
        "p50_cycles": cyc["p50"], "p99_cycles": cyc["p99"], "per_s": rec["shootdowns_per_s"],
        "null_p50_ns": null["p50"] if null else None, "ratio_to_null": rec["ratio_to_null_p50"],
        "untargeted": rec["untargeted_shootdowns"],
        "suspected_preemptions": rec["suspected_preemptions"],
        "floor_p50_ns": None if linux else floor,
        "ratio_to_floor": rec["ratio_to_ipi_floor_p50"],
        # the kernel's own total (docs/records.md, `oracle`), summed once, there
        "violations": rec["oracle"]["violations"],
        "detection": det["status"], "detection_by": det["by"], "detection_reason": det["reason"],
        "opportunities": rec["oracle"]["opportunities"],
        "canary_violations": det["canary"]["violations"] if det["canary"] else None,
        "watchdog": rec["watchdog_timeouts"], "fallbacks": rec["fallbacks"],
        "skipped_targets": rec["skipped_targets"], "steal_ns": rec["steal_ns"],
        "reference_p50_ns": ref["p50"] if ref else None,
        "shootdown_cost_p50_ns": rec.opt("shootdown_cost_ns_p50"), **_target_columns(rec),
        **_flush_columns(rec),
        "tsc_khz": env["tsc_khz"], "hypervisor": env["hypervisor"],
        "linux_flush": env.opt("linux_flush"), "version": env["version"]}


def scenario_row(run: dict, rec: records.Record, floor: Optional[int] = None) -> dict:
    """The row of one shootdown record of a loaded run (load_run)."""
    return {**_run_columns(run), **{f: rec[f] for f in records.SCENARIO_FIELDS},
            **_result_columns(rec, floor)}


def scenario_rows(runs: Iterable[dict]) -> List[dict]:
    """One row per shootdown record of loaded runs, in order (invalid runs have none)."""
    rows = []
    for run in runs:
        floor = _floor_ns(run)
        rows += [scenario_row(run, rec, floor)
                 for rec in records.of_kind(run_records(run), "shootdown")]
    return rows


def histograms(run: dict) -> Dict[tuple, List[List[int]]]:
    """(scenario, of) -> buckets [[low, high, count], ...] in cycles, parts joined."""
    out: Dict[tuple, List[List[int]]] = {}
    for rec in records.of_kind(run_records(run), "latency_hist"):
        out.setdefault((rec["scenario"], rec["of"]), []).extend(rec["buckets"])
    return out
