"""LAVA (docs/fleets.md, "LAVA"): one job definition per boot of a matrix, for the `qemu` device
type with the `monitors` test action matching the kernel's case lines, and the import of a
job's log back into a results directory like any other.

A job carries its boot's QEMU settings as the qemu device type's context variables (machine,
cpu, memory, extra_options), the images as `tmpfs` deploy images with their `image_arg`, and
the matrix configuration and the case ids it must print in `metadata`. For LAVA's local runner,
`lava-run`, each job also gets a device dictionary rendered from the same settings the way a
lab's qemu device-type template would."""

from __future__ import annotations

import json
import math
import re
import shlex
import shutil
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import yaml

from . import cases, importer
from . import matrix as mx
from .runner import run_config, tlbrun

MONITOR = "tlbstorm"                  # the monitors action's name: LAVA's test definition
START = "TLB shootdown benchmark"     # the kernel's banner, its first line of its own
END = "tlbstorm: verdict"             # the verdict line, its last
# Options the device's own command line (or the lab's template) sets: the console and display.
DEVICE_OPTIONS = ("-display", "-monitor", "-chardev", "-serial")
IMAGES = {"direct": ("kernel",), "bios": ("iso", "config")}
META = "tlbstorm"


class _Dumper(yaml.SafeDumper):
    """Plain YAML for people to read: no anchors and aliases for repeated values."""

    def ignore_aliases(self, data):
        return True


def _dump(data: dict) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, width=1000)


class LavaError(Exception):
    """A one-line reason a job cannot be made or a log cannot be imported."""


def refusal(c: dict) -> Optional[str]:
    """Why this configuration cannot be a LAVA qemu job, or None."""
    if mx.PLATFORMS[c["platform"]][0] != "qemu":
        return (f"platform {c['platform']} is not plain QEMU (the nested lab, or Hyper-V "
                f"enlightenments probed on this host); LAVA's qemu device type runs tcg and kvm")
    if c["guest"] != "tlbstorm":
        return "the Linux guest needs its initramfs built here; only tlbstorm boots are jobs"
    if c["firmware"] not in IMAGES:
        return "uefi needs a writable OVMF variable store per boot; use direct or bios"
    return None


def _pairs(argv: List[str]) -> List[Tuple[str, Optional[str]]]:
    """QEMU's argv (without the binary) as (option, value) pairs."""
    out, i = [], 0
    while i < len(argv):
        value = argv[i + 1] if i + 1 < len(argv) and not argv[i + 1].startswith("-") else None
        out.append((argv[i], value))
        i += 2 if value is not None else 1
    return out


def _split(argv: List[str]) -> Tuple[Dict[str, object], List[str]]:
    """(context variables, the image options) of a boot's QEMU argv."""
    ctx: Dict[str, object] = {"arch": "amd64"}
    extra, images = [], []
    for opt, value in _pairs(argv[1:]):
        if opt in ("-machine", "-cpu"):
            ctx[opt[1:]] = value
        elif opt == "-m":
            ctx["memory"] = int(value)
        elif opt in ("-kernel", "-append", "-drive", "-device") and (
                opt != "-device" or value.startswith("ide-")):
            images += [opt, value]
        elif opt == "-accel":
            if value == "tcg":
                ctx["no_kvm"] = "True"
                extra.append(f"-accel {value}")
        elif opt not in DEVICE_OPTIONS:
            extra.append(opt if value is None else f"{opt} {value}")
    ctx["extra_options"] = extra
    return ctx, images


def _image_args(images: List[str], paths: Dict[str, Path]) -> Dict[str, str]:
    """label -> image_arg: the options naming each image, its path as {label}."""
    args: Dict[str, List[str]] = {label: [] for label in paths}
    owner = None
    for opt, value in _pairs(images):
        for label, path in paths.items():
            if str(path) in value:
                value, owner = value.replace(str(path), "{%s}" % label), label
        args[owner].append(f"{opt} {shlex.quote(value) if opt == '-append' else value}")
    return {label: " ".join(a) for label, a in args.items()}


def _images(c: dict, cfg, images: Path) -> Tuple[Dict[str, Path], Path]:
    """The boot's images under `images` (label -> path), and the QEMU workdir they are named in."""
    work = images / c["id"]
    work.mkdir(parents=True, exist_ok=True)
    if c["firmware"] == "direct":
        paths = {"kernel": images / "tlbstorm.elf"}
        shutil.copyfile(tlbrun.REPO_ROOT / tlbrun.DEFAULT_ELF, paths["kernel"])
        cfg.elf = str(paths["kernel"])
    else:
        paths = {"iso": images / "tlbstorm.iso", "config": work / tlbrun.CONFIG_DISK}
        shutil.copyfile(tlbrun.REPO_ROOT / tlbrun.DEFAULT_ISO, paths["iso"])
        cfg.iso = str(paths["iso"])
        tlbrun.make_config_disk(paths["config"], cfg.cmdline, work)
    return paths, work


