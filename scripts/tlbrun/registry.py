"""Every platform by name (PLATFORMS), and auto-hyperv, which picks one of two of them."""

from __future__ import annotations

from typing import Callable, Dict

from .config import PLATFORM_NAMES, RunConfig
from .lab import HvlabPlatform
from .platforms import HostKvmHypervPlatform, Platform, QemuPlatform
from .qemu import hv_flag_list, probe_kvm_hyperv


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
assert set(PLATFORMS) == set(PLATFORM_NAMES), "config.PLATFORM_NAMES names every platform"
