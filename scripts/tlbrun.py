"""Boot tlbstorm under QEMU and turn the run into a verdict (standard library only).

The pieces, for scripts/run, the boot tests and a benchmark harness:

    cfg = RunConfig(firmware="direct", cmdline="mode=selftest", quiet=True)
    res = run(cfg)          # -> RunResult; never raises for guest or host problems
    res.status              # 0..4 kernel verdict, 5 timeout, 6 no verdict, 7 host/usage problem
    res.records             # parsed `TLBSTORM {...}` JSON records

`build_qemu_argv(cfg, accel=..., workdir=...)` is the pure argv builder. Platforms (how the
guest is started) live behind the `Platform` class. A platform plans a launch (argv plus the
files it needs), and decodes the launcher's exit status; the serial pump, the pause/screendump
protocol, timeouts and the verdict logic are shared. Platforms:

    qemu             QEMU on this host (TCG or KVM)
    hvlab            the Hyper-V lab (docs/hvlab.md): an outer TCG VM with a Debian kernel whose
                     KVM emulates Hyper-V runs the inner QEMU `-cpu host,hv-...`
    host-kvm-hyperv  the same hv-* flags straight on this host's KVM (when it emulates Hyper-V)
    auto-hyperv      host-kvm-hyperv when this host's KVM accepts the hv-* flags, else hvlab
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import math
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, TextIO, Tuple

REPO_ROOT = Path(__file__).resolve().parent.parent
EXIT_HEADER = REPO_ROOT / "kernel" / "exit.h"

DEFAULT_ISO = Path("build/tlbstorm.iso")  # relative to REPO_ROOT
DEFAULT_ELF = Path("build/tlbstorm.elf")
DEFAULT_LOG_DIR = Path("build/logs")

OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
QEMU_BINARY = "qemu-system-x86_64"
KVM_DEVICE = "/dev/kvm"
DEBUG_EXIT_IOBASE = 0xF4

FIRMWARES = ("bios", "uefi", "direct")
ACCELS = ("tcg", "kvm", "auto")
MACHINES = ("q35", "pc")

# The run script's own statuses, after the kernel's verdict codes 0..4.
STATUS_TIMEOUT = 5
STATUS_NO_VERDICT = 6
STATUS_HOST = 7

# Hyper-V emulation (platforms hvlab, host-kvm-hyperv, auto-hyperv). Never hv-passthrough: it
# changes the vendor string to "Linux KVM Hv".
DEFAULT_HV_FLAGS = ("hv-relaxed", "hv-vpindex", "hv-tlbflush", "hv-ipi", "hv-time",
                    "hv-frequencies")
OPTIONAL_HV_FLAGS = ("hv-xmm-input", "hv-tlbflush-ext")
_HV_FLAG_RE = re.compile(r"^hv-[a-z0-9][a-z0-9-]*(=[A-Za-z0-9]+)?$")
HYPERV_PLATFORMS = ("hvlab", "host-kvm-hyperv", "auto-hyperv")

HVLAB_SCRIPT = REPO_ROOT / "scripts" / "hvlab"
HVLAB_DIR = REPO_ROOT / "build" / "hvlab"
HVLAB_KERNEL = HVLAB_DIR / "vmlinuz"
HVLAB_INITRD = HVLAB_DIR / "initrd.cpio.gz"
HVLAB_OUTER_CPU = "EPYC"            # TCG emulates AMD SVM with nested paging for it
HVLAB_OUTER_CMDLINE = "console=ttyS0 quiet loglevel=1 panic=1 mitigations=off"
HVLAB_BOOT_MARGIN = 90.0            # outer timeout = inner timeout + this (outer boot ~7 s)
HVLAB_BUILD_TIMEOUT = 1200.0        # scripts/hvlab build, cold
HVLAB_GUEST_DIR = "/hvlab"          # where the per-run files appear in the outer VM
HVLAB_ATTEMPTS = 3                  # boots when the lab fails before the guest prints anything
# The Linux peer (docs/linux.md): a Debian kernel whose init runs tlbpeer, built by
# scripts/linuxguest. QEMU boots the kernel's ELF through its PVH entry (no real-mode setup code,
# which takes minutes under a nested KVM). The same kernel arguments on every platform; tlbpeer's
# options follow `--`.
GUESTS = ("tlbstorm", "linux")
# How the guests' own console lines start (tlbstorm's kernel, the Linux peer's init and tlbpeer),
# as opposed to firmware and boot loader output.
GUEST_LINE_PREFIXES = ("tlbstorm", "linuxpeer", "tlbpeer")
# QEMU's message when KVM cannot run or emulate a guest instruction: the VM is paused, not ended.
KVM_STOP_MARK = "KVM internal error"
LINUX_GUEST_SCRIPT = REPO_ROOT / "scripts" / "linuxguest"
LINUX_GUEST_DIR = REPO_ROOT / "build" / "linuxguest"
LINUX_KERNEL_NAME = "vmlinux"
LINUX_INITRD_NAME = "initrd.cpio.gz"
LINUX_KERNEL_ARGS = "console=ttyS0,115200 quiet loglevel=4 panic=-1"
LINUX_BUILD_TIMEOUT = 1200.0        # scripts/linuxguest build, cold (downloads the kernel)
HVLAB_LAB_CODES = {241: "lab problem", 243: "inner QEMU refused its arguments",
                   245: "inner timeout", 247: "inner QEMU ended without a kernel exit code"}

# Used only when kernel/exit.h is missing; the header is the single definition.
FALLBACK_EXIT_CODES = {"pass": 0, "fail": 1, "usage": 2, "skip": 3, "error": 4}

RECORD_PREFIX = "TLBSTORM "
PAUSE_LINE = "TLBSTORM-PAUSE"
# `tlbstorm: verdict pass (exit 0)`; a benchmark that passed without showing detection says
# `tlbstorm: verdict pass, detection not shown (exit 0)` (docs/records.md, "Detection").
VERDICT_RE = re.compile(r"^tlbstorm: verdict ([a-z]+)(, detection not shown)? \(exit (-?\d+)\)")
DETECTION_NOT_SHOWN = "not shown"
_EXIT_DEFINE_RE = re.compile(r"^\s*#\s*define\s+EXIT_([A-Z][A-Z0-9_]*)\s+(\d+)\b", re.M)
# ANSI/VT escape sequences (CSI, OSC, two-byte ESC x) and other C0 controls except tab.
_ESCAPE_RE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[ -/]*[0-~]"
                        r"|[\x00-\x08\x0b-\x1f\x7f]")


class HostError(Exception):
    """A problem with the host or the run-script usage: status 7, with a message for the user."""


# --------------------------------------------------------------------------------------------
# Exit codes


def parse_exit_codes(text: str) -> Dict[str, int]:
    """The verdict codes from the text of kernel/exit.h: {"pass": 0, "fail": 1, ...}."""
    return {m.group(1).lower(): int(m.group(2)) for m in _EXIT_DEFINE_RE.finditer(text)}


def load_exit_codes(path: Path = EXIT_HEADER) -> Dict[str, int]:
    """Read the verdict codes from kernel/exit.h; the hard-coded table only if it is missing."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return dict(FALLBACK_EXIT_CODES)
    codes = parse_exit_codes(text)
    missing = [n for n in FALLBACK_EXIT_CODES if n not in codes]
    if missing:
        raise HostError(f"{path}: no #define EXIT_{missing[0].upper()} line")
    return codes


# --------------------------------------------------------------------------------------------
# Configuration and result


