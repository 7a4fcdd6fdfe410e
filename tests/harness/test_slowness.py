"""scripts/tlbrun/slowness.py and the runner's use of it (no QEMU): the measured slowness of the
host, the liveness factor, and what the runner changes with it (the kernel's `slow=`, the time
limit). Run: /usr/bin/python3 -m pytest -q tests/harness/test_slowness.py"""

import os
import time

import pytest

import tlbrun
from tlbrun import runner, slowness
from tlbrun.lab import HvlabPlatform
from tlbrun.platforms import QemuPlatform


def test_measure_is_at_least_one_and_quick():
    t0 = time.monotonic()
    s = tlbrun.measure_host(window=0.05)
    assert s >= 1.0 and time.monotonic() - t0 < 5


def test_measure_sees_a_hog():
    """With one extra spinning process per CPU, each probe gets about half a CPU: the slowness
    must come out clearly above a quiet reading (by construction: twice the runnable work)."""
    cpus = len(os.sched_getaffinity(0))
    hogs = []
    for _ in range(cpus):
        pid = os.fork()
        if pid == 0:
            end = time.monotonic() + 3
            while time.monotonic() < end:
                pass
            os._exit(0)
        hogs.append(pid)
    try:
        time.sleep(0.05)
        assert tlbrun.measure_host(window=0.5) > 1.4
    finally:
        for pid in hogs:
            os.kill(pid, 9)
            os.waitpid(pid, 0)


@pytest.mark.parametrize("s, vcpus, cores, want", [
    (1.0, 2, 2, 1), (1.15, 2, 2, 1), (1.25, 2, 2, 2), (1.0, 4, 2, 2), (1.0, 8, 2, 4),
    (1.1, 8, 2, 5), (2.0, 1, 2, 2), (1000.0, 64, 1, slowness.MAX_FACTOR), (1.0, 2, 0, 2)])
def test_factor(s, vcpus, cores, want):
    assert tlbrun.slow_factor(s, vcpus, cores) == want


def test_with_slow():
    assert tlbrun.with_slow("mode=bench", 1) == "mode=bench"
    assert tlbrun.with_slow("mode=bench  pages=1", 3) == "mode=bench pages=1 slow=3"
    assert tlbrun.with_slow("mode=bench slow=7", 3) == "mode=bench slow=7"
    assert tlbrun.with_slow("", 3) == ""  # the ISO's default preset, left alone


def test_measurement_is_reused(monkeypatch):
    calls = []
    monkeypatch.setattr(slowness, "_last", None)
    monkeypatch.setattr(slowness, "measure_host", lambda: calls.append(1) or 1.7)
    assert slowness.host_slowness() == 1.7 and slowness.host_slowness() == 1.7
    assert len(calls) == 1


def scaled(on=None, **kw):
    res = tlbrun.RunResult(status=0)
    config = runner._scale_timeouts(tlbrun.RunConfig(**kw), on or QemuPlatform(), res,
                                    lambda msg: None)
    return config, res


def test_runner_scales_the_kernel_and_the_time_limit():
    config, res = scaled(slowness=1.0, smp=8, cmdline="mode=bench", timeout=60, host_cpus=[0, 1])
    assert res.slow == 4 and res.host_slowness == 1.0
    assert config.cmdline == "mode=bench slow=4" and config.timeout == 240


def test_runner_leaves_a_quiet_host_alone():
    config, res = scaled(slowness=1.0, smp=1, cmdline="mode=bench", timeout=60)
    assert res.slow == 1 and config.cmdline == "mode=bench" and config.timeout == 60


def test_command_line_factor_wins():
    config, res = scaled(slowness=9.0, smp=2, cmdline="mode=bench slow=3", timeout=10)
    assert res.slow == 3 and res.host_slowness is None
    assert config.cmdline == "mode=bench slow=3" and config.timeout == 30


def test_linux_guest_gets_only_the_time_limit():
    config, res = scaled(slowness=2.0, smp=2, guest="linux", cmdline="workload=remap", timeout=10)
    assert res.slow == 2 and config.cmdline == "workload=remap" and config.timeout == 20


def test_lab_counts_the_outer_vcpus():
    """The lab's inner vCPUs share its outer VM's (2 on a 2-CPU host, at most the host's)."""
    lab = HvlabPlatform()
    cores = lab.vcpu_cores(tlbrun.RunConfig(smp=4))
    _, res = scaled(lab, slowness=1.0, smp=4, platform="hvlab", cmdline="mode=bench")
    assert res.slow == tlbrun.slow_factor(1.0, 4, cores) and cores >= 2
