"""Hostile firmware (docs/tests.md "Hostile firmware"): the kernel's fw_fault= hook alters a copy
of a firmware table before anything reads it (QEMU cannot be made to publish a broken MADT), and
each alteration must end in one clear line and an error, or a safe fallback and a pass that is
true: never a hang, a triple fault, or a pass on a machine the guest misread. The harness checks
the last by construction: it knows how many vCPUs it gave the guest."""

import pytest

import tlbrun
from conftest import describe
from tlbrun import runner

pytestmark = [pytest.mark.boot]
ERROR = 4
INFO = "mode=info ipi_iters=5"


def boot_with(boot, fault, smp=2, **kw):
    return boot(firmware="direct", smp=smp, timeout=60, cmdline=f"{INFO} fw_fault={fault}", **kw)


def line(res, text):
    return any(text in ln for ln in res.lines)


@pytest.mark.parametrize("fault, smp, says", [
    # The MADT is unusable: the boot CPU alone, said, and the harness refuses it as a pass.
    ("madt-checksum", 2, "is not a valid table (absent, or a bad length or checksum): ignored"),
    ("madt-garbage", 2, "; running on the boot CPU only"),
    # The MADT lists one processor twice, or leaves one out: fewer CPUs than the machine has.
    ("madt-dup", 3, "smp: the MADT lists 1 APIC IDs twice"),
    ("madt-fewer", 3, "acpi: test hook fw_fault=madt-fewer"),
])
def test_misread_machine_is_an_error(built, boot, fault, smp, says):
    res = boot_with(boot, fault, smp)
    assert res.status == ERROR and res.verdict == "error", describe(res)
    assert line(res, says), describe(res)
    assert res.record("topology")["online"] < smp
    assert res.error and "it misread the machine" in res.error, res.error
    assert res.serial_verdict == ("pass", 0)  # the kernel itself could not tell


def test_madt_lists_a_cpu_that_does_not_exist(built, boot):
    """One more enabled processor than the machine has: it never checks in, and the kernel
    itself makes the run an error (after its AP timeout), naming the APIC ID."""
    res = boot_with(boot, "madt-extra")
    assert res.status == ERROR and res.serial_verdict == ("error", ERROR), describe(res)
    topo = res.record("topology")
    assert topo["listed"] == 3 and topo["online"] == 2 and topo["failed_apic_ids"] == [200], topo
    assert line(res, "APIC ID 200 did not check in"), describe(res)


def test_xsdt_entry_into_absent_memory(built, boot):
    """An XSDT entry pointing at memory that is not there: one line, skipped, a true pass."""
    res = boot_with(boot, "xsdt-absent")
    assert res.status == 0, describe(res)
    assert line(res, "entry") and line(res, "(0x7ff000000000) is not a valid table"), describe(res)
    assert res.record("topology")["online"] == 2


@pytest.mark.parametrize("machine, firmware, ok", [
    ("q35", "direct", True),                              # the PIT is there: a measured clock
    ("q35,pit=off,pic=off,hpet=off,i8042=off", "uefi", False),  # Gen2-like: nothing left
])
def test_fadt_without_pm_timer(built, boot, machine, firmware, ok):
    """No PM timer in the FADT: another source where one exists; with none, the guessed clock
    makes the run an error, never a pass with wrong times."""
    res = boot(firmware=firmware, machine=machine, smp=2, timeout=240,
               cmdline=f"{INFO} fw_fault=fadt-no-pm-timer")
    tsc = res.record("tsc")
    assert tsc is not None and tsc["pm_timer_khz"] == 0, describe(res)
    if ok:
        assert res.status == 0 and tsc["source"] != "guess-1ghz", describe(res)
    elif tsc["source"] == "guess-1ghz":
        assert res.status == ERROR and line(res, "the TSC frequency was guessed"), describe(res)
    else:   # a CPUID or hypervisor leaf still gave the frequency
        assert res.status == 0, describe(res)


def test_unknown_fault_is_a_usage_error(built, boot):
    res = boot(firmware="direct", smp=2, timeout=60, cmdline="fw_fault=everything")
    assert res.status == 2 and line(res, "bad value 'everything' for fw_fault"), describe(res)


def test_misread_machine_logic():
    """The harness's check on its own: cpus= limits the count on purpose; the Linux guest and
    runs without a topology record are not judged."""
    def res(online, listed=2):
        r = tlbrun.RunResult(status=0)
        r.records = [{"record": "topology", "online": online, "listed": listed}]
        return r

    cfg = tlbrun.RunConfig(smp=3, cmdline="mode=info")
    assert runner._misread_machine(cfg, res(3)) is None
    assert "brought up 2 CPUs on a machine of 3" in runner._misread_machine(cfg, res(2))
    assert runner._misread_machine(tlbrun.RunConfig(smp=3, cmdline="cpus=2"), res(2)) is None
    assert runner._misread_machine(tlbrun.RunConfig(smp=3, guest="linux"), res(2)) is None
    assert runner._misread_machine(cfg, tlbrun.RunResult(status=0)) is None