@dataclass
class RunConfig:
    firmware: str = "bios"            # bios | uefi | direct
    accel: str = "auto"               # tcg | kvm | auto
    cpu: Optional[str] = None         # CPU model; None = max (tcg) / host,-arch-capabilities (kvm)
    cpu_flags: str = ""               # ",a,b" appended to the model
    smp: int = 2
    memory: int = 512                 # MiB
    machine: str = "q35"              # q35 | pc, optionally with properties ("q35,a=b")
    timeout: float = 120.0            # seconds, from QEMU start
    cmdline: str = ""                 # kernel command line
    log: Optional[str] = None         # None = build/logs/<timestamp>-<firmware>.log
    update_last_log: bool = True      # point build/logs/last.log at this run's log
    quiet: bool = False               # do not echo serial output
    echo: Optional[object] = None     # binary stream for the serial echo (default sys.stdout)
    messages: Optional[TextIO] = None  # where `run: ...` lines go (None = nowhere)
    screendump: Optional[str] = None  # PPM file written at the pause point
    debug_exit: bool = True           # isa-debug-exit device present
    iso: Optional[str] = None         # None = build/tlbstorm.iso
    elf: Optional[str] = None         # None = build/tlbstorm.elf
    qemu_args: List[str] = field(default_factory=list)  # appended verbatim
    platform: str = "qemu"            # qemu | hvlab | host-kvm-hyperv | auto-hyperv
    guest: str = "tlbstorm"           # tlbstorm | linux (the Linux peer, docs/linux.md)
    hv_flags: Optional[str] = None    # Hyper-V platforms: None = DEFAULT_HV_FLAGS; "a,b" replaces
                                      # the set, "+a,b" adds to it
    qemu: str = QEMU_BINARY
    pause_ack_timeout: float = 20.0   # budget for the screendump at the pause point
    host_cpus: Optional[List[int]] = None  # host CPUs QEMU may run on (None = all): pinning
                                      # N vCPUs to fewer host CPUs overcommits them


@dataclass
class RunResult:
    status: int                       # the run script's exit status (see module docstring)
    verdict: Optional[str] = None     # pass/fail/usage/skip/error, None without a verdict
    kernel_code: Optional[int] = None  # code the kernel wrote to the debug-exit port
    timed_out: bool = False
    records: List[dict] = field(default_factory=list)
    bad_records: List[Tuple[str, str]] = field(default_factory=list)  # (line, JSON error)
    serial_verdict: Optional[Tuple[str, int]] = None  # from `tlbstorm: verdict X (exit N)`
    # The run's detection claim: the verdict record's `detection` ("shown", "not shown"; None
    # outside mode=bench or without the record), else "not shown" when the verdict line said so.
    detection: Optional[str] = None
    log_path: Optional[Path] = None
    duration_s: float = 0.0
    qemu_argv: List[str] = field(default_factory=list)
    accel: Optional[str] = None       # accelerator actually used
    firmware: Optional[str] = None
    machine: Optional[str] = None
    smp: Optional[int] = None
    memory: Optional[int] = None
    platform: Optional[str] = None
    guest: Optional[str] = None       # tlbstorm | linux
    cmdline: Optional[str] = None     # command line the kernel was given (with pause=1 etc.)
    qemu_returncode: Optional[int] = None
    qemu_stderr: str = ""
    paused: bool = False              # TLBSTORM-PAUSE seen
    screendump_path: Optional[Path] = None  # set when the screendump was taken and is complete
    lines: List[str] = field(default_factory=list)  # serial lines, escapes and \r stripped
    inner_argv: List[str] = field(default_factory=list)  # hvlab: the inner QEMU command
    lab: Dict[str, object] = field(default_factory=dict)  # hvlab: markers, timings, inner status
    warnings: List[str] = field(default_factory=list)
    error: Optional[str] = None       # host/usage problem (status 7) or QEMU failure text
    summary: str = ""

    @property
    def detection_not_shown(self) -> bool:
        """A pass that did not show it could have seen a broken flush: presented as
        `pass, detection not shown`, never as a plain pass."""
        return self.verdict == "pass" and self.detection == DETECTION_NOT_SHOWN

    def records_of(self, kind: str) -> List[dict]:
        return [r for r in self.records if r.get("record") == kind]

    def record(self, kind: str) -> Optional[dict]:
        found = self.records_of(kind)
        return found[0] if found else None

    def log_text(self) -> str:
        if self.log_path is None or not Path(self.log_path).exists():
            return ""
        return Path(self.log_path).read_text(encoding="utf-8", errors="replace")


# --------------------------------------------------------------------------------------------
# Serial output parsing


def clean_line(raw: str) -> str:
    """A serial line without \\r, terminal escape sequences or control characters."""
    return _ESCAPE_RE.sub("", raw).strip()


def parse_record(line: str):
    """For a cleaned serial line: None if it is not a record line, else (dict, None) or
    (None, error message) when the JSON does not parse or is not an object."""
    if not line.startswith(RECORD_PREFIX):
        return None
    payload = line[len(RECORD_PREFIX):].strip()
    try:
        obj = json.loads(payload)
    except ValueError as e:
        return None, f"bad JSON: {e}"
    if not isinstance(obj, dict):
        return None, "record is not a JSON object"
    return obj, None


def parse_verdict_line(line: str) -> Optional[Tuple[str, int]]:
    """`tlbstorm: verdict X[, detection not shown] (exit N)` -> (X, N), else None."""
    m = VERDICT_RE.match(line)
    return (m.group(1), int(m.group(3))) if m else None


def verdict_line_detection(line: str) -> Optional[str]:
    """The detection claim of a verdict line: "not shown" when it says so, else None."""
    m = VERDICT_RE.match(line)
    return DETECTION_NOT_SHOWN if m and m.group(2) else None


class SerialParser:
    """Splits the serial byte stream into lines and collects records and the verdict line."""

    def __init__(self):
        self._buf = b""
        self.lines: List[str] = []
        self.records: List[dict] = []
        self.bad_records: List[Tuple[str, str]] = []
        self.verdict: Optional[Tuple[str, int]] = None
        self.detection_not_shown = False  # the verdict line said `, detection not shown`
        self.pause_seen = False

    def feed(self, data: bytes) -> bool:
        """Consume bytes; True when the pause line has just been seen."""
        self._buf += data
        paused = False
        while b"\n" in self._buf:
            raw, self._buf = self._buf.split(b"\n", 1)
            paused |= self._line(raw.decode("utf-8", errors="replace"))
        # The pause line may come without its newline before the kernel starts waiting.
        if not self.pause_seen and clean_line(self._buf.decode("utf-8", "replace")) == PAUSE_LINE:
            self.pause_seen = paused = True
        return paused

    def finish(self) -> None:
        if self._buf:
            self._line(self._buf.decode("utf-8", errors="replace"))
            self._buf = b""

    def _line(self, raw: str) -> bool:
        line = clean_line(raw)
        self.lines.append(line)
        if line == PAUSE_LINE:
            if self.pause_seen:
                return False
            self.pause_seen = True
            return True
        rec = parse_record(line)
        if rec is not None:
            obj, err = rec
            if obj is not None:
                self.records.append(obj)
            else:
                self.bad_records.append((line, err))
            return False
        v = parse_verdict_line(line)
        if v is not None:
            self.verdict = v
            self.detection_not_shown = verdict_line_detection(line) == DETECTION_NOT_SHOWN
        return False


# --------------------------------------------------------------------------------------------
# Verdict decision (pure)


def decide_status(returncode: Optional[int], timed_out: bool, debug_exit: bool,
                  serial_verdict: Optional[Tuple[str, int]], codes: Dict[str, int]):
    """-> (status, verdict name or None, kernel code or None, [warnings], reason or None).

    The QEMU status wins over the serial verdict line when both exist and disagree. A QEMU
    status of 1 is what the kernel's pass looks like but also what QEMU returns when it fails,
    so it only counts as a pass when the serial verdict line was seen too."""
    names = {v: k for k, v in codes.items()}
    warnings: List[str] = []
    if timed_out:
        return STATUS_TIMEOUT, None, None, warnings, "timeout"
    rc = returncode
    if rc is None or rc < 0:
        what = f"signal {-rc}" if rc is not None else "unknown status"
        return STATUS_NO_VERDICT, None, None, warnings, f"QEMU was killed ({what})"
    if debug_exit and rc & 1 and not (rc == 1 and serial_verdict is None):
        code = rc >> 1
        name = names.get(code)
        if name is None:
            warnings.append(f"kernel exit code {code} is not a verdict code; counted as error")
            name, status = "error", codes["error"]
        else:
            status = code
        if serial_verdict is None:
            warnings.append("no `tlbstorm: verdict` line on the serial console")
        elif serial_verdict[0] != names.get(code) or serial_verdict[1] != code:
            warnings.append(f"serial line says verdict {serial_verdict[0]} (exit "
                            f"{serial_verdict[1]}) but QEMU's status says exit code {code}; "
                            f"trusting QEMU")
        return status, name, code, warnings, None
    if rc == 0 and not debug_exit:
        if serial_verdict is None:
            return (STATUS_NO_VERDICT, None, None, warnings,
                    "QEMU exited 0 with no verdict line (power-off, triple fault or crash)")
        name, code = serial_verdict
        status = codes.get(name)
        if status is None:
            warnings.append(f"unknown verdict {name!r} on the serial console; counted as error")
            name, status = "error", codes["error"]
        elif code != status:
            warnings.append(f"verdict line says {name} with exit {code}; "
                            f"kernel/exit.h says {name} is {status}")
        return status, name, None, warnings, None
    if rc == 0:
        reason = "QEMU exited 0 without a kernel exit code (triple fault with -no-reboot, or " \
                 "ACPI power-off)"
        if serial_verdict is not None:
            reason += f"; the serial console said verdict {serial_verdict[0]}"
        return STATUS_NO_VERDICT, None, None, warnings, reason
    return STATUS_NO_VERDICT, None, None, warnings, f"QEMU failed (exit status {rc})"


