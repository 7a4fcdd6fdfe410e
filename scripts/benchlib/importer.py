"""Import a serial capture taken on a Hyper-V host (scripts/hyperv/Invoke-TlbstormHyperV.ps1)
into a results directory, as one more run beside those the harness booted itself."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Optional

from .results import ResultsDir, host_environment
from .runner import now, tlbrun

VERDICT_OUTCOMES = ("pass", "fail", "usage", "skip", "error")


class ImportError_(Exception):
    """A one-line reason why the capture cannot be imported."""


def parse_capture(path: Path):
    """-> the tlbrun.SerialParser fed with the whole capture (records, verdict, lines)."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise ImportError_(f"{path}: cannot read: {e.strerror}")
    parser = tlbrun.SerialParser()
    parser.feed(data)
    parser.finish()
    if not parser.records:
        raise ImportError_(f"{path}: no TLBSTORM records in the capture (is it tlbstorm's COM1 "
                           f"output?)")
    return parser


def import_hyperv(capture: Path, out: Path, generation: int, vcpus: Optional[int],
                  memory: Optional[int], label: Optional[str] = None) -> dict:
    """Add the capture to `out` (created when missing) as run hyperv-gen<G>-...; returns the
    run dict. The host environment is the Hyper-V host's as far as the guest saw it (CPU
    brand, hypervisor vendor, vCPUs); the importing machine is recorded separately."""
    if generation not in (1, 2):
        raise ImportError_(f"--generation must be 1 or 2, not {generation}")
    parser = parse_capture(capture)
    recs = parser.records
    env = next((r["env"] for r in recs if r.get("record") in ("bench", "shootdown")
                and isinstance(r.get("env"), dict)), {})
    seen_cpus = env.get("cpus")
    if vcpus is not None and seen_cpus is not None and vcpus != seen_cpus:
        raise ImportError_(f"--vcpus {vcpus} but the capture's records say {seen_cpus} CPUs "
                           f"were online")
    vcpus = vcpus or seen_cpus or 1
    verdict = parser.verdict[0] if parser.verdict else None
    detection, detection_warning = tlbrun.run_detection(
        next((r for r in recs if r.get("record") == "verdict"), None), parser)
    rd = ResultsDir(out)
    if not rd.exists():
        if out.exists() and any(Path(out).iterdir()):
            raise ImportError_(f"{out} exists and is not a results directory")
        rd.create("# imported Hyper-V captures (scripts/bench import-hyperv)\n", ".toml", [],
                  host_environment(), "hyperv-import")
    platform = f"hyperv-gen{generation}"
    firmware = "bios" if generation == 1 else "uefi"
    boot = next((r for r in recs if r.get("record") == "boot"), {})
    base = f"tlbstorm-{platform}-{firmware}-v{vcpus}-o1-r"
    rep = 0
    while rd.run_dir(f"{base}{rep}").exists():
        rep += 1
    run_id = label or f"{base}{rep}"
    if rd.run_dir(run_id).exists():
        raise ImportError_(f"{out} already has a run {run_id}")
    bench = next((r for r in recs if r.get("record") == "bench"), {})
    config = {"guest": "tlbstorm", "platform": platform, "firmware": firmware, "vcpus": vcpus,
              "overcommit": 1, "rep": rep, "host_cpus": None, "effective_overcommit": None,
              "memory": memory, "timeout": None,
              "backends": str(bench.get("backends", "")).split(",") if bench else [],
              "workloads": str(bench.get("workloads", "")).split(",") if bench else [],
              "pages": [int(p) for p in str(bench.get("pages", "")).split(",") if p.isdigit()],
              "iterations": bench.get("iterations"), "warmup": bench.get("warmup"),
              "cmdline": boot.get("cmdline"), "imported_from": str(capture),
              "hyperv_host_cpu": env.get("cpu_brand"),
              "hypervisor_vendor": env.get("hypervisor_vendor")}
    result = {"id": run_id, "config": config,
              "outcome": verdict if verdict in VERDICT_OUTCOMES else "no-verdict",
              "status": parser.verdict[1] if parser.verdict else None, "verdict": verdict,
              "detection": detection,
              "attempts": 1, "duration_s": 0.0, "accel": "hyperv",
              "summary": f"imported from {capture}: verdict {verdict or 'none'}"
                         + (", detection not shown" if verdict == "pass"
                            and detection == "not shown" else ""),
              "error": None if verdict else "the capture ends without a verdict line",
              "warnings": [f"unparsable record: {line[:120]}" for line, _ in parser.bad_records]
                          + ([detection_warning] if detection_warning else []),
              "qemu_argv": [], "inner_argv": [], "host": rd.host(), "records": recs,
              "log": "serial.log", "finished": now()}
    rd.save_run(result)
    shutil.copyfile(capture, rd.run_dir(run_id) / "serial.log")
    return result
