"""What a run is: RunConfig, RunResult, the exit statuses (the kernel's verdict codes are read
from kernel/exit.h) and the constants every other module of the runner shares."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, TextIO, Tuple

REPO_ROOT = Path(__file__).resolve().parents[2]
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
# Machine profiles: QEMU made to look like a Hyper-V generation where it can (REFERENCE.md).
# Generation 2 has no PIT, 8259 PIC, HPET or i8042 and boots UEFI only; Generation 1 is an
# i440fx-style BIOS machine. Each: (machine, firmware it allows, the first being its default).
PROFILES = {
    "gen2": ("q35,pit=off,pic=off,hpet=off,i8042=off", ("uefi",)),
    "gen1": ("pc", ("bios", "direct")),
}


# Disk images by extension (make images), and QEMU's name for each format.
DISK_FORMATS = {".raw": "raw", ".img": "raw", ".iso": "raw", ".vhd": "vpc", ".vhdx": "vhdx",
                ".qcow2": "qcow2"}


def disk_format(path: str) -> Optional[str]:
    return DISK_FORMATS.get(Path(path).suffix.lower())


def apply_profile(profile: Optional[str], machine: Optional[str], firmware: Optional[str]
                  ) -> Tuple[str, str]:
    """(machine, firmware) for a run: the profile's, or the ones given ([q35], [bios]). A
    machine given beside a profile, or a firmware the profile's generation cannot boot, is a
    HostError."""
    if profile is None:
        return machine or "q35", firmware or "bios"
    if profile not in PROFILES:
        raise HostError(f"unknown profile {profile!r} (valid: {', '.join(PROFILES)})")
    prof_machine, allowed = PROFILES[profile]
    if machine is not None:
        raise HostError(f"--machine {machine} cannot be combined with --profile {profile} "
                        f"(which is --machine {prof_machine})")
    if firmware is not None and firmware not in allowed:
        raise HostError(f"--profile {profile} boots with firmware {' or '.join(allowed)}, "
                        f"not {firmware}")
    return prof_machine, firmware or allowed[0]

# The run script's own statuses, after the kernel's verdict codes 0..4.
STATUS_TIMEOUT = 5
STATUS_NO_VERDICT = 6
STATUS_HOST = 7

# Hyper-V emulation (platforms hvlab, host-kvm-hyperv, auto-hyperv). hv-passthrough is accepted
# (its vendor string is "Linux KVM Hv": the kernel goes by the interface signature, as the TLFS
# says); hv-enforce-cpuid makes KVM refuse what the CPUID leaves do not grant, as Hyper-V may.
DEFAULT_HV_FLAGS = ("hv-relaxed", "hv-vpindex", "hv-tlbflush", "hv-ipi", "hv-time",
                    "hv-frequencies")
OPTIONAL_HV_FLAGS = ("hv-xmm-input", "hv-tlbflush-ext")
NO_HV_FLAGS = "none"                # --hv-flags none: the lab without Hyper-V emulation
HYPERV_PLATFORMS = ("hvlab", "host-kvm-hyperv", "auto-hyperv")
# Every platform (registry.PLATFORMS has one object for each).
PLATFORM_NAMES = ("qemu",) + HYPERV_PLATFORMS

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
HVLAB_HANG_S = 60                   # an inner timeout at least this long with the guest kernel
                                    # silent is a firmware/GRUB hang (they hand over in ~25 s)
HVLAB_SILENCE_S = 90.0              # no serial line at all this long after the outer QEMU
                                    # started: it hung booting (its init speaks in 3-8 s)
HVLAB_MUTE_S = 240.0                # no line of the guest kernel's this long after the outer
                                    # QEMU started: the nested stack hung before the guest ran
                                    # (outer boot 3-25 s, firmware and GRUB hand over in ~25 s)
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
DETECTION_NOT_SHOWN = "not shown"
_EXIT_DEFINE_RE = re.compile(r"^\s*#\s*define\s+EXIT_([A-Z][A-Z0-9_]*)\s+(\d+)\b", re.M)


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
    disk: Optional[str] = None        # bios/uefi: boot this disk image instead of the ISO
    qemu_args: List[str] = field(default_factory=list)  # appended verbatim
    platform: str = "qemu"            # qemu | hvlab | host-kvm-hyperv | auto-hyperv
    guest: str = "tlbstorm"           # tlbstorm | linux (the Linux peer, docs/linux.md)
    hv_flags: Optional[str] = None    # Hyper-V platforms: None = DEFAULT_HV_FLAGS; "a,b" replaces
                                      # the set, "+a,b" adds to it
    qemu: str = QEMU_BINARY
    pause_ack_timeout: float = 20.0   # budget for the screendump at the pause point
    host_cpus: Optional[List[int]] = None  # host CPUs QEMU may run on (None = all): pinning
                                      # N vCPUs to fewer host CPUs overcommits them
    slowness: Optional[float] = None  # host slowness for liveness timeouts (slowness.py);
                                      # None = measure it, 1 = a quiet host


@dataclass
class RunResult:
    status: int                       # the run script's exit status (see module docstring)
    verdict: Optional[str] = None     # pass/fail/usage/skip/error, None without a verdict
    kernel_code: Optional[int] = None  # code the kernel wrote to the debug-exit port
    timed_out: bool = False
    records: List[dict] = field(default_factory=list)
    bad_records: List[Tuple[str, str]] = field(default_factory=list)  # (line, JSON error)
    cases: List[dict] = field(default_factory=list)  # the case lines (serial.parse_case_line)
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
    host_slowness: Optional[float] = None  # measured (or given) slowness of the host
    slow: int = 1                     # liveness timeouts' factor: the kernel's slow=, and the
                                      # harness's time limits (slowness.py)
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