# --------------------------------------------------------------------------------------------
# Host checks and helpers


def kvm_openable(path: str = KVM_DEVICE) -> bool:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    os.close(fd)
    return True


def resolve_accel(requested: str) -> str:
    if requested == "auto":
        return "kvm" if kvm_openable() else "tcg"
    return requested


def probe_kvm(qemu: str = QEMU_BINARY, machine: str = "q35", timeout: float = 20.0):
    """Can QEMU start a KVM guest with our CPU model? -> (ok, reason). Starts a paused machine,
    which creates and resets the vCPUs (where `-cpu host` problems show up), then quits."""
    if not kvm_openable():
        return False, f"{KVM_DEVICE} cannot be opened read-write"
    if shutil.which(qemu) is None:
        return False, f"{qemu} not found"
    argv = [qemu, "-accel", "kvm", "-cpu", "host,-arch-capabilities", "-machine", machine,
            "-display", "none", "-nodefaults", "-S", "-qmp", "stdio"]
    cmds = '{"execute":"qmp_capabilities"}\n{"execute":"quit"}\n'
    try:
        p = subprocess.run(argv, input=cmds, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, "trial KVM QEMU did not quit"
    if p.returncode != 0:
        err = p.stderr.strip().splitlines()
        return False, f"trial KVM QEMU failed: {err[0] if err else p.returncode}"
    return True, "ok"


def _qemu_path_opt(path: Path) -> str:
    """A file name inside a QEMU -drive/-device option: commas are doubled."""
    return str(path).replace(",", ",,")


def validate_cmdline(cmdline: str) -> None:
    if "'" in cmdline:
        raise HostError("the kernel command line must not contain a single quote (') "
                        "(it is passed to GRUB inside '...')")
    if "\n" in cmdline or "\r" in cmdline:
        raise HostError("the kernel command line must be one line")


def effective_cmdline(config: RunConfig) -> str:
    """The command line the kernel gets: --cmdline plus pause=1 when a screendump is wanted."""
    cmdline = config.cmdline.strip()
    if config.screendump and "pause=1" not in cmdline.split():
        cmdline = f"{cmdline} pause=1".strip()
    return cmdline


def grub_config_text(cmdline: str) -> str:
    """The /tlbstorm.cfg that the ISO's GRUB sources."""
    validate_cmdline(cmdline)
    return f"set tlbstorm_cmdline='{cmdline}'\nset timeout=0\n"


def _resolve(path: Optional[str], default: Path) -> Path:
    return Path(path).resolve() if path else (REPO_ROOT / default)


def cpu_arg(config: RunConfig, accel: str) -> str:
    model = config.cpu or ("host,-arch-capabilities" if accel == "kvm" else "max")
    flags = config.cpu_flags.strip()
    if flags and not flags.startswith(","):
        flags = "," + flags
    return model + flags


def hv_flag_list(spec: Optional[str]) -> List[str]:
    """The hv-* CPU flags for a --hv-flags value: None or "" = the default set, "a,b" = exactly
    these, "+a,b" = the default set plus these. Only the syntax is checked here (hv-NAME or
    hv-NAME=VALUE); QEMU itself rejects unknown names."""
    spec = (spec or "").strip()
    flags: List[str] = []
    if not spec or spec.startswith("+"):
        flags += DEFAULT_HV_FLAGS
        spec = spec[1:]
    for f in spec.split(","):
        f = f.strip()
        if not f:
            continue
        if not _HV_FLAG_RE.match(f):
            raise HostError(f"--hv-flags: {f!r} is not a Hyper-V CPU flag (hv-NAME or "
                            f"hv-NAME=VALUE, e.g. {OPTIONAL_HV_FLAGS[0]})")
        if f.split("=", 1)[0] == "hv-passthrough":
            raise HostError("--hv-flags: hv-passthrough is not allowed (it changes the vendor "
                            "string to \"Linux KVM Hv\")")
        if f not in flags:
            flags.append(f)
    if not flags:
        raise HostError("--hv-flags: no flags")
    return flags


def validate_config(config: RunConfig) -> None:
    if config.firmware not in FIRMWARES:
        raise HostError(f"unknown firmware {config.firmware!r} (valid: {', '.join(FIRMWARES)})")
    if config.accel not in ACCELS:
        raise HostError(f"unknown accel {config.accel!r} (valid: {', '.join(ACCELS)})")
    if config.machine.split(",", 1)[0] not in MACHINES:
        raise HostError(f"unknown machine {config.machine!r} (valid: {', '.join(MACHINES)}, "
                        f"optionally with properties, e.g. q35,kernel-irqchip=split)")
    if config.platform not in PLATFORMS:
        raise HostError(f"unknown platform {config.platform!r} "
                        f"(valid: {', '.join(sorted(PLATFORMS))})")
    if config.hv_flags is not None:
        if config.platform not in HYPERV_PLATFORMS:
            raise HostError(f"--hv-flags needs a Hyper-V platform "
                            f"({', '.join(HYPERV_PLATFORMS)}), not {config.platform!r}")
        hv_flag_list(config.hv_flags)
    if config.guest not in GUESTS:
        raise HostError(f"unknown guest {config.guest!r} (valid: {', '.join(GUESTS)})")
    if config.guest == "linux" and config.firmware != "direct":
        raise HostError("--guest linux boots only with --firmware direct (QEMU loads the Linux "
                        "kernel and its initramfs itself)")
    if config.guest == "linux" and config.screendump:
        raise HostError("--screendump is not supported with --guest linux")
    if config.smp < 1:
        raise HostError("--smp must be at least 1")
    if config.memory < 16:
        raise HostError("--memory must be at least 16 MiB")
    if not config.timeout > 0:
        raise HostError("--timeout must be positive")
    if config.host_cpus is not None:
        allowed = os.sched_getaffinity(0)
        bad = [c for c in config.host_cpus if c not in allowed]
        if not config.host_cpus or bad:
            raise HostError(f"host CPUs {bad or '(none)'} are not available to this process "
                            f"(available: {sorted(allowed)})")
    validate_cmdline(config.cmdline)


# --------------------------------------------------------------------------------------------
# QEMU argv


CONFIG_DISK = "tlbstorm-cfg.img"
VARS_COPY = "OVMF_VARS.fd"
QMP_SOCKET = "qmp.sock"


def linux_append(config: RunConfig) -> str:
    """The Linux peer's kernel command line: LINUX_KERNEL_ARGS, then tlbpeer's options after
    `--` (the kernel passes those words to init as its arguments)."""
    return f"{LINUX_KERNEL_ARGS} -- {effective_cmdline(config)}".rstrip()


def build_qemu_argv(config: RunConfig, *, accel: str, workdir: Path,
                    linux_dir: Optional[Path] = None) -> List[str]:
    """The QEMU command line for a configuration (pure; files are named inside workdir).
    With guest linux, the kernel and initramfs are taken from linux_dir (default
    build/linuxguest).

    ISO boots attach the per-run GRUB config disk as an IDE/AHCI disk on bus ide.1 with
    bootindex=1 (after the CD's bootindex=0): OVMF only connects the devices in QEMU's boot
    order, so without a bootindex GRUB-EFI never sees the disk."""
    workdir = Path(workdir)
    argv = [config.qemu,
            "-machine", config.machine,
            "-accel", accel,
            "-cpu", cpu_arg(config, accel),
            "-smp", str(config.smp),
            "-m", str(config.memory),
            "-display", "none",
            "-no-reboot",
            "-monitor", "none",
            "-chardev", "stdio,id=ser0,signal=off",
            "-serial", "chardev:ser0"]
    if config.debug_exit:
        argv += ["-device", f"isa-debug-exit,iobase={DEBUG_EXIT_IOBASE:#x},iosize=0x04"]
    if config.firmware == "uefi":
        argv += ["-drive", f"if=pflash,format=raw,unit=0,readonly=on,"
                           f"file={_qemu_path_opt(OVMF_CODE)}",
                 "-drive", f"if=pflash,format=raw,unit=1,file={_qemu_path_opt(workdir / VARS_COPY)}"]
    if config.firmware in ("bios", "uefi"):
        iso = _resolve(config.iso, DEFAULT_ISO)
        argv += ["-drive", f"file={_qemu_path_opt(iso)},format=raw,if=none,id=cd0,media=cdrom,"
                           f"readonly=on",
                 "-device", "ide-cd,drive=cd0,bus=ide.0,bootindex=0",
                 "-drive", f"file={_qemu_path_opt(workdir / CONFIG_DISK)},format=raw,if=none,"
                           f"id=cfg",
                 "-device", "ide-hd,drive=cfg,bus=ide.1,bootindex=1"]
    elif config.guest == "linux":
        ldir = Path(linux_dir) if linux_dir is not None else LINUX_GUEST_DIR
        argv += ["-kernel", str(ldir / LINUX_KERNEL_NAME), "-initrd", str(ldir / LINUX_INITRD_NAME),
                 "-append", linux_append(config)]
    else:
        elf = _resolve(config.elf, DEFAULT_ELF)
        argv += ["-kernel", str(elf), "-append", effective_cmdline(config)]
    if config.screendump:
        argv += ["-qmp", f"unix:{workdir / QMP_SOCKET},server=on,wait=off"]
    argv += list(config.qemu_args)
    return argv


# --------------------------------------------------------------------------------------------
# Platforms


@dataclass
class Launch:
    """What a platform hands the shared runner."""
    argv: List[str]
    accel: str
    qmp_socket: Optional[Path] = None   # for the screendump; None = not supported
    timeout: Optional[float] = None     # launcher's own time limit; None = config.timeout
    inner_argv: List[str] = field(default_factory=list)  # hvlab: the QEMU inside the lab


class Platform:
    """How the guest is started. Subclasses: check the host, plan and prepare a launch, and
    decode the launcher's exit status into (returncode as if it were QEMU's)."""
    name = "?"
    # Seconds the launcher may take to end after the guest's verdict line; None = until the
    # timeout.
    verdict_grace: Optional[float] = None

    def check(self, config: RunConfig, accel: str) -> None:
        """Raise HostError for anything missing on the host."""

    def select(self, config: RunConfig, say: Callable[[str], None]) -> "Platform":
        """The platform that actually runs this configuration (auto-hyperv picks one)."""
        return self

    def resolve_accel(self, config: RunConfig) -> str:
        return resolve_accel(config.accel)

    def plan(self, config: RunConfig, accel: str, workdir: Path) -> Launch:
        raise NotImplementedError

    def prepare(self, config: RunConfig, launch: Launch, workdir: Path) -> None:
        """Create the files the launch needs inside workdir."""

    def qemu_returncode(self, returncode: int) -> int:
        return returncode

    def outcome(self, config: RunConfig, launch: Launch, returncode: Optional[int],
                timed_out: bool, parser: "SerialParser", codes: Dict[str, int],
                res: "RunResult"):
        """-> decide_status()'s tuple for a finished launch (may fill in res.timed_out,
        res.qemu_stderr, res.lab)."""
        rc = None if timed_out else self.qemu_returncode(returncode)
        status = decide_status(rc, timed_out, config.debug_exit, parser.verdict, codes)
        stopped = [ln for ln in res.qemu_stderr.splitlines() if KVM_STOP_MARK in ln]
        if stopped and parser.verdict is None:
            # QEMU pauses the VM on an internal error instead of exiting; the runner ends it
            # at once (_run_once) and this says why there is no verdict.
            return (STATUS_NO_VERDICT, None, None, status[3],
                    f"QEMU stopped the guest: {stopped[0].strip()} (KVM could not emulate an "
                    f"instruction of the guest)")
        return status


class QemuPlatform(Platform):
    name = "qemu"

    def check(self, config: RunConfig, accel: str) -> None:
        if shutil.which(config.qemu) is None:
            raise HostError(f"{config.qemu} not found: run scripts/deps")
        if config.guest == "linux":
            ensure_linux_guest(config.messages)
        elif config.firmware == "direct":
            elf = _resolve(config.elf, DEFAULT_ELF)
            if not elf.is_file():
                raise HostError(f"{elf} does not exist: run `make`"
                                if not config.elf else f"{elf} does not exist")
        else:
            iso = _resolve(config.iso, DEFAULT_ISO)
            if not iso.is_file():
                raise HostError(f"{iso} does not exist: run `make`"
                                if not config.iso else f"{iso} does not exist")
            for tool in ("mformat", "mcopy"):
                if shutil.which(tool) is None:
                    raise HostError(f"{tool} (mtools) not found: run scripts/deps")
        if config.firmware == "uefi":
            for f in (OVMF_CODE, OVMF_VARS):
                if not f.is_file():
                    raise HostError(f"{f} not found (OVMF): run scripts/deps")
        if accel == "kvm" and not kvm_openable():
            raise HostError(f"--accel kvm: {KVM_DEVICE} cannot be opened read-write")

    def plan(self, config: RunConfig, accel: str, workdir: Path) -> Launch:
        return Launch(argv=build_qemu_argv(config, accel=accel, workdir=workdir), accel=accel,
                      qmp_socket=(workdir / QMP_SOCKET) if config.screendump else None)

    def prepare(self, config: RunConfig, launch: Launch, workdir: Path) -> None:
        if config.firmware == "uefi":
            shutil.copyfile(OVMF_VARS, workdir / VARS_COPY)
        if config.firmware in ("bios", "uefi"):
            make_config_disk(workdir / CONFIG_DISK, effective_cmdline(config), workdir)
        if launch.qmp_socket is not None and len(str(launch.qmp_socket)) > 100:
            raise HostError(f"temporary directory path too long for a unix socket: {workdir}")


# --------------------------------------------------------------------------------------------
# Hyper-V platforms


_HYPERV_PROBES: Dict[Tuple[str, str, str], Tuple[bool, str]] = {}


def probe_kvm_hyperv(qemu: str = QEMU_BINARY, flags: Optional[List[str]] = None,
                     machine: str = "q35", timeout: float = 20.0) -> Tuple[bool, str]:
    """Does this host's KVM emulate Hyper-V? Starts a paused KVM machine with
    `-cpu host,-arch-capabilities,<hv flags>` and quits; -> (ok, reason). Cached per process.
    Without Hyper-V emulation QEMU says "kernel doesn't allow setting HyperV VP_INDEX"."""
    flags = list(flags) if flags else list(DEFAULT_HV_FLAGS)
    key = (qemu, ",".join(flags), machine)
    if key in _HYPERV_PROBES:
        return _HYPERV_PROBES[key]
    if not kvm_openable():
        result = (False, f"{KVM_DEVICE} cannot be opened read-write")
    elif shutil.which(qemu) is None:
        result = (False, f"{qemu} not found")
    else:
        argv = [qemu, "-accel", "kvm", "-cpu", "host,-arch-capabilities," + ",".join(flags),
                "-machine", machine, "-display", "none", "-nodefaults", "-S", "-qmp", "stdio"]
        cmds = '{"execute":"qmp_capabilities"}\n{"execute":"quit"}\n'
        try:
            p = subprocess.run(argv, input=cmds, capture_output=True, text=True,
                               timeout=timeout)
            if p.returncode == 0:
                result = (True, "ok")
            else:
                err = [ln for ln in p.stderr.strip().splitlines() if "warning:" not in ln]
                result = (False, err[0] if err else f"QEMU exit status {p.returncode}")
        except subprocess.TimeoutExpired:
            result = (False, "trial KVM QEMU did not quit")
    _HYPERV_PROBES[key] = result
    return result


def _no_tcg(config: RunConfig, platform: str) -> None:
    if config.accel == "tcg":
        raise HostError(f"--accel tcg cannot be used with --platform {platform}: the guest "
                        f"runs under KVM with Hyper-V emulation")


class HostKvmHypervPlatform(QemuPlatform):
    """The hv-* flags straight on this host's KVM (needs a KVM that emulates Hyper-V)."""
    name = "host-kvm-hyperv"

    def resolve_accel(self, config: RunConfig) -> str:
        _no_tcg(config, self.name)
        return "kvm"

    def check(self, config: RunConfig, accel: str) -> None:
        super().check(config, "kvm")
        ok, reason = probe_kvm_hyperv(config.qemu, hv_flag_list(config.hv_flags),
                                      config.machine.split(",", 1)[0])
        if not ok:
            raise HostError(f"this host's KVM cannot run the hv flags: {reason} "
                            f"(use --platform hvlab)")

    def plan(self, config: RunConfig, accel: str, workdir: Path) -> Launch:
        model = config.cpu or "host,-arch-capabilities"
        cfg = dataclasses.replace(config, cpu=model + "," + ",".join(hv_flag_list(config.hv_flags)))
        return super().plan(cfg, "kvm", workdir)


def _ensure_built(script: Path, what: str, timeout: float, outputs: List[Path],
                  messages: Optional[TextIO]) -> None:
    """Run `script build` (cached builders: scripts/hvlab, scripts/linuxguest); a failure is a
    HostError with the build's one-line reason ("<name>: error: ..." lines are theirs)."""
    name = script.name
    if not script.is_file():
        raise HostError(f"{script} missing")
    try:
        p = subprocess.run([sys.executable, str(script), "build"], capture_output=True,
                           text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise HostError(f"scripts/{name} build did not finish in {timeout:g} s")
    if p.returncode != 0:
        lines = [ln for ln in (p.stderr + p.stdout).splitlines() if ln.strip()]
        errs = [ln for ln in lines if ln.startswith(f"{name}: error:")]
        msg = (errs or lines or [f"exit status {p.returncode}"])[-1]
        raise HostError(f"cannot build {what} (scripts/{name} build): "
                        f"{msg.replace(f'{name}: error: ', '')}")
    if messages is not None and "up to date" not in p.stdout:
        for line in p.stdout.splitlines():
            print(f"run: {line}", file=messages, flush=True)
    for f in outputs:
        if not f.is_file():
            raise HostError(f"{f} missing after scripts/{name} build")


def ensure_lab(messages: Optional[TextIO] = None) -> None:
    """Build the Hyper-V lab if it is missing or out of date (scripts/hvlab build)."""
    _ensure_built(HVLAB_SCRIPT, "the Hyper-V lab", HVLAB_BUILD_TIMEOUT,
                  [HVLAB_KERNEL, HVLAB_INITRD], messages)


def ensure_linux_guest(messages: Optional[TextIO] = None) -> None:
    """Build the Linux peer guest if it is missing or out of date (scripts/linuxguest build)."""
    _ensure_built(LINUX_GUEST_SCRIPT, "the Linux guest", LINUX_BUILD_TIMEOUT,
                  [LINUX_GUEST_DIR / n for n in (LINUX_KERNEL_NAME, LINUX_INITRD_NAME)], messages)


def cpio_newc(files: Dict[str, bytes]) -> bytes:
    """An uncompressed newc cpio archive of regular files (directories made as needed)."""
    entries: Dict[str, Tuple[int, bytes]] = {}
    for path, data in files.items():
        parts = path.strip("/").split("/")
        for i in range(1, len(parts)):
            entries.setdefault("/".join(parts[:i]), (0o040755, b""))
        entries[path.strip("/")] = (0o100644, data)
    out = bytearray()

    def put(ino: int, name: str, mode: int, data: bytes) -> None:
        nb = name.encode() + b"\0"
        out.extend(b"070701" + b"".join(b"%08X" % v for v in (
            ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(nb), 0)) + nb)
        out.extend(b"\0" * (-len(out) % 4))
        out.extend(data)
        out.extend(b"\0" * (-len(out) % 4))

    for ino, name in enumerate(sorted(entries), start=1):
        put(ino, name, *entries[name])
    put(0, "TRAILER!!!", 0, b"")
    out.extend(b"\0" * (-len(out) % 512))
    return bytes(out)


def _lab_markers(lines: List[str]) -> Dict[str, object]:
    """The `hvlab: ...` lines of the init in the outer VM (scripts/hvlab-init)."""
    info: Dict[str, object] = {"errors": [], "inner_stderr": [], "inner_rc": None,
                               "started": False, "inner_output_lines": 0}
    inner_running = False
    for line in lines:
        i = line.find("hvlab: ")
        if i < 0:
            # The guest's own output: lines while the inner QEMU runs (the outer kernel is
            # quiet; its rare messages start with a "[ time]" stamp).
            if inner_running and line and not line.startswith("["):
                info["inner_output_lines"] += 1
            continue
        if i > 0 and inner_running:
            info["inner_output_lines"] += 1
        text = line[i + len("hvlab: "):]
        inner_running = False  # every marker but the start comes after the inner QEMU ended
        if text.startswith("error: "):
            info["errors"].append(text[len("error: "):])
        elif text.startswith("inner stderr: "):
            info["inner_stderr"].append(text[len("inner stderr: "):])
        elif text.startswith("inner qemu start"):
            info["started"] = inner_running = True
            m = re.search(r"at ([0-9.]+) s", text)
            if m:
                info["outer_boot_s"] = float(m.group(1))
        elif text.startswith("outer kernel "):
            m = re.search(r"up at ([0-9.]+) s", text)
            if m:
                info["outer_init_s"] = float(m.group(1))
        else:
            m = re.match(r"inner qemu exit (\d+) after (\d+) s", text)
            if m:
                info["inner_rc"] = int(m.group(1))
                info["inner_s"] = int(m.group(2))
    return info


class HvlabPlatform(Platform):
    """The Hyper-V lab: an outer QEMU (TCG, EPYC: SVM with nested paging) boots the Debian
    kernel and initramfs from scripts/hvlab; its init runs the inner QEMU (KVM, `-cpu host` plus
    the hv flags) on the tlbstorm image, which comes in a small cpio prepended to the lab's
    initrd for each run. The inner serial console is passed through; the init's `hvlab:` lines
    carry the inner status (see scripts/hvlab-init). In this platform --cpu is the OUTER CPU
    model (default EPYC); --cpu-flags, --qemu-arg, --smp, --memory, --machine, --firmware and
    --timeout describe the INNER machine. The outer timeout is --timeout + HVLAB_BOOT_MARGIN."""
    name = "hvlab"
    verdict_grace = 30.0  # the inner QEMU ends and the outer VM powers off in a few seconds

    def resolve_accel(self, config: RunConfig) -> str:
        _no_tcg(config, self.name)
        return "kvm"

    def check(self, config: RunConfig, accel: str) -> None:
        if config.screendump:
            raise HostError("--screendump is not supported with --platform hvlab (the inner "
                            "QEMU has no display the host can reach)")
        QemuPlatform.check(self, config, "tcg")
        ensure_lab(config.messages)

    def inner_timeout(self, config: RunConfig) -> int:
        return max(1, int(math.ceil(config.timeout)))

    def inner_argv(self, config: RunConfig) -> List[str]:
        guest = Path(HVLAB_GUEST_DIR)
        flags = ",".join(hv_flag_list(config.hv_flags))
        extra = config.cpu_flags.strip()
        if extra and not extra.startswith(","):
            extra = "," + extra
        inner = dataclasses.replace(
            config, qemu=QEMU_BINARY, cpu="host", cpu_flags="," + flags + extra,
            iso=str(guest / "tlbstorm.iso"), elf=str(guest / "tlbstorm.elf"), screendump=None,
            qemu_args=["-nic", "none"] + list(config.qemu_args))
        return build_qemu_argv(inner, accel="kvm", workdir=guest, linux_dir=guest / "linux")

    def outer_argv(self, config: RunConfig, workdir: Path) -> List[str]:
        cpus = os.cpu_count() or 2
        outer_smp = max(2, min(config.smp, cpus)) if cpus >= 2 else 1
        outer_mem = max(1024, config.memory + 512)
        return [config.qemu,
                "-machine", "q35",
                "-accel", "tcg,thread=multi",
                "-cpu", config.cpu or HVLAB_OUTER_CPU,
                "-smp", str(outer_smp),
                "-m", str(outer_mem),
                "-display", "none",
                "-nodefaults",
                "-no-reboot",
                "-monitor", "none",
                "-chardev", "stdio,id=ser0,signal=off",
                "-serial", "chardev:ser0",
                "-device", f"isa-debug-exit,iobase={DEBUG_EXIT_IOBASE:#x},iosize=0x04",
                "-kernel", str(HVLAB_KERNEL),
                "-initrd", str(workdir / "hvlab-initrd"),
                "-append", HVLAB_OUTER_CMDLINE]

    def run_conf(self, config: RunConfig) -> str:
        q = shlex.quote
        return "".join([
            "# hvlab run configuration, written by scripts/tlbrun.py (read by /init)\n",
            f"HVLAB_TIMEOUT={self.inner_timeout(config)}\n",
            f"HVLAB_FIRMWARE={q(config.firmware)}\n",
            f"HVLAB_SMP={config.smp}\n",
            f"HVLAB_MEMORY={config.memory}\n",
            f"HVLAB_HV_FLAGS={q(','.join(hv_flag_list(config.hv_flags)))}\n",
            f"HVLAB_CMDLINE={q(effective_cmdline(config))}\n"])

    def plan(self, config: RunConfig, accel: str, workdir: Path) -> Launch:
        inner = self.inner_argv(config)
        return Launch(argv=self.outer_argv(config, workdir), accel="kvm", qmp_socket=None,
                      timeout=self.inner_timeout(config) + HVLAB_BOOT_MARGIN, inner_argv=inner)

    def prepare(self, config: RunConfig, launch: Launch, workdir: Path) -> None:
        g = HVLAB_GUEST_DIR
        files = {f"{g}/run.conf": self.run_conf(config).encode(),
                 f"{g}/argv": ("\n".join(launch.inner_argv) + "\n").encode()}
        if config.guest == "linux":
            for name in (LINUX_KERNEL_NAME, LINUX_INITRD_NAME):
                files[f"{g}/linux/{name}"] = (LINUX_GUEST_DIR / name).read_bytes()
        elif config.firmware == "direct":
            files[f"{g}/tlbstorm.elf"] = _resolve(config.elf, DEFAULT_ELF).read_bytes()
        else:
            files[f"{g}/tlbstorm.iso"] = _resolve(config.iso, DEFAULT_ISO).read_bytes()
            make_config_disk(workdir / CONFIG_DISK, effective_cmdline(config), workdir)
            files[f"{g}/{CONFIG_DISK}"] = (workdir / CONFIG_DISK).read_bytes()
        if config.firmware == "uefi":
            files[f"{g}/{VARS_COPY}"] = OVMF_VARS.read_bytes()
        # Linux unpacks concatenated archives: this run's files first (uncompressed), then
        # the lab's gzip'd initramfs, which stays untouched and cached.
        with open(workdir / "hvlab-initrd", "wb") as out:
            out.write(cpio_newc(files))
            with open(HVLAB_INITRD, "rb") as lab:
                shutil.copyfileobj(lab, out, 1 << 20)

    def outcome(self, config: RunConfig, launch: Launch, returncode: Optional[int],
                timed_out: bool, parser: "SerialParser", codes: Dict[str, int],
                res: "RunResult"):
        info = _lab_markers(parser.lines)
        info["outer_rc"] = returncode
        res.lab = info
        outer_err = [ln for ln in res.qemu_stderr.splitlines()
                     if "TCG doesn't support requested feature" not in ln]
        res.qemu_stderr = "".join(f"{ln}\n" for ln in outer_err) + "".join(
            f"inner: {ln}\n" for ln in info["inner_stderr"])
        warnings: List[str] = []
        errors = list(info["errors"])
        if any(e.startswith("writing to the isa-debug-exit") for e in errors):
            warnings.append("the lab's init could not end the outer VM through isa-debug-exit")
            errors = [e for e in errors if not e.startswith("writing to the isa-debug-exit")]
        if timed_out and parser.verdict is not None:
            # The guest finished and said so, but the nested stack hung on the way out (seen: the
            # outer kernel's "soft lockup" in the inner QEMU): its exit code never comes, so the
            # serial verdict line stands in for it.
            name, code = parser.verdict
            hang = next((ln for ln in parser.lines if "soft lockup" in ln), None)
            warnings.append(f"the Hyper-V lab did not end within {self.verdict_grace:g} s of the "
                            f"guest's verdict" + (f" ({hang.strip()})" if hang else "") +
                            "; the serial verdict line is used")
            res.timed_out = False
            status = codes.get(name, codes["error"])
            return status, name if name in codes else "error", code, warnings, None
        if timed_out:
            if not info["started"]:
                warnings.append("the outer VM never started the inner QEMU" +
                                (f" (lab errors: {'; '.join(errors)})" if errors else ""))
            return STATUS_TIMEOUT, None, None, warnings, "timeout"
        inner_timeouts = [e for e in errors if e.startswith("timeout:")]
        if inner_timeouts:
            res.timed_out = True
            return (STATUS_TIMEOUT, None, None, warnings,
                    f"timeout after {self.inner_timeout(config)} s (inner QEMU in the hvlab)")
        refused = [e for e in errors if e.startswith("inner qemu refused")]
        if refused and (parser.verdict is not None or parser.records) and \
                info["inner_rc"] is not None:
            # The guest ran, so QEMU did not refuse to start: its stderr line was not fatal.
            warnings.append(f"the lab took an inner QEMU stderr line for a refusal: {refused[0]}")
            errors = [e for e in errors if e not in refused]
        if errors:
            return STATUS_HOST, None, None, warnings, "hvlab: " + "; ".join(errors)
        inner_rc = info["inner_rc"]
        # Silent: nothing from the guest kernel itself. Firmware and GRUB lines do not count: the
        # emulated nested stack sometimes resets inside them (seen with OVMF and GRUB).
        kernel_spoke = bool(parser.records) or any(ln.startswith(GUEST_LINE_PREFIXES)
                                                   for ln in parser.lines)
        silent = info["started"] and (not info["inner_output_lines"] or not kernel_spoke)
        if silent and inner_rc is None:
            res.lab["retry"] = (f"the outer QEMU ended (status {returncode}) before the guest "
                                f"printed anything")
        elif silent and inner_rc is not None and not inner_rc & 1:
            res.lab["retry"] = (f"the inner machine ended (QEMU status {inner_rc}: a reset or "
                                f"triple fault) before the guest kernel printed anything")
        if inner_rc is None:
            what = HVLAB_LAB_CODES.get(returncode) if returncode is not None else None
            reason = (f"the Hyper-V lab ended without reporting the inner QEMU's status "
                      f"(outer QEMU status {returncode}{': ' + what if what else ''}; outer "
                      f"kernel panic or lab init failure)")
            return STATUS_NO_VERDICT, None, None, warnings, reason
        expected = 0 if inner_rc == 0 else inner_rc if inner_rc & 1 and inner_rc < 256 else 247
        if returncode != expected:
            warnings.append(f"outer QEMU exited {returncode}, expected {expected} for inner "
                            f"status {inner_rc}; using the inner status")
        status = decide_status(inner_rc, False, config.debug_exit, parser.verdict, codes)
        return status[0], status[1], status[2], warnings + status[3], status[4]


class AutoHypervPlatform(Platform):
    """host-kvm-hyperv when this host's KVM accepts the hv flags, else hvlab."""
    name = "auto-hyperv"

    def select(self, config: RunConfig, say: Callable[[str], None]) -> Platform:
        flags = hv_flag_list(config.hv_flags)
        ok, reason = probe_kvm_hyperv(config.qemu, flags, config.machine.split(",", 1)[0])
        if ok:
            say("run: this host's KVM emulates Hyper-V: platform host-kvm-hyperv")
            return PLATFORMS["host-kvm-hyperv"]
        say(f"run: this host's KVM does not emulate Hyper-V ({reason}): platform hvlab")
        return PLATFORMS["hvlab"]


PLATFORMS: Dict[str, Platform] = {"qemu": QemuPlatform(), "hvlab": HvlabPlatform(),
                                   "host-kvm-hyperv": HostKvmHypervPlatform(),
                                   "auto-hyperv": AutoHypervPlatform()}


def make_config_disk(image: Path, cmdline: str, workdir: Path) -> None:
    """A 1.44 MB FAT image holding /tlbstorm.cfg for the ISO's GRUB."""
    cfg = workdir / "tlbstorm.cfg"
    cfg.write_text(grub_config_text(cmdline), encoding="utf-8")
    env = dict(os.environ, MTOOLS_SKIP_CHECK="1", MTOOLSRC="/dev/null")
    for argv in (["mformat", "-i", str(image), "-C", "-f", "1440", "-v", "TLBSTORMCFG", "::"],
                 ["mcopy", "-i", str(image), str(cfg), "::/tlbstorm.cfg"]):
        p = subprocess.run(argv, capture_output=True, text=True, env=env)
        if p.returncode != 0:
            raise HostError(f"{' '.join(argv)} failed: {p.stderr.strip()}")


# --------------------------------------------------------------------------------------------
# QMP screendump


def ppm_info(path: Path) -> Optional[Tuple[int, int, int, int]]:
    """(width, height, maxval, data offset) of a binary PPM (P6), None if the header is not
    complete or not P6."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
    except OSError:
        return None
    fields: List[bytes] = []
    i = 0
    while len(fields) < 4:
        while i < len(head) and head[i:i + 1].isspace():
            i += 1
        if i < len(head) and head[i:i + 1] == b"#":
            while i < len(head) and head[i:i + 1] not in (b"\n", b"\r"):
                i += 1
            continue
        j = i
        while j < len(head) and not head[j:j + 1].isspace():
            j += 1
        if j >= len(head):
            return None
        fields.append(head[i:j])
        i = j
    if fields[0] != b"P6" or not all(x.isdigit() for x in fields[1:]):
        return None
    return int(fields[1]), int(fields[2]), int(fields[3]), i + 1


def ppm_complete(path: Path) -> bool:
    info = ppm_info(path)
    if info is None:
        return False
    w, h, maxval, off = info
    size = off + w * h * (3 if maxval < 256 else 6)
    try:
        return os.path.getsize(path) >= size
    except OSError:
        return False


class QmpClient:
    def __init__(self, path: Path, deadline: float):
        self.deadline = deadline
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        while True:
            try:
                self.sock.settimeout(max(0.1, deadline - time.monotonic()))
                self.sock.connect(str(path))
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)
        self._buf = b""
        self._read()  # greeting
        self.execute("qmp_capabilities")

    def _read(self) -> dict:
        while b"\n" not in self._buf:
            self.sock.settimeout(max(0.1, self.deadline - time.monotonic()))
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("QMP connection closed")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return json.loads(line)

    def execute(self, cmd: str, **arguments):
        msg = {"execute": cmd}
        if arguments:
            msg["arguments"] = arguments
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            reply = self._read()
            if "return" in reply:
                return reply["return"]
            if "error" in reply:
                raise RuntimeError(f"QMP {cmd}: {reply['error'].get('desc', reply['error'])}")
            # events are skipped

    def close(self):
        self.sock.close()


def take_screendump(qmp_socket: Path, target: Path, deadline: float) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        target.unlink()
    except FileNotFoundError:
        pass
    qmp = QmpClient(qmp_socket, deadline)
    try:
        qmp.execute("screendump", filename=str(target))
    finally:
        qmp.close()
    while not ppm_complete(target):
        if time.monotonic() >= deadline:
            raise TimeoutError(f"screendump {target} incomplete")
        time.sleep(0.05)


# --------------------------------------------------------------------------------------------
# Running


def _default_log_path(firmware: str) -> Path:
    logdir = REPO_ROOT / DEFAULT_LOG_DIR
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = logdir / f"{stamp}-{firmware}.log"
    n = 2
    while path.exists():
        path = logdir / f"{stamp}-{firmware}-{n}.log"
        n += 1
    return path


def _update_last_log(log: Path) -> None:
    logdir = REPO_ROOT / DEFAULT_LOG_DIR
    logdir.mkdir(parents=True, exist_ok=True)
    last = logdir / "last.log"
    target = os.path.relpath(log, logdir) if log.parent == logdir else str(log)
    tmp = logdir / f".last.log.{os.getpid()}"
    try:
        tmp.unlink()
    except FileNotFoundError:
        pass
    os.symlink(target, tmp)
    os.replace(tmp, last)


def display_path(path: Optional[Path]) -> str:
    if path is None:
        return "-"
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if rel.startswith("..") else rel


def _last_record_line(lines: List[str]) -> Optional[str]:
    return next((ln for ln in reversed(lines) if ln.startswith(RECORD_PREFIX)), None)


def _drain(stream) -> bytes:
    """What is left in a pipe whose writer has ended (non-blocking: at most 64 KiB)."""
    try:
        os.set_blocking(stream.fileno(), False)
        return os.read(stream.fileno(), 65536) or b""
    except (OSError, ValueError):
        return b""


def _kill_group(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def run_detection(vrec: Optional[dict],
                  parser: SerialParser) -> Tuple[Optional[str], Optional[str]]:
    """-> (the run's detection claim, a warning or None). The verdict record's `detection`
    is the claim; the verdict line's `, detection not shown` stands in for a missing record and
    is cross-checked against it (the kernel prints it only on a pass)."""
    line_says = DETECTION_NOT_SHOWN if parser.detection_not_shown else None
    if vrec is None or "detection" not in vrec:
        return line_says, None
    claim = vrec.get("detection")
    both_pass = vrec.get("verdict") == "pass" and (parser.verdict or ("",))[0] == "pass"
    if both_pass and (claim == DETECTION_NOT_SHOWN) != (line_says is not None):
        return claim, (f"verdict record says detection {claim!r} but the verdict line "
                       f"{'says' if line_says else 'does not say'} `detection not shown`")
    return claim, None


def _summary(res: RunResult) -> str:
    where = (f"[{'' if res.guest in (None, 'tlbstorm') else 'guest ' + res.guest + ', '}"
             f"{'' if res.platform in (None, 'qemu') else res.platform + ', '}"
             f"{res.accel}, {res.firmware}, {res.machine}, {res.smp} vCPU"
             f"{'s' if res.smp != 1 else ''}, {res.memory} MiB]")
    if res.verdict is not None:
        shown = ", detection not shown" if res.detection_not_shown else ""
        head = f"verdict {res.verdict}{shown} (exit {res.status})"
    elif res.status == STATUS_TIMEOUT:
        head = f"timeout (exit {res.status})"
    elif res.status == STATUS_HOST:
        head = f"host problem (exit {res.status})"
    else:
        head = f"no verdict (exit {res.status})"
    return f"run: {head} in {res.duration_s:.1f} s {where} log: {display_path(res.log_path)}"


def run(config: RunConfig) -> RunResult:
    """Boot once and return the result; host and usage problems give status 7 (never raise,
    except KeyboardInterrupt/SystemExit, which kill QEMU first and propagate).

    The hvlab platform may ask for another attempt (RunResult.lab["retry"]) when the lab
    failed before the guest printed anything (the nested firmware reset, or the outer QEMU
    crashed): up to HVLAB_ATTEMPTS boots, each retry noted in the warnings."""
    res = _run_once(config)
    attempt = 1
    notes: List[str] = []
    while res.lab.get("retry") and attempt < HVLAB_ATTEMPTS:
        attempt += 1
        note = f"hvlab: {res.lab['retry']}; boot attempt {attempt} of {HVLAB_ATTEMPTS}"
        notes.append(note)
        if config.messages is not None:
            print(f"run: {note}", file=config.messages, flush=True)
        res = _run_once(config)
    if notes:
        res.warnings[:0] = notes
        res.lab["attempts"] = attempt
    return res


def _run_once(config: RunConfig) -> RunResult:
    t0 = time.monotonic()
    res = RunResult(status=STATUS_HOST, firmware=config.firmware, machine=config.machine,
                    smp=config.smp, memory=config.memory, platform=config.platform,
                    guest=config.guest)

    def say(msg: str) -> None:
        if config.messages is not None:
            print(msg, file=config.messages, flush=True)

    try:
        validate_config(config)
        codes = load_exit_codes()
        platform = PLATFORMS[config.platform].select(config, say)
        res.platform = platform.name
        accel = platform.resolve_accel(config)
        res.accel = accel
        platform.check(config, accel)
    except HostError as e:
        res.error = str(e)
        res.duration_s = time.monotonic() - t0
        res.summary = f"run: error: {e}"
        say(res.summary)
        return res

    res.cmdline = effective_cmdline(config)
    workdir = Path(tempfile.mkdtemp(prefix="tlbrun-"))
    log_file = None
    proc = None
    try:
        try:
            launch = platform.plan(config, accel, workdir)
            res.qemu_argv = launch.argv
            res.inner_argv = list(launch.inner_argv)
            platform.prepare(config, launch, workdir)
            log = Path(config.log).resolve() if config.log else _default_log_path(config.firmware)
            log.parent.mkdir(parents=True, exist_ok=True)
            log_file = open(log, "wb")
            res.log_path = log
            if config.update_last_log:
                _update_last_log(log)
        except (HostError, OSError) as e:
            res.error = str(e)
            res.summary = f"run: error: {e}"
            say(res.summary)
            return res

        echo = None if config.quiet else (config.echo or sys.stdout.buffer)
        label = accel if platform.name == "qemu" else f"{platform.name}, {accel}"
        say(f"run: {label}, {config.firmware}, {config.machine}, cmdline {res.cmdline!r}")
        parser = SerialParser()
        stderr_chunks: List[bytes] = []
        start = time.monotonic()
        limit = launch.timeout if launch.timeout is not None else config.timeout
        deadline = start + limit
        try:
            pin = (lambda: os.sched_setaffinity(0, config.host_cpus)) if config.host_cpus \
                else None
            proc = subprocess.Popen(launch.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, start_new_session=True,
                                    preexec_fn=pin)
        except OSError as e:
            res.error = f"cannot start {launch.argv[0]}: {e}"
            res.summary = f"run: error: {res.error}"
            say(res.summary)
            return res

        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ, "out")
        sel.register(proc.stderr, selectors.EVENT_READ, "err")
        open_streams = 2
        kvm_stopped = False
        grace_from = None
        while open_streams:
            if parser.verdict is not None and platform.verdict_grace and grace_from is None:
                grace_from = time.monotonic()
                deadline = min(deadline, grace_from + platform.verdict_grace)
            left = deadline - time.monotonic()
            if left <= 0:
                res.timed_out = True
                break
            for key, _ in sel.select(timeout=min(left, 0.5)):
                data = os.read(key.fileobj.fileno(), 65536)
                if not data:
                    sel.unregister(key.fileobj)
                    open_streams -= 1
                    continue
                if key.data == "err":
                    stderr_chunks.append(data)
                    if KVM_STOP_MARK.encode() in b"".join(stderr_chunks[-2:]):
                        kvm_stopped = True  # the VM is paused for good: do not wait it out
                        open_streams = 0
                        break
                    continue
                log_file.write(data)
                log_file.flush()
                if echo is not None:
                    echo.write(data)
                    echo.flush()
                if parser.feed(data):
                    res.paused = True
                    _pause_point(config, launch, deadline, res, say)
                    try:
                        proc.stdin.write(b"\n")
                        proc.stdin.flush()
                    except OSError:
                        pass
        sel.close()
        if kvm_stopped:
            time.sleep(0.2)  # the rest of QEMU's register dump
            _kill_group(proc)
            stderr_chunks.append(_drain(proc.stderr))
        if not res.timed_out:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                res.timed_out = True
        if res.timed_out:
            _kill_group(proc)
            res.error = f"timeout after {limit:g} s"
            say(f"run: {res.error}")
        parser.finish()
        if echo is not None and hasattr(echo, "isatty") and echo.isatty():
            echo.write(b"\x1b[0m\x1b[?25h")  # undo GRUB's terminal state
            echo.flush()

        res.qemu_returncode = proc.returncode
        res.qemu_stderr = b"".join(stderr_chunks).decode("utf-8", errors="replace")
        res.records = parser.records
        res.bad_records = parser.bad_records
        res.serial_verdict = parser.verdict
        res.lines = parser.lines
        status, verdict, code, warnings, reason = platform.outcome(
            config, launch, proc.returncode, res.timed_out, parser, codes, res)
        res.status, res.verdict, res.kernel_code = status, verdict, code
        if status != STATUS_TIMEOUT and res.error and res.error.startswith("timeout after"):
            res.error = None  # the platform recovered the verdict (hvlab: a hang after it)
        if res.timed_out and parser.bad_records and \
                parser.bad_records[-1][0] == _last_record_line(parser.lines):
            # Killed while the guest was printing: the last record is cut off, not malformed.
            line, _ = parser.bad_records.pop()
            warnings.append(f"the last record was cut off by the timeout: {line[:80]}...")
        for line, err in parser.bad_records:
            warnings.append(f"unparsable record ({err}): {line[:200]}")
        vrec = res.record("verdict")
        if vrec is not None and verdict is not None and vrec.get("verdict") != verdict:
            warnings.append(f"verdict record says {vrec.get('verdict')!r}, run verdict is "
                            f"{verdict!r}")
        res.detection, warning = run_detection(vrec, parser)
        if warning:
            warnings.append(warning)
        if config.screendump and not res.paused and status != STATUS_TIMEOUT:
            warnings.append("no TLBSTORM-PAUSE line: no screendump taken")
        res.warnings.extend(warnings)
        for w in res.warnings:
            say(f"run: warning: {w}")
        if status == STATUS_NO_VERDICT:
            res.error = reason
            say(f"run: {reason}")
            if res.qemu_stderr.strip():
                say("run: QEMU stderr:")
                for line in res.qemu_stderr.rstrip().splitlines():
                    say(f"  {line}")
        elif status in (STATUS_HOST, STATUS_TIMEOUT) and reason and res.error is None:
            res.error = reason  # reported by the platform (hvlab: lab problem, inner timeout)
            say(f"run: {reason}")
        res.duration_s = time.monotonic() - t0
        res.summary = _summary(res)
        say(res.summary)
        return res
    except BaseException:
        if proc is not None:
            _kill_group(proc)
        raise
    finally:
        if proc is not None:
            _kill_group(proc)
            for s in (proc.stdin, proc.stdout, proc.stderr):
                try:
                    s.close()
                except OSError:
                    pass
        if log_file is not None:
            log_file.close()
        shutil.rmtree(workdir, ignore_errors=True)
        if res.duration_s == 0.0:
            res.duration_s = time.monotonic() - t0


def _pause_point(config: RunConfig, launch: Launch, deadline: float, res: RunResult,
                 say: Callable[[str], None]) -> None:
    """At TLBSTORM-PAUSE: take the screendump (if asked for); the caller then lets the
    kernel go on."""
    if not config.screendump:
        return
    if launch.qmp_socket is None:
        res.warnings.append(f"platform {config.platform} cannot take screendumps")
        return
    target = Path(config.screendump).resolve()
    budget = min(deadline, time.monotonic() + config.pause_ack_timeout)
    try:
        take_screendump(launch.qmp_socket, target, budget)
        res.screendump_path = target
        say(f"run: screendump {display_path(target)}")
    except (OSError, RuntimeError, ValueError, TimeoutError) as e:
        res.warnings.append(f"screendump failed: {e}")

