"""Hyper-V hypercall shootdowns for real, in the Hyper-V lab (docs/hvlab.md): detection, the
hypercall page and VP indices, every flush form and hv-ipi side by side with the IPI backend in
one boot with the oracle clean on 2 and 4 vCPUs, the Ex and XMM forms, and an injected failing
status that must fall back to IPIs. Lab timings are not representative: only structure is
asserted. Skipped, with the reason, where the lab cannot be built or run."""

import subprocess
import sys

import pytest

from conftest import ROOT, describe

pytestmark = [pytest.mark.boot, pytest.mark.hyperv]

HV_BACKENDS = ["hv-flush", "hv-space", "hv-list", "hv-space-ex", "hv-list-ex", "hv-ipi", "hv-ipi-ex"]
XMM_BACKENDS = ["hv-space-xmm", "hv-list-xmm", "hv-space-ex-xmm", "hv-list-ex-xmm", "hv-ipi-ex-xmm"]


@pytest.fixture(scope="module")
def lab():
    p = subprocess.run([sys.executable, str(ROOT / "scripts" / "hvlab"), "check"], capture_output=True,
                       text=True, timeout=600)
    if p.returncode != 0:
        reason = ((p.stderr + p.stdout).strip().splitlines() or ["scripts/hvlab check failed"])[-1]
        pytest.skip(f"Hyper-V lab unavailable: {reason}")


def lab_run(boot, smp, cmdline, timeout=420, **kw):
    """One lab boot. Targets spin: a halted inner vCPU exits to the lab's KVM, and every exit
    drops its TLB (see below), so halting targets would hide every stale entry."""
    return boot(platform="hvlab", accel="auto", firmware="direct", smp=smp,
                cmdline=cmdline + " targets=spin", timeout=timeout, **kw)


def violations(r):
    o = r["oracle"]
    return o["stale_reads"] + o["writes_after_readonly"] + o["reads_after_unmap"] + o["unexpected_faults"]


def check_hyperv_record(res, cpus):
    hv = res.record("hyperv")
    assert hv is not None, describe(res)
    assert hv["vendor"] == "Microsoft Hv", hv
    assert hv["recommendations"]["remote_tlb_flush"] and hv["hypercall_page"], hv
    assert len(hv["vp_index"]) == cpus and len(set(hv["vp_index"])) == cpus, hv


@pytest.mark.parametrize("cpus", [2, 4])
def test_every_form_side_by_side(built, boot, lab, cpus):
    res = lab_run(boot, cpus, "backend=all workload=remap,unmap pages=1 iters=20 warmup=2 ipi_iters=5")
    assert res.status == 0, describe(res)
    check_hyperv_record(res, cpus)
    rows = {}
    for r in res.records_of("shootdown"):
        rows.setdefault(r["backend"], []).append(r)
        assert r["status"] == "ok" and violations(r) == 0 and r["fallbacks"] == 0, r
        assert r["env"]["hypervisor_vendor"] == "Microsoft Hv" and r["env"]["pv_interface"] == "hyperv"
    for name in HV_BACKENDS + ["ipi"]:
        assert name in rows and len(rows[name]) == 2, (name, sorted(rows))
    assert "kvm-flush" not in rows, "KVM's interface must stay off beside Hyper-V hypercalls"
    # without the XMM input feature (not in the default flags) the forced XMM forms say so
    for name in XMM_BACKENDS:
        assert name not in rows, name
        line = next(ln for ln in res.lines if ln.startswith(f"tlb: backend {name} "))
        assert "XMM fast hypercall input not offered" in line, line
    assert "(recommended)" in [l for l in res.lines if l.startswith("tlb: backend hv-flush")][0]


def test_xmm_fast_input(built, boot, lab):
    """XMM fast input for every form KVM accepts it for (Space, List, their Ex forms, the Ex
    cluster IPI), each forced, and hv-flush choosing it: no status refused (no fallback), the
    oracle clean."""
    res = lab_run(boot, 2, "backend=%s,hv-flush,ipi pages=1 iters=20 warmup=2 ipi_iters=5"
                  % ",".join(XMM_BACKENDS), hv_flags="+hv-xmm-input")
    assert res.status == 0, describe(res)
    r = {x["backend"]: x for x in res.records_of("shootdown")}
    for name in XMM_BACKENDS + ["hv-flush"]:
        assert r[name]["status"] == "ok" and violations(r[name]) == 0, r[name]
        assert r[name]["fallbacks"] == 0, r[name]
    assert res.record("hyperv")["features"]["xmm_input"] is True