def expected(c: dict) -> List[str]:
    """The scenario ids the boot must print, as far as the matrix names its backends (auto and
    all resolve at boot: their scenarios are not listed) and the lists of its command line."""
    lists = dict(t.split("=", 1) for t in c["cmdline"].split() if "=" in t)
    if lists.get("mode", "bench") != "bench":
        return []
    suffix = [(f, lists[f].split(",")) for _, f in cases.SUFFIX_LISTS
              if len(lists.get(f, "").split(",")) > 1]
    backends = dict.fromkeys(b for b in c["backends"] if b not in cases.RESOLVED_AT_BOOT)
    return cases.product_ids(backends, c["workloads"], c["pages"], suffix)


def device(ctx: dict) -> dict:
    """A qemu device dictionary for lava-run with these context variables, rendered as a lab's
    qemu device-type template renders them: console on stdio, the context's options appended."""
    options = [f"-machine {ctx['machine']}", f"-cpu {ctx['cpu']}", f"-m {ctx['memory']}",
               "-display none", "-monitor none", "-chardev stdio,id=ser0,signal=off",
               "-serial chardev:ser0"] + ([] if ctx.get("no_kvm") else ["-enable-kvm"])
    stub = {"interrupt-prompt": "-", "interrupt-character": "-", "error-messages": ["-"]}
    return {
        "device_info": [{"board_id": "tlbstorm-local"}],
        "constants": {"failure_retry": 1, "boot_retry": 0, "kernel-start-message": START,
                      "shutdown-message": END, "default-shell-prompt": "lava-test: # ",
                      "posix": {"lava_test_sh_cmd": "/bin/sh",
                                "lava_test_results_dir": "/lava-%s",
                                "lava_test_shell_file": "~/.bashrc"},
                      "barebox": {**stub, "final-message": "-"},
                      "u-boot": {**stub, "final-message": "-", "dfu-download": "-"},
                      "grub": stub, "grub-efi": stub, "ipxe": stub,
                      "depthcharge": {"final-message": "-", "error-messages": ["-"]},
                      "kexec": {"boot-message": "-"}},
        "available_architectures": ["amd64"], "commands": {},
        "timeouts": {"actions": {}, "connections": {}},
        "actions": {
            "deploy": {"methods": {"tmpfs": None, "image": {"parameters": {"guest": {"size": 512}}}},
                       "connections": {"serial": None}},
            "boot": {"connections": {"serial": None},
                     "methods": {"qemu": {"parameters": {
                         "command": tlbrun.QEMU_BINARY,
                         "options": options + list(ctx["extra_options"])}}}}}}


def job(c: dict, out: Path, base_url: Optional[str]) -> Tuple[dict, dict]:
    """(job definition, local device dictionary) of one configuration; its images go to out."""
    _, accel, _, _ = mx.PLATFORMS[c["platform"]]
    cfg = run_config(c, out / f"{c['id']}.log")
    images = out / "images"
    paths, work = _images(c, cfg, images)
    ctx, image_opts = _split(tlbrun.build_qemu_argv(cfg, accel=accel, workdir=work))
    url = base_url.rstrip("/") + "/" if base_url else images.resolve().as_uri() + "/"
    deploy = {label: {"image_arg": arg, "url": url + paths[label].relative_to(images).as_posix()}
              for label, arg in _image_args(image_opts, paths).items()}
    minutes = max(2, math.ceil(float(c["timeout"]) / 60) + 1)
    definition = {
        "job_name": f"tlbstorm {c['id']}", "device_type": "qemu", "visibility": "public",
        "priority": "medium", "context": ctx,
        "timeouts": {"job": {"minutes": minutes + 3}, "action": {"minutes": minutes},
                     "connection": {"minutes": 2}},
        "metadata": {f"{META}.run_id": c["id"], f"{META}.config": json.dumps(c, sort_keys=True),
                     f"{META}.expected": ",".join(expected(c))},
        "actions": [
            {"deploy": {"to": "tmpfs", "timeout": {"minutes": 2}, "images": deploy}},
            {"boot": {"method": "qemu", "media": "tmpfs", "timeout": {"minutes": minutes}}},
            {"test": {"timeout": {"minutes": minutes},
                      "monitors": [{"name": MONITOR, "start": START, "end": END,
                                    "pattern": tlbrun.CASE_PATTERN}]}}]}
    return definition, device(ctx)


