"""The cached builders of what a run boots besides tlbstorm: the Hyper-V lab (scripts/hvlab)
and the Linux peer guest (scripts/linuxguest), run on demand."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import List, Optional, TextIO

from .config import (HVLAB_BUILD_TIMEOUT, HVLAB_INITRD, HVLAB_KERNEL, HVLAB_SCRIPT,
                     LINUX_BUILD_TIMEOUT, LINUX_GUEST_DIR, LINUX_GUEST_SCRIPT, LINUX_INITRD_NAME,
                     LINUX_KERNEL_NAME, HostError)


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