def test_strict_mode_enforce_cpuid(built, boot, lab):
    """hv-enforce-cpuid: KVM refuses what the CPUID leaves do not grant, as Hyper-V may. With
    the default flags every backend tlbstorm offers is used as the TLFS allows it: none is
    refused (no fallback) and the oracle stays clean."""
    res = lab_run(boot, 2, "backend=all pages=1 iters=10 warmup=1 ipi_iters=5",
                  hv_flags="+hv-enforce-cpuid")
    assert res.status == 0, describe(res)
    recs = res.records_of("shootdown")
    assert {r["backend"] for r in recs} >= set(HV_BACKENDS), recs
    for r in recs:
        assert r["status"] == "ok" and violations(r) == 0 and r["fallbacks"] == 0, r


def test_apic_through_msrs(built, boot, lab):
    """hv-vapic recommends the EOI and ICR MSRs (0x40000004 EAX bit 3); without x2APIC the
    kernel sends its IPIs and EOIs through them, and every interrupt-driven backend still works."""
    res = lab_run(boot, 2, "backend=hv-flush,hv-ipi,ipi pages=1 iters=10 warmup=1 ipi_iters=5",
                  hv_flags="+hv-vapic", cpu_flags=",-x2apic")
    assert res.status == 0, describe(res)
    assert res.record("hyperv")["apic_msrs"] is True, res.record("hyperv")
    recs = res.records_of("shootdown")
    assert {r["backend"] for r in recs} == {"hv-flush", "hv-ipi", "ipi"}, recs
    for r in recs:
        assert r["env"]["apic_mode"] == "xAPIC", r["env"]
        assert r["status"] == "ok" and violations(r) == 0 and r["fallbacks"] == 0, r


def test_passthrough_vendor(built, boot, lab):
    """hv-passthrough: the vendor string says "Linux KVM Hv", the interface is still Hv#1, and
    the hypercall backends work."""
    res = lab_run(boot, 2, "backend=hv-flush,hv-ipi,ipi pages=1 iters=10 warmup=1 ipi_iters=5",
                  hv_flags="hv-passthrough")
    assert res.status == 0, describe(res)
    assert res.record("hyperv")["vendor"] == "Linux KVM Hv", res.record("hyperv")
    r = {x["backend"]: x for x in res.records_of("shootdown")}
    for name in ("hv-flush", "hv-ipi"):
        assert r[name]["status"] == "ok" and violations(r[name]) == 0 and r[name]["fallbacks"] == 0, r


def test_injected_failure_falls_back(built, boot, lab):
    res = lab_run(boot, 2, "backend=hv-flush,hv-ipi hv_inject_status=5 pages=1 iters=10 warmup=1 ipi_iters=5")
    assert res.status == 0, describe(res)
    r = {x["backend"]: x for x in res.records_of("shootdown")}
    for name in ("hv-flush", "hv-ipi"):
        assert r[name]["fallbacks"] == r[name]["shootdowns"] > 0 and violations(r[name]) == 0, r[name]
    assert "HV_STATUS_INVALID_PARAMETER" in res.log_text()


def test_selftests_in_the_lab(built, boot, lab):
    res = lab_run(boot, 2, "mode=selftest test=hv_enlightenments,hv_hypercalls,hv_cluster_ipi,tlb_remote,tlb_watchdog")
    assert res.status == 0, describe(res)
    assert {t["name"]: t["result"] for t in res.records_of("selftest")} == {
        "hv_enlightenments": "pass", "hv_hypercalls": "pass", "hv_cluster_ipi": "pass",
        "tlb_remote": "pass", "tlb_watchdog": "pass"}, describe(res)


