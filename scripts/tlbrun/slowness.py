"""How much longer than nominal a guest may take to show that it is alive on this host, now.

Every liveness bound the kernel keeps (an AP checking in, a CPU answering a call, the shootdown
watchdog, a barrier, a lockstep reader showing progress) and the harness's own time limits are
nominal for a quiet host with one host core per vCPU. On a busy host or with more vCPUs than host
cores a vCPU that is only slow would be reported as stuck, so the runner multiplies them by a
factor: the host's measured slowness times the vCPUs per host core, rounded to a whole number
(the kernel's `slow=`). A CPU that is really stuck is still reported, later.

The host's slowness is measured, not guessed: one busy process per host CPU spins for a short
window and the CPU time they were given is compared with the wall time that passed (another
process's load and a hypervisor's steal both show as time not given). It is measured again when
the last measurement is older than MEASURE_EVERY_S."""

from __future__ import annotations

import math
import os
import time
from typing import List, Optional, Tuple

MEASURE_WINDOW_S = 0.25   # each probe process spins this long
MEASURE_EVERY_S = 60.0    # a measurement is reused for this long
MAX_FACTOR = 100          # the kernel's `slow=` maximum
ROUND_DOWN = 0.2          # 1.15 is 1, not 2: a quiet host's noise must not double every timeout

_last: Optional[Tuple[float, float]] = None  # (monotonic time, slowness)


def _spin(seconds: float, wfd: int) -> None:
    """In a child: spin for `seconds` of wall time, write the CPU time it got, exit."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass
    os.write(wfd, repr(time.process_time()).encode())
    os._exit(0)


def measure_host(window: float = MEASURE_WINDOW_S, cpus: Optional[int] = None) -> float:
    """Wall time x CPUs over the CPU time one spinning process per CPU was given (>= 1.0)."""
    cpus = cpus or len(os.sched_getaffinity(0))
    children: List[Tuple[int, int]] = []
    t0 = time.monotonic()
    for _ in range(cpus):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            _spin(window, w)
        os.close(w)
        children.append((pid, r))
    given = 0.0
    for pid, r in children:
        with os.fdopen(r, "rb") as f:
            text = f.read().decode() or "0"
        os.waitpid(pid, 0)
        given += float(text)
    wall = time.monotonic() - t0
    return max(1.0, wall * cpus / given) if given > 0 else float(MAX_FACTOR)


def host_slowness() -> float:
    """The host's slowness, measured at most every MEASURE_EVERY_S seconds."""
    global _last
    now = time.monotonic()
    if _last is None or now - _last[0] > MEASURE_EVERY_S:
        _last = (now, measure_host())
    return _last[1]


def factor(slowness: float, vcpus: int, cores: int) -> int:
    """The whole-number multiplier for liveness bounds: slowness x vCPUs per host core."""
    per_core = max(1.0, vcpus / max(1, cores))
    return max(1, min(MAX_FACTOR, math.ceil(slowness * per_core - ROUND_DOWN)))


def with_slow(cmdline: str, slow: int) -> str:
    """The command line with `slow=` added, unless it names one already or slow is 1, or it is
    empty: that stands for the GRUB menu's default preset, which the runner leaves alone."""
    words = cmdline.split()
    if slow <= 1 or not words or any(w.startswith("slow=") for w in words):
        return cmdline
    return " ".join(words + [f"slow={slow}"])
