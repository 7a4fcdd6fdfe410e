"""The Hyper-V lab platform (docs/hvlab.md): the outer VM's command line, the per-run files
prepended to the lab's initramfs, and the outcome read from the lab init's `hvlab:` marker
lines (scripts/hvlab-init). The lab itself is built by scripts/hvlab (builders.ensure_lab)."""

from __future__ import annotations

import dataclasses
import math
import os
import re
import shlex
import shutil
from pathlib import Path
from typing import Dict, List, Optional

from .builders import ensure_lab
from .config import (DEBUG_EXIT_IOBASE, DEFAULT_ELF, DEFAULT_ISO, GUEST_LINE_PREFIXES,
                     HVLAB_BOOT_MARGIN, HVLAB_GUEST_DIR, HVLAB_HANG_S, HVLAB_MUTE_S, HVLAB_SILENCE_S, HVLAB_INITRD, HVLAB_KERNEL,
                     HVLAB_LAB_CODES, HVLAB_OUTER_CMDLINE, HVLAB_OUTER_CPU, LINUX_GUEST_DIR,
                     LINUX_INITRD_NAME, LINUX_KERNEL_NAME, OVMF_VARS, QEMU_BINARY, STATUS_HOST,
                     STATUS_NO_VERDICT, STATUS_TIMEOUT, HostError, RunConfig, RunResult)
from .cpio import cpio_newc
from .platforms import Launch, Platform, QemuPlatform, no_tcg
from .qemu import (CONFIG_DISK, VARS_COPY, build_qemu_argv, effective_cmdline, hv_flag_list,
                   image_path, make_config_disk)
from .serial import SerialParser, decide_status


def lab_markers(lines: List[str]) -> Dict[str, object]:
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
    silence_limit = HVLAB_SILENCE_S  # the outer init's first line comes within seconds
    guest_silence_limit = HVLAB_MUTE_S

    def guest_spoke(self, parser: SerialParser) -> bool:
        return _kernel_spoke(parser)

    def resolve_accel(self, config: RunConfig) -> str:
        no_tcg(config, self.name)
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
        flags = "".join("," + f for f in hv_flag_list(config.hv_flags))
        extra = config.cpu_flags.strip()
        if extra and not extra.startswith(","):
            extra = "," + extra
        inner = dataclasses.replace(
            config, qemu=QEMU_BINARY, cpu="host", cpu_flags=flags + extra,
            iso=str(guest / "tlbstorm.iso"), elf=str(guest / "tlbstorm.elf"), screendump=None,
            qemu_args=["-nic", "none"] + list(config.qemu_args))
        return build_qemu_argv(inner, accel="kvm", workdir=guest, linux_dir=guest / "linux")

    def vcpu_cores(self, config: RunConfig) -> int:
        """The inner vCPUs share the outer VM's."""
        cpus = os.cpu_count() or 2
        return max(2, min(config.smp, cpus)) if cpus >= 2 else 1

    def outer_argv(self, config: RunConfig, workdir: Path) -> List[str]:
        outer_smp = self.vcpu_cores(config)
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
            "# hvlab run configuration, written by scripts/tlbrun/lab.py (read by /init)\n",
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
            files[f"{g}/tlbstorm.elf"] = image_path(config.elf, DEFAULT_ELF).read_bytes()
        else:
            files[f"{g}/tlbstorm.iso"] = image_path(config.iso, DEFAULT_ISO).read_bytes()
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
                timed_out: bool, parser: SerialParser, codes: Dict[str, int],
                res: RunResult):
        info = lab_markers(parser.lines)
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
        if timed_out:
            return self._timed_out(info, errors, warnings, parser, codes, res)
        inner_timeouts = [e for e in errors if e.startswith("timeout:")]
        if inner_timeouts:
            res.timed_out = True
            if info["started"] and not _kernel_spoke(parser) and \
                    self.inner_timeout(config) >= HVLAB_HANG_S:
                res.lab["retry"] = (f"the inner machine hung in its firmware or boot loader (no "
                                    f"line of the guest kernel's in {self.inner_timeout(config)} s)")
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
        retry = _retry_reason(info, parser, returncode)
        if retry:
            res.lab["retry"] = retry
        return _inner_outcome(config, info, returncode, warnings, parser, codes)

    def _timed_out(self, info: Dict[str, object], errors: List[str], warnings: List[str],
                   parser: SerialParser, codes: Dict[str, int], res: RunResult):
        """outcome() when the outer QEMU was killed at the (outer or grace) timeout."""
        if parser.verdict is not None:
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
        if not info["started"]:
            warnings.append("the outer VM never started the inner QEMU" +
                            (f" (lab errors: {'; '.join(errors)})" if errors else ""))
        if not parser.lines:
            # Not one line from the outer VM (its init speaks within seconds): the emulated
            # stack hung before anything ran (seen once in 8 minutes of silence).
            res.lab["retry"] = "the outer VM printed nothing (it hung while booting)"
        elif not _kernel_spoke(parser):
            # The outer VM ran but the guest kernel never printed a line (seen in CI: the inner
            # QEMU started, then 30 minutes of silence): the nested stack hung before the guest
            # ran; guest_silence_limit cuts this short.
            res.lab["retry"] = ("the guest kernel printed nothing (the nested stack hung "
                                "before it ran)")
        return STATUS_TIMEOUT, None, None, warnings, "timeout"


def _kernel_spoke(parser: SerialParser) -> bool:
    """Whether the guest kernel itself printed anything (firmware and GRUB lines do not count)."""
    return bool(parser.records) or any(ln.startswith(GUEST_LINE_PREFIXES) for ln in parser.lines)


def _retry_reason(info: Dict[str, object], parser: SerialParser,
                  returncode: Optional[int]) -> Optional[str]:
    """Why run() should boot again (the lab failed before the guest printed anything), or None.
    Silent: nothing from the guest kernel itself. Firmware and GRUB lines do not count: the
    emulated nested stack sometimes resets inside them (seen with OVMF and GRUB), or hangs
    there until the inner timeout (seen once, after GRUB's banner under OVMF; outcome() retries
    that case itself)."""
    inner_rc = info["inner_rc"]
    silent = info["started"] and (not info["inner_output_lines"] or not _kernel_spoke(parser))
    if silent and inner_rc is None:
        return (f"the outer QEMU ended (status {returncode}) before the guest "
                f"printed anything")
    if silent and not inner_rc & 1:
        return (f"the inner machine ended (QEMU status {inner_rc}: a reset or "
                f"triple fault) before the guest kernel printed anything")
    return None


def _inner_outcome(config: RunConfig, info: Dict[str, object], returncode: Optional[int],
                   warnings: List[str], parser: SerialParser, codes: Dict[str, int]):
    """outcome() from the inner QEMU's status, as the lab init reported it."""
    inner_rc = info["inner_rc"]
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
