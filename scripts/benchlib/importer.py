"""Import a serial capture taken on a Hyper-V host (scripts/hyperv/Invoke-TlbstormHyperV.ps1)
into a results directory, as one more run beside those the harness booted itself."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Optional

from . import records
from .results import NOT_SHOWN, ResultsDir, host_environment
from .runner import now, tlbrun


class ImportError_(Exception):
    """A one-line reason why the capture cannot be imported."""


def parse_capture(path: Path):
    """-> the tlbrun.SerialParser fed with the whole capture (records, verdict, lines), and its
    records as Records (records.load: an invalid one refuses the capture)."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise ImportError_(f"{path}: cannot read: {e.strerror}")
    parser = tlbrun.SerialParser()
    try:
        parser.feed(data)
        parser.finish()
    except RecursionError:  # json.loads on a record nested thousands deep; not a ValueError
        raise ImportError_(f"{path}: a TLBSTORM record nests too deeply to be read")
    if not parser.records:
        raise ImportError_(f"{path}: no TLBSTORM records in the capture (is it tlbstorm's COM1 "
                           f"output?)")
    try:
        recs = records.load(parser.records)
    except records.RecordError as e:
        raise ImportError_(f"{path}: invalid record: {e}")
    return parser, recs


def _config(recs, platform: str, firmware: str, vcpus: int, memory: Optional[int], rep: int,
            capture: Path) -> dict:
    """The run's `config`, as far as the capture's records tell it (the bench record's lists)."""
    bench, boot = records.first(recs, "bench"), records.first(recs, "boot")
    env = _env(recs)
    lists = {name: records.bench_list(bench, name) if bench else []
             for name in ("backends", "workloads", "pages")}
    return {"guest": "tlbstorm", "platform": platform, "firmware": firmware, "vcpus": vcpus,
            "overcommit": 1, "rep": rep, "host_cpus": None, "effective_overcommit": None,
            "memory": memory, "timeout": None, **lists,
            "iterations": bench["iterations"] if bench else None,
            "warmup": bench["warmup"] if bench else None,
            "cmdline": boot["cmdline"] if boot else None, "imported_from": str(capture),
            "hyperv_host_cpu": env["cpu_brand"] if env else None,
            "hypervisor_vendor": env["hypervisor_vendor"] if env else None}


def _env(recs) -> Optional[records.Record]:
    """The guest's environment: the first bench or shootdown record's `env`."""
    rec = next((r for r in recs if r.kind in ("bench", "shootdown")), None)
    return rec["env"] if rec else None


def _new_run_id(rd: ResultsDir, platform: str, firmware: str, vcpus: int,
                label: Optional[str]) -> tuple:
    """(run id, repetition): the next free repetition of this shape, or `label`."""
    base = f"tlbstorm-{platform}-{firmware}-v{vcpus}-o1-r"
    rep = 0
    while rd.run_dir(f"{base}{rep}").exists():
        rep += 1
    run_id = label or f"{base}{rep}"
    if rd.run_dir(run_id).exists():
        raise ImportError_(f"{rd.path} already has a run {run_id}")
    return run_id, rep


def results_dir(out: Path, what: str = "Hyper-V captures (scripts/bench import-hyperv)",
                name: str = "hyperv-import") -> ResultsDir:
    """out as a results directory, created (empty plan) when missing."""
    rd = ResultsDir(out)
    if not rd.exists():
        if out.exists() and any(Path(out).iterdir()):
            raise ImportError_(f"{out} exists and is not a results directory")
        rd.create(f"# imported {what}\n", ".toml", [], host_environment(), name)
    return rd


def import_hyperv(capture: Path, out: Path, generation: int, vcpus: Optional[int],
                  memory: Optional[int], label: Optional[str] = None) -> dict:
    """Add the capture to `out` (created when missing) as run hyperv-gen<G>-...; returns the
    run dict. The host environment is the Hyper-V host's as far as the guest saw it (CPU
    brand, hypervisor vendor, vCPUs); the importing machine is recorded separately."""
    if generation not in (1, 2):
        raise ImportError_(f"--generation must be 1 or 2, not {generation}")
    parser, recs = parse_capture(capture)
    env = _env(recs)
    seen_cpus = env["cpus"] if env else None
    if vcpus is not None and seen_cpus is not None and vcpus != seen_cpus:
        raise ImportError_(f"--vcpus {vcpus} but the capture's records say {seen_cpus} CPUs "
                           f"were online")
    vcpus = vcpus or seen_cpus or 1
    rd = results_dir(out)
    platform = f"hyperv-gen{generation}"
    firmware = "bios" if generation == 1 else "uefi"
    run_id, rep = _new_run_id(rd, platform, firmware, vcpus, label)
    return save_run(rd, run_id, _config(recs, platform, firmware, vcpus, memory, rep, capture),
                    parser, capture, "hyperv")


def save_run(rd: ResultsDir, run_id: str, config: dict, parser, capture: Path, accel: str,
             warnings: Optional[list] = None) -> dict:
    """Save a boot read from a capture (its parser: records, case lines, verdict) as run
    `run_id` of rd, the capture as its serial.log; returns the run dict."""
    recs = records.load(parser.records)
    verdict = parser.verdict[0] if parser.verdict else None
    vrec = records.first(recs, "verdict")
    detection, detection_warning = tlbrun.run_detection(vrec.data if vrec else None, parser)
    result = {"id": run_id, "config": config,
              "outcome": verdict if verdict in records.VERDICTS else "no-verdict",
              "status": parser.verdict[1] if parser.verdict else None, "verdict": verdict,
              "detection": detection,
              "attempts": 1, "duration_s": 0.0, "accel": accel,
              "summary": f"imported from {capture}: verdict {verdict or 'none'}"
                         + (", detection not shown" if verdict == "pass"
                            and detection == NOT_SHOWN else ""),
              "error": None if verdict else "the capture ends without a verdict line",
              "warnings": [f"unparsable record: {line[:120]}" for line, _ in parser.bad_records]
                          + ([detection_warning] if detection_warning else []) + (warnings or []),
              "qemu_argv": [], "inner_argv": [], "host": rd.host(), "records": parser.records,
              "cases": parser.cases,
              "log": "serial.log", "finished": now()}
    rd.save_run(result)
    shutil.copyfile(capture, rd.run_dir(run_id) / "serial.log")
    return result
