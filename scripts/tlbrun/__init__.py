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

The modules, each depending only on those above it:

    config     RunConfig, RunResult, exit statuses and codes (kernel/exit.h), constants
    serial     serial lines, records, the verdict line, decide_status()
    slowness   the host's measured slowness and the liveness timeouts' factor
    screens    PPM screendump files          cpio     the newc cpio writer
    builders   ensure_lab(), ensure_linux_guest(): the cached builders, on demand
    qemu       the QEMU command line: accelerator and KVM probes, CPU and hv flags, checks
    qmp        QmpClient, take_screendump()
    platforms  Platform, Launch, QemuPlatform, HostKvmHypervPlatform
    lab        HvlabPlatform: the Hyper-V lab's runs and its marker lines
    registry   PLATFORMS, AutoHypervPlatform
    runner     run(): the boot loop, logs, warnings, the summary line
    debian, kmod  building guest images from Debian packages (scripts/hvlab, scripts/linuxguest)

Everything callers use is re-exported here (`tlbrun.run`, `tlbrun.RunConfig`, ...). To replace
a function in a test, patch it in the module that calls it (e.g. `tlbrun.runner.run_once`).
"""

from .builders import ensure_lab, ensure_linux_guest
from .config import (ACCELS, DEBUG_EXIT_IOBASE, DEFAULT_ELF, DEFAULT_HV_FLAGS, DEFAULT_ISO,
                     DEFAULT_LOG_DIR, DETECTION_NOT_SHOWN, EXIT_HEADER, FALLBACK_EXIT_CODES,
                     FIRMWARES, GUEST_LINE_PREFIXES, GUESTS, HVLAB_ATTEMPTS, HVLAB_BOOT_MARGIN,
                     HVLAB_BUILD_TIMEOUT, HVLAB_DIR, HVLAB_GUEST_DIR, HVLAB_HANG_S, HVLAB_INITRD,
                     HVLAB_KERNEL, HVLAB_SILENCE_S,
                     HVLAB_LAB_CODES, HVLAB_OUTER_CMDLINE, HVLAB_OUTER_CPU, HVLAB_SCRIPT,
                     HYPERV_PLATFORMS, KVM_DEVICE, KVM_STOP_MARK, LINUX_BUILD_TIMEOUT,
                     LINUX_GUEST_DIR, LINUX_GUEST_SCRIPT, LINUX_INITRD_NAME, LINUX_KERNEL_ARGS,
                     LINUX_KERNEL_NAME, MACHINES, NO_HV_FLAGS, OPTIONAL_HV_FLAGS, OVMF_CODE, OVMF_VARS,
                     PLATFORM_NAMES, PROFILES, QEMU_BINARY, REPO_ROOT, STATUS_HOST, STATUS_NO_VERDICT,
                     STATUS_TIMEOUT, HostError, RunConfig, RunResult, apply_profile,
                     load_exit_codes,
                     parse_exit_codes)
from .cpio import Cpio, cpio_newc
from .lab import HvlabPlatform, lab_markers
from .platforms import HostKvmHypervPlatform, Launch, Platform, QemuPlatform
from .qemu import (CONFIG_DISK, QMP_SOCKET, VARS_COPY, build_qemu_argv, cpu_arg,
                   effective_cmdline, grub_config_text, hv_flag_list, image_path, kvm_openable,
                   linux_append, make_config_disk, probe_kvm, probe_kvm_hyperv, resolve_accel,
                   validate_cmdline, validate_config)
from .qmp import QmpClient, take_screendump
from .registry import PLATFORMS, AutoHypervPlatform
from .runner import display_path, run, run_once, summary_line
from .screens import ppm_complete, ppm_info
from .slowness import factor as slow_factor, host_slowness, measure_host, with_slow
from .serial import (CASE_PATTERN, CASE_PREFIX, CASE_RECORDS, PAUSE_LINE, RECORD_PREFIX,
                     VERDICT_RE, SerialParser, clean_line, decide_status, parse_case_line,
                     parse_record, parse_verdict_line, run_detection,
                     verdict_line_detection)
