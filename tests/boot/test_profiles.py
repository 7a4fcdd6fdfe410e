"""Machines that look like Hyper-V's generations (scripts/run --profile; REFERENCE.md): Generation
2 has no PIT, 8259 PIC, HPET or i8042 and boots UEFI, its FADT naming the PM timer only through
X_PM_TMR_BLK. The kernel must find a clock that is really there, bring every CPU online with
it, and run the benchmark; a normal boot of the same platform is the reference for the clock."""

import subprocess

import pytest

import tlbrun
from conftest import describe

pytestmark = pytest.mark.boot

GEN2, _ = tlbrun.apply_profile("gen2", None, None)
GEN1, _ = tlbrun.apply_profile("gen1", None, None)
CLOCK_TOLERANCE = 0.01  # the bound: within 1% of a normal boot's calibration


def assert_all_online(res, cpus):
    topo = res.record("topology")
    assert topo and topo["online"] == cpus and topo["missing"] == 0, describe(res)


def assert_bench_pass(res):
    assert res.status == 0 and res.verdict == "pass", describe(res)
    recs = res.records_of("shootdown")
    assert recs and all(r["status"] == "ok" and r["oracle"]["violations"] == 0 for r in recs), recs


def test_gen2_clock_cpus_and_benchmark(built, boot):
    """No PIT: the PM timer (X_PM_TMR_BLK under OVMF) gives the frequency, the PIT probe says
    absent instead of timing a speaker port, all 4 CPUs check in, the benchmark passes, and the
    frequency agrees with a normal q35 boot's (which has both timers and checks one by the
    other) within 1%."""
    gen2 = boot(firmware="uefi", machine=GEN2, smp=4, timeout=180,
                cmdline="pages=1,8 iters=100 warmup=10")
    assert_bench_pass(gen2)
    assert_all_online(gen2, 4)
    tsc = gen2.record("tsc")
    assert tsc["pit_khz"] == 0 and tsc["pm_timer_khz"] > 0, tsc
    assert tsc["source"] == "acpi-pm-timer" and tsc["cross_check"] is None, tsc  # TCG: no leaf
    normal = boot(firmware="direct", smp=4, timeout=60, cmdline="mode=info")
    assert normal.status == 0, describe(normal)
    ref = normal.record("tsc")
    assert ref["pit_khz"] > 0 and ref["pm_timer_khz"] > 0, ref
    assert ref["cross_check"] is not None and ref["source"] == "pit", ref
    assert ref["cross_check"]["source"] == "acpi-pm-timer", ref
    # Like with like: the normal boot's PM-timer calibration (its primary, the PIT, can be off by
    # more than 1% on a busy host, which its own cross_check then reports).
    assert abs(tsc["khz"] - ref["pm_timer_khz"]) <= CLOCK_TOLERANCE * ref["pm_timer_khz"], (tsc, ref)


def test_gen1_benchmark(built, boot):
    """Generation 1: an i440fx BIOS machine; the usual clock, every CPU, the benchmark."""
    res = boot(firmware="bios", machine=GEN1, smp=2, timeout=120, cmdline="pages=1 iters=100 warmup=10")
    assert_bench_pass(res)
    assert_all_online(res, 2)
    assert res.record("tsc")["pit_khz"] > 0


@pytest.mark.kvm
def test_gen2_under_kvm(built, boot, kvm_usable):
    """Under KVM the hypervisor reports the frequency (0x40000010) and the PM timer checks it."""
    res = boot(firmware="uefi", machine=GEN2, accel="kvm", smp=2, timeout=180,
               cmdline="pages=1 iters=50 warmup=5 ipi_iters=20")
    if tlbrun.KVM_STOP_MARK in res.qemu_stderr and not res.records:
        pytest.skip("this host's KVM stops OVMF with an internal error before tlbstorm starts "
                    "(any UEFI boot under KVM here, profile or not)")
    assert_bench_pass(res)
    assert_all_online(res, 2)
    tsc = res.record("tsc")
    assert tsc["pit_khz"] == 0 and tsc["source"] != "pit", tsc
    assert tsc["cross_check"] is None or tsc["cross_check"]["source"] == "acpi-pm-timer", tsc


@pytest.mark.parametrize("args, message", [
    (["--profile", "gen2", "--firmware", "bios"], "--profile gen2 boots with firmware uefi, not bios"),
    (["--profile", "gen1", "--machine", "q35"], "cannot be combined with --profile gen1"),
])
def test_profile_usage_errors(args, message):
    p = subprocess.run(["scripts/run", "--dry-run"] + args, capture_output=True, text=True,
                       cwd=tlbrun.REPO_ROOT)
    assert p.returncode == tlbrun.STATUS_HOST and message in p.stderr, p.stderr
