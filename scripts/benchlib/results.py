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
from typing import Dict, Iterable, List, Optional

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
        write_json_atomic(d / "result.json", result)

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
        """Every finished run, in plan order (runs not in the plan, e.g. imports, at the end)."""
        found: Dict[str, dict] = {}
        if self.runs_dir.is_dir():
            for f in sorted(self.runs_dir.glob("*/result.json")):
                try:
                    found[f.parent.name] = json.loads(f.read_text())
                except (OSError, ValueError):
                    continue  # a torn write cannot happen (atomic), but a hand edit can
        order = {c["id"]: i for i, c in enumerate(self.plan())} if self.exists() else {}
        return sorted(found.values(), key=lambda r: (order.get(r["id"], len(order)), r["id"]))

    def done_ids(self) -> set:
        return {r["id"] for r in self.runs()}

    def write_records_jsonl(self) -> int:
        """records.jsonl: every record of every run, with the run's id, configuration and the
        host environment, one JSON object per line. Returns the number of lines."""
        host = self.host()
        n = 0
        tmp = self.path / ".records.jsonl.tmp"
        with open(tmp, "w") as f:
            for run in self.runs():
                for rec in run.get("records") or []:
                    f.write(json.dumps({"run_id": run["id"], "config": run["config"],
                                        "host": run.get("host", host), **rec}) + "\n")
                    n += 1
        os.replace(tmp, self.path / "records.jsonl")
        return n


# ---------------------------------------------------------------------------------------------
# Scenario rows: one flat dict per shootdown record, what every report is made of


ROW_FIELDS = ["run_id", "guest", "platform", "accel", "firmware", "vcpus", "overcommit",
              "effective_overcommit", "host_cpus", "rep", "backend", "workload", "equivalent", "pages", "iterations",
              "status", "min_ns", "p50_ns", "p90_ns", "p99_ns", "p999_ns", "max_ns", "mean_ns",
              "p50_cycles", "p99_cycles", "per_s", "floor_p50_ns", "ratio_to_floor",
              "violations", "detection", "detection_by", "detection_reason", "opportunities",
              "canary_violations", "watchdog", "fallbacks", "skipped_targets", "steal_ns",
              "reference_p50_ns", "shootdown_cost_p50_ns", "tsc_khz", "hypervisor",
              "linux_flush", "version"]

# The Linux peer's operations and the tlbstorm workloads they correspond to.
EQUIVALENT = {"madvise": "remap", "mprotect": "protect", "munmap": "unmap"}


def _violations(rec: dict) -> int:
    o = rec.get("oracle") or {}
    return sum(int(o.get(k, 0)) for k in ("stale_reads", "writes_after_readonly",
                                          "reads_after_unmap", "unexpected_faults"))


def _detection(rec: dict) -> Dict[str, object]:
    """The row's detection columns (docs/records.md, "Detection"); None where the record has
    no such field (records from before detection existed: unknown)."""
    det = rec.get("detection")
    det = det if isinstance(det, dict) else {}
    canary = det.get("canary")
    return {"detection": det.get("status"), "detection_by": det.get("by"),
            "detection_reason": det.get("reason"),
            "opportunities": (rec.get("oracle") or {}).get("opportunities"),
            "canary_violations": canary.get("violations") if isinstance(canary, dict) else None}


NOT_SHOWN = "not shown"
PASS_NOT_SHOWN = "pass, detection not shown"


def run_detection(run: dict) -> Optional[str]:
    """A run's detection claim ("shown", "not shown", None: none made or unknown): the result's
    own `detection`, else its verdict record's (result.json files from before it was kept)."""
    if "detection" in run:
        return run["detection"]
    vrec = next((r for r in run.get("records") or [] if r.get("record") == "verdict"), None)
    return vrec.get("detection") if vrec else None


def outcome_label(run: dict) -> str:
    """The outcome as people read it: a pass that did not show detection is never a plain
    pass (docs/bench.md)."""
    outcome = run.get("outcome", "unknown")
    if outcome == "pass" and run_detection(run) == NOT_SHOWN:
        return PASS_NOT_SHOWN
    return outcome


def _floor_ns(run: dict) -> Optional[int]:
    for rec in run.get("records") or []:
        if rec.get("record") == "ipi_floor":
            return (rec.get("broadcast") or {}).get("p50_ns")
    return None


def cycles_to_ns(cycles: Optional[float], tsc_khz: Optional[int]) -> Optional[float]:
    if cycles is None or not tsc_khz:
        return None
    return cycles * 1e6 / tsc_khz


def scenario_rows(runs: Iterable[dict]) -> List[dict]:
    rows = []
    for run in runs:
        cfg = run["config"]
        floor = _floor_ns(run)
        for rec in run.get("records") or []:
            if rec.get("record") != "shootdown":
                continue
            env = rec.get("env") or {}
            lat = rec.get("latency_ns") or {}
            cyc = rec.get("latency_cycles") or {}
            ref = rec.get("reference_latency_ns") or {}
            workload = rec.get("workload")
            rows.append({
                "run_id": run["id"], "guest": cfg.get("guest", "tlbstorm"),
                "platform": cfg.get("platform"), "accel": run.get("accel"),
                "firmware": cfg.get("firmware"), "vcpus": cfg.get("vcpus"),
                "overcommit": cfg.get("overcommit"),
                # what the boot really had: vCPUs per host CPU QEMU was pinned to
                "effective_overcommit": cfg.get("effective_overcommit"),
                "host_cpus": len(cfg.get("host_cpus") or []) or None,
                "rep": cfg.get("rep", 0), "backend": rec.get("backend"), "workload": workload,
                "equivalent": rec.get("equivalent", EQUIVALENT.get(workload, workload)),
                "pages": rec.get("pages"), "iterations": rec.get("iterations"),
                "status": rec.get("status"),
                "min_ns": lat.get("min"), "p50_ns": lat.get("p50"), "p90_ns": lat.get("p90"),
                "p99_ns": lat.get("p99"), "p999_ns": lat.get("p999"), "max_ns": lat.get("max"),
                "mean_ns": lat.get("mean"), "p50_cycles": cyc.get("p50"),
                "p99_cycles": cyc.get("p99"), "per_s": rec.get("shootdowns_per_s"),
                "floor_p50_ns": floor if rec.get("backend") != "linux" else None,
                "ratio_to_floor": rec.get("ratio_to_ipi_floor_p50"),
                "violations": _violations(rec), **_detection(rec),
                "watchdog": rec.get("watchdog_timeouts", 0),
                "fallbacks": rec.get("fallbacks", 0),
                "skipped_targets": rec.get("skipped_targets", 0),
                "steal_ns": rec.get("steal_ns", 0),
                "reference_p50_ns": ref.get("p50"),
                "shootdown_cost_p50_ns": rec.get("shootdown_cost_ns_p50"),
                "tsc_khz": env.get("tsc_khz"), "hypervisor": env.get("hypervisor"),
                "linux_flush": env.get("linux_flush"), "version": env.get("version"),
            })
    return rows


def histograms(run: dict) -> Dict[tuple, List[List[int]]]:
    """(scenario, of) -> buckets [[low, high, count], ...] in cycles, parts joined."""
    out: Dict[tuple, List[List[int]]] = {}
    for rec in run.get("records") or []:
        if rec.get("record") == "latency_hist":
            key = (rec["scenario"], rec.get("of", "latency"))
            out.setdefault(key, []).extend(rec["buckets"])
    return out


def scenario_histogram(run: dict, rec: dict, of: str = "latency") -> List[List[int]]:
    return histograms(run).get((rec.get("scenario"), of), [])