# Detection power in the lab. Stale entries survive here only until the CPU's next exit to the
# hypervisor (the outer TCG drops the inner guest's TLB at every world switch), so:
# - `remote` (no remote flush) and `highest` (the highest VP left out of a hypercall's processor
#   mask or VP set) must be caught for every form: by the oracle, or for a cluster IPI that is
#   still waited for, by the watchdog naming the target;
# - `local` and `last` leave out flushes on CPUs that exit anyway (the initiator's hypercall or
#   IPI, the target's interrupt, and KVM 6.1's hypercall flushes whole TLBs): where they are not
#   caught, the record must say "not shown" and why, never present a pass as evidence.
# A control's scenario runs until it is caught (at most `iters` changes; the kernel ends a negative
# control at its first catch). Inner vCPUs beyond the outer VM's 2 are time-shared, and each switch
# flushes them too: a target left out of plain IPIs is only seen under TCG (test_detection.py).
def caught(r):
    return violations(r) > 0 or r["watchdog_timeouts"] > 0


LAB_CONTROLS = {  # control: (inner vCPUs, the forms, whether this lab can show it)
    "remote": (2, HV_BACKENDS + ["ipi"], True),
    "highest": (3, HV_BACKENDS, True),
    "local": (2, HV_BACKENDS + ["ipi"], False),
    "last": (2, HV_BACKENDS + ["ipi"], False),
}


def lab_control_run(boot, control, workloads, pages, timeout, initiators="one", aspaces=1,
                    forms=None):
    cpus, all_forms, must = LAB_CONTROLS[control]
    forms = forms or all_forms
    res = lab_run(boot, cpus, f"backend={','.join(forms)} workload={','.join(workloads)} "
                              f"pages={','.join(map(str, pages))} skip_flush={control} iters=200 warmup=1 "
                              f"initiators={initiators} aspaces={aspaces} ipi_iters=5 ack_timeout_ms=500",
                  timeout=timeout)
    recs = res.records_of("shootdown")
    assert {r["backend"] for r in recs} == set(forms), describe(res)
    assert {(r["workload"], r["pages"]) for r in recs} == {(w, p) for w in workloads for p in pages}
    assert all(r["skip_flush"] == control for r in recs)
    for r in recs:
        assert caught(r) == (r["detection"]["by"] == "control"), r["detection"]
        if not caught(r):
            assert not must, f"{control} not caught: {r['backend']} {r['workload']} {r['pages']}: {r['oracle']}"
            assert r["detection"]["status"] == "not shown", r["detection"]
            assert r["detection"]["reason"].startswith(f"skip_flush={control} was not caught"), r["detection"]
    if any(caught(r) for r in recs):
        assert res.status == 1, describe(res)
    else:
        assert res.status == 0 and "verdict pass, detection not shown" in res.log_text(), describe(res)
    return recs


@pytest.mark.detection
@pytest.mark.parametrize("control", ["highest", "last"])
def test_controls_for_every_form(built, boot, lab, control):
    """`make check`'s cut: remap at 1 and 64 pages, every form (the flush forms and the
    cluster IPIs in boots of their own). protect and unmap, 512 pages and every initiator and
    address-space setting run in test_controls_full_matrix_in_the_lab (`make detection-tests`)."""
    cpus, forms, must = LAB_CONTROLS[control]
    ipi_forms = [f for f in forms if f.startswith("hv-ipi")]
    flush_forms = [f for f in forms if f not in ipi_forms]
    lab_control_run(boot, control, ["remap"], [1, 64], timeout=900, forms=flush_forms)
    if control != "highest":
        lab_control_run(boot, control, ["remap"], [1, 64], timeout=600, forms=ipi_forms)


@pytest.mark.detection_full
def test_highest_for_the_cluster_ipis(built, boot, lab):
    """The cluster IPIs leaving the highest VP out end in the watchdog (about 20 s a scenario in
    the lab). The lab's inner guest (once, the outer VM) has been seen to die right after that
    watchdog, intermittently, with this tree's kernel; not seen in three runs of the kernel
    before it. Open: until it is understood this runs with `make detection-tests`, not in
    `make check`."""
    forms = [f for f in LAB_CONTROLS["highest"][1] if f.startswith("hv-ipi")]
    lab_control_run(boot, "highest", ["remap"], [1, 64], timeout=600, forms=forms)


@pytest.mark.detection_full
@pytest.mark.parametrize("initiators, aspaces", [("one", 1), ("all", 2)])
@pytest.mark.parametrize("control", sorted(LAB_CONTROLS))
def test_controls_full_matrix_in_the_lab(built, boot, lab, control, initiators, aspaces):
    lab_control_run(boot, control, ["remap", "protect", "unmap"], [1, 64, 512], timeout=3600,
                    initiators=initiators, aspaces=aspaces)
