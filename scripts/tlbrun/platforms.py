"""How a guest is started: the Platform interface the runner drives, the Launch a platform
plans, and the platforms that run QEMU on this host (qemu, host-kvm-hyperv). The Hyper-V lab is
lab.HvlabPlatform; registry.PLATFORMS has every platform by name."""

from __future__ import annotations

import dataclasses
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional

from .builders import ensure_linux_guest
from .serial import SerialParser
from .config import (DEFAULT_ELF, DEFAULT_ISO, KVM_DEVICE, KVM_STOP_MARK, OVMF_CODE, OVMF_VARS,
                     STATUS_NO_VERDICT, HostError, RunConfig, RunResult)
from .qemu import (CONFIG_DISK, QMP_SOCKET, VARS_COPY, build_qemu_argv, effective_cmdline,
                   hv_flag_list, image_path, kvm_openable, make_config_disk, probe_kvm_hyperv,
                   resolve_accel)
from .serial import SerialParser, decide_status


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
    # Seconds the launcher may stay silent (not one serial line) before the run is cut short as
    # timed out; None = until the timeout.
    silence_limit: Optional[float] = None
    # Seconds from the start by which the guest kernel itself must have printed a line (the
    # launcher's and the firmware's lines do not count, see guest_spoke); None = no such limit.
    guest_silence_limit: Optional[float] = None

    def guest_spoke(self, parser: SerialParser) -> bool:
        """Whether the guest kernel has printed anything yet (guest_silence_limit)."""
        return parser.received()

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

    def vcpu_cores(self, config: RunConfig) -> int:
        """How many CPUs the guest's vCPUs share (their threads' host CPUs)."""
        return len(config.host_cpus) if config.host_cpus else len(os.sched_getaffinity(0))

    def outcome(self, config: RunConfig, launch: Launch, returncode: Optional[int],
                timed_out: bool, parser: SerialParser, codes: Dict[str, int],
                res: RunResult):
        """-> decide_status()'s tuple for a finished launch (may fill in res.timed_out,
        res.qemu_stderr, res.lab)."""
        rc = None if timed_out else self.qemu_returncode(returncode)
        status = decide_status(rc, timed_out, config.debug_exit, parser.verdict, codes)
        stopped = [ln for ln in res.qemu_stderr.splitlines() if KVM_STOP_MARK in ln]
        if stopped and parser.verdict is None:
            # QEMU pauses the VM on an internal error instead of exiting; the runner ends it
            # at once (runner.py) and this says why there is no verdict.
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
            _require_image(config.elf, DEFAULT_ELF)
        else:
            _require_image(config.iso, DEFAULT_ISO)
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


def _require_image(path: Optional[str], default: Path) -> None:
    image = image_path(path, default)
    if not image.is_file():
        raise HostError(f"{image} does not exist: run `make`" if not path
                        else f"{image} does not exist")


def no_tcg(config: RunConfig, platform: str) -> None:
    """The Hyper-V platforms run the guest under KVM: --accel tcg is a usage error."""
    if config.accel == "tcg":
        raise HostError(f"--accel tcg cannot be used with --platform {platform}: the guest "
                        f"runs under KVM with Hyper-V emulation")


class HostKvmHypervPlatform(QemuPlatform):
    """The hv-* flags straight on this host's KVM (needs a KVM that emulates Hyper-V)."""
    name = "host-kvm-hyperv"

    def resolve_accel(self, config: RunConfig) -> str:
        no_tcg(config, self.name)
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

