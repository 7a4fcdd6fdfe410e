"""The QEMU command line on this host: the accelerator (KVM probes), the CPU model and Hyper-V
flags, configuration checks, the ISO's GRUB config disk and build_qemu_argv() itself."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from .config import (ACCELS, DEBUG_EXIT_IOBASE, DEFAULT_ELF, DEFAULT_HV_FLAGS, DEFAULT_ISO,
                     FIRMWARES, GUESTS, HYPERV_PLATFORMS, KVM_DEVICE, LINUX_GUEST_DIR,
                     LINUX_INITRD_NAME, LINUX_KERNEL_ARGS, LINUX_KERNEL_NAME, MACHINES,
                     NO_HV_FLAGS, OPTIONAL_HV_FLAGS, OVMF_CODE, PLATFORM_NAMES, QEMU_BINARY, REPO_ROOT,
                     DISK_FORMATS, HostError, RunConfig, disk_format)

_HV_FLAG_RE = re.compile(r"^hv-[a-z0-9][a-z0-9-]*(=[A-Za-z0-9]+)?$")
# The trial machine of the KVM probes: paused, then told to quit over QMP on stdin.
_TRIAL_ARGS = ["-display", "none", "-nodefaults", "-S", "-qmp", "stdio"]
_TRIAL_QMP = '{"execute":"qmp_capabilities"}\n{"execute":"quit"}\n'

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


def _trial_kvm(qemu: str, cpu: str, machine: str, timeout: float):
    """Start a paused KVM machine with this CPU model, which creates and resets the vCPUs
    (where `-cpu host` problems show up), and quit it. -> (why it could not be tried or did
    not quit, None), or (None, the finished process)."""
    if not kvm_openable():
        return f"{KVM_DEVICE} cannot be opened read-write", None
    if shutil.which(qemu) is None:
        return f"{qemu} not found", None
    argv = [qemu, "-accel", "kvm", "-cpu", cpu, "-machine", machine] + _TRIAL_ARGS
    try:
        return None, subprocess.run(argv, input=_TRIAL_QMP, capture_output=True, text=True,
                                    timeout=timeout)
    except subprocess.TimeoutExpired:
        return "trial KVM QEMU did not quit", None


def probe_kvm(qemu: str = QEMU_BINARY, machine: str = "q35", timeout: float = 20.0):
    """Can QEMU start a KVM guest with our CPU model? -> (ok, reason)."""
    why, p = _trial_kvm(qemu, "host,-arch-capabilities", machine, timeout)
    if p is None:
        return False, why
    if p.returncode != 0:
        err = p.stderr.strip().splitlines()
        return False, f"trial KVM QEMU failed: {err[0] if err else p.returncode}"
    return True, "ok"


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
    why, p = _trial_kvm(qemu, "host,-arch-capabilities," + ",".join(flags), machine, timeout)
    if p is None:
        result = (False, why)
    elif p.returncode == 0:
        result = (True, "ok")
    else:
        err = [ln for ln in p.stderr.strip().splitlines() if "warning:" not in ln]
        result = (False, err[0] if err else f"QEMU exit status {p.returncode}")
    _HYPERV_PROBES[key] = result
    return result


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


def image_path(path: Optional[str], default: Path) -> Path:
    """An image named by the configuration (None: the default under the repository)."""
    return Path(path).resolve() if path else (REPO_ROOT / default)


def cpu_arg(config: RunConfig, accel: str) -> str:
    model = config.cpu or ("host,-arch-capabilities" if accel == "kvm" else "max")
    flags = config.cpu_flags.strip()
    if flags and not flags.startswith(","):
        flags = "," + flags
    return model + flags


def hv_flag_list(spec: Optional[str]) -> List[str]:
    """The hv-* CPU flags for a --hv-flags value: None or "" = the default set, "a,b" = exactly
    these, "+a,b" = the default set plus these, "none" = no Hyper-V emulation at all (the lab
    with KVM's own interface). Only the syntax is checked here (hv-NAME or hv-NAME=VALUE); QEMU
    itself rejects unknown names."""
    spec = (spec or "").strip()
    flags: List[str] = []
    if spec == NO_HV_FLAGS:
        return flags
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
    if config.disk is not None:
        if config.firmware == "direct":
            raise HostError("--disk needs --firmware bios or uefi (direct boots the ELF)")
        if disk_format(config.disk) is None:
            raise HostError(f"--disk {config.disk}: unknown image type (valid: "
                            f"{', '.join(DISK_FORMATS)})")
    if config.platform not in PLATFORM_NAMES:
        raise HostError(f"unknown platform {config.platform!r} "
                        f"(valid: {', '.join(sorted(PLATFORM_NAMES))})")
    if config.hv_flags is not None:
        if config.platform not in HYPERV_PLATFORMS:
            raise HostError(f"--hv-flags needs a Hyper-V platform "
                            f"({', '.join(HYPERV_PLATFORMS)}), not {config.platform!r}")
        hv_flag_list(config.hv_flags)
        if config.hv_flags.strip() == NO_HV_FLAGS and config.platform != "hvlab":
            raise HostError(f"--hv-flags {NO_HV_FLAGS} is for --platform hvlab (KVM's own interface "
                            f"in the lab); elsewhere use --platform qemu")
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
    if config.firmware in ("bios", "uefi") and config.disk:
        # The image as the first hard disk; snapshot=on keeps the guest's writes out of it.
        argv += ["-drive", f"file={_qemu_path_opt(Path(config.disk).resolve())},"
                           f"format={disk_format(config.disk)},if=none,id=hd0,snapshot=on",
                 "-device", "ide-hd,drive=hd0,bus=ide.0,bootindex=0",
                 "-drive", f"file={_qemu_path_opt(workdir / CONFIG_DISK)},format=raw,if=none,"
                           f"id=cfg",
                 "-device", "ide-hd,drive=cfg,bus=ide.1,bootindex=1"]
    elif config.firmware in ("bios", "uefi"):
        iso = image_path(config.iso, DEFAULT_ISO)
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
        elf = image_path(config.elf, DEFAULT_ELF)
        argv += ["-kernel", str(elf), "-append", effective_cmdline(config)]
    if config.screendump:
        argv += ["-qmp", f"unix:{workdir / QMP_SOCKET},server=on,wait=off"]
    argv += list(config.qemu_args)
    return argv


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