def write_jobs(m: mx.Matrix, out: Path, base_url: Optional[str] = None) -> Tuple[List[Path], List[str]]:
    """<id>.yaml (the job) and <id>.device.yaml (for lava-run) per boot of the matrix, and
    images/; returns the jobs written and one line per configuration left out, with why."""
    out.mkdir(parents=True, exist_ok=True)
    written, left = [], []
    for c in mx.expand(m):
        why = refusal(c)
        if why:
            left.append(f"{c['id']}: {why}")
            continue
        definition, dev = job(c, out, base_url)
        path = out / f"{c['id']}.yaml"
        path.write_text(_dump(definition))
        (out / f"{c['id']}.device.yaml").write_text(_dump(dev))
        written.append(path)
    if not written:
        raise LavaError("no configuration of the matrix can be a LAVA qemu job: " + "; ".join(left))
    return written, left


# ---------------------------------------------------------------------------------------------
# Import


def _unescape(msg: str) -> str:
    # LAVA's shell logger writes each '"' of the target's output as '\"' (lava_dispatcher.shell).
    return msg.replace('\\"', '"')


def _entry(line: str):
    # lava-run's lines are JSON but for a few YAML tags (`"size": ! "938728"`); YAML reads both.
    try:
        return json.loads(line)
    except ValueError:
        return yaml.safe_load(line)


def read_log(path: Path) -> Tuple[str, List[dict]]:
    """(the serial output, the monitor's results) of a job log: what lava-run prints (on stderr;
    one JSON object per line, other lines skipped) or a LAVA server's output.yaml (a YAML list
    of the same objects)."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError as e:
        raise LavaError(f"{path}: cannot read: {e.strerror}")
    try:
        entries = yaml.safe_load(text) if text.lstrip().startswith("- ") else \
            [_entry(x) for x in text.splitlines() if x.strip().startswith("{")]
    except (ValueError, yaml.YAMLError) as e:
        raise LavaError(f"{path}: not a LAVA job log (JSON lines or output.yaml): {e}")
    if not entries or not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise LavaError(f"{path}: not a LAVA job log (a list of log entries)")
    # The guest's output is "target"; what LAVA reads after the test action ends (the verdict
    # line can come that late) is "feedback".
    serial = "\n".join(_unescape(e["msg"]) for e in entries
                       if e.get("lvl") in ("target", "feedback") and isinstance(e.get("msg"), str))
    results = [e["msg"] for e in entries if e.get("lvl") == "results"
               and isinstance(e.get("msg"), dict) and e["msg"].get("definition") == MONITOR]
    return serial + "\n", results


def _disagreements(results: List[dict], cases_seen: List[dict]) -> List[str]:
    """Where LAVA's parsed results and the serial case lines differ (they should not)."""
    lava = {(r.get("extra") or {}).get("test_case_id"): r.get("result") for r in results}
    serial = {c["id"]: c["result"] for c in cases_seen}
    return [f"LAVA recorded {cid}: {lava.get(cid)}, the case line says {serial.get(cid)}"
            for cid in sorted(set(lava) | set(serial), key=str) if lava.get(cid) != serial.get(cid)]


def import_job(job_path: Path, log_path: Path, out: Path) -> dict:
    """Add one LAVA job's boot to the results directory out (created when missing), as the run
    its job was made for; returns the run dict."""
    try:
        meta = (yaml.safe_load(Path(job_path).read_text()) or {}).get("metadata") or {}
        config = json.loads(meta[f"{META}.config"])
        run_id = meta[f"{META}.run_id"]
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as e:
        raise LavaError(f"{job_path}: not a job made by `scripts/bench lava` ({e})")
    serial, results = read_log(log_path)
    rd = importer.results_dir(out, "LAVA jobs (scripts/bench import-lava)", "lava-import")
    if rd.run_dir(run_id).exists():
        raise LavaError(f"{out} already has a run {run_id}")
    capture = Path(out) / f".{run_id}.serial"
    capture.write_text(serial)
    try:
        parser, _ = importer.parse_capture(capture)
    except importer.ImportError_ as e:
        raise LavaError(str(e))
    lost = cases.missing([x for x in meta.get(f"{META}.expected", "").split(",") if x], parser.cases)
    warnings = _disagreements(results, parser.cases) + \
        [f"the job expected case {x}, the boot never printed it" for x in lost]
    accel = mx.PLATFORMS[config["platform"]][1]
    config = {**config, "imported_from": f"LAVA: {log_path}"}
    try:
        return importer.save_run(rd, run_id, {k: v for k, v in config.items() if k != "id"},
                                 parser, capture, accel, warnings)
    finally:
        capture.unlink()
