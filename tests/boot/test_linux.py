"""The Linux peer (docs/linux.md): the guest builds (cached, and cold from the .deb cache), boots
under TCG with every workload and valid records, rejects bad options with the usage verdict,
times out cleanly; under KVM where a Linux guest can run; in the Hyper-V lab with Hyper-V's
hypercall flush. Every record is validated against docs/records.schema.json by run_boot."""

import gzip
import importlib.machinery
import importlib.util
import shutil
import subprocess
import sys
import time

import pytest

from conftest import ROOT, describe

import tlbrun

pytestmark = [pytest.mark.boot]

ITERS = 30
WORKLOADS = ["madvise", "mprotect", "munmap"]
EQUIVALENT = {"madvise": "remap", "mprotect": "protect", "munmap": "unmap"}
PAGES = [1, 64]
CMDLINE = f"workload={','.join(WORKLOADS)} pages={','.join(map(str, PAGES))} iters={ITERS} warmup=3"
BUILD = [sys.executable, str(ROOT / "scripts" / "linuxguest")]


@pytest.fixture(scope="session")
def linux_guest():
    """scripts/linuxguest build once per session (a fresh clone builds it here)."""
    p = subprocess.run(BUILD + ["build"], capture_output=True, text=True, timeout=1200)
    if p.returncode != 0:
        pytest.fail(f"scripts/linuxguest build failed:\n{p.stdout}{p.stderr}", pytrace=False)


def linux_boot(boot, **overrides):
    settings = dict(guest="linux", firmware="direct", smp=2, timeout=150, cmdline=CMDLINE)
    settings.update(overrides)
    return boot(**settings)


def check_run(res, smp, iters=ITERS):
    """The record sequence and values of a passing run; -> the shootdown records."""
    assert res.status == 0 and res.verdict == "pass", describe(res)
    kinds = [r["record"] for r in res.records]
    assert kinds[0] == "bench" and kinds[-1] == "verdict", kinds
    assert res.records[-1]["detection"] is None and res.detection is None, res.records[-1]
    assert not res.detection_not_shown and "detection" not in res.summary, res.summary
    bench = res.records[0]
    assert bench["backends"] == ["linux"] and bench["acks"] == ["early"] and bench["pages"] == PAGES and bench["ipi_floor_p50_cycles"] == 0, bench
    assert bench["timer_overhead_min_cycles"] <= bench["timer_overhead_p50_cycles"], bench
    shootdowns = res.records_of("shootdown")
    assert [(r["workload"], r["pages"]) for r in shootdowns] == \
        [(w, p) for w in WORKLOADS for p in PAGES], shootdowns
    # each shootdown record is followed by its latency_hist parts, then the reference ones
    i = kinds.index("shootdown")
    for n, r in enumerate(shootdowns):
        assert res.records[i] is r and r["scenario"] == n
        i += 1
        for of, summary in (("latency", r["latency_cycles"]), ("reference",
                                                             r["reference_latency_cycles"])):
            total, part = 0, 0
            while True:
                h = res.records[i]
                assert h["record"] == "latency_hist" and h["scenario"] == n, h
                assert h["of"] == of and h["part"] == part, h
                lows = [b[0] for b in h["buckets"]]
                assert lows == sorted(lows) and all(lo <= hi for lo, hi, _ in h["buckets"]), h
                total += sum(c for _, _, c in h["buckets"])
                i += 1
                part += 1
                if h["last"]:
                    break
            assert total == summary["count"] == iters, (of, r)
    for r in shootdowns:
        for key in ("latency_cycles", "latency_ns", "reference_latency_cycles",
                    "reference_latency_ns"):
            s = r[key]
            assert s["count"] == iters and s["min"] <= s["p50"] <= s["p99"] <= s["max"], (key, r)
        assert r["backend"] == "linux" and r["equivalent"] == EQUIVALENT[r["workload"]], r
        assert r["status"] == "ok" and r["shootdowns"] == iters, r
        assert r["targets_per_shootdown_milli"] == 1000 * (smp - 1), r
        assert r["shootdown_cost_cycles_p50"] == \
            r["latency_cycles"]["p50"] - r["reference_latency_cycles"]["p50"], r
        assert r["oracle"]["checks"] == 0 and r["ack_cycles"]["count"] == 0, r
        # no oracle, so no detection claim that a scenario could have seen a broken flush
        assert r["oracle"]["opportunities"] == r["oracle"]["violations"] == 0, r
        assert r["observe"] == "free" and r["error"] is None, r
        assert r["detection"] == {"status": "not shown", "by": None,
                                  "reason": "the Linux peer has no oracle",
                                  "retention_largest_shown": 0, "canary": None}, r
        if r["workload"] != "munmap":
            assert r["reader_faults"] == 0, r  # their readers never lose the mapping
        env = r["env"]
        assert env["guest"] == "linux" and env["cpus"] == smp, env
        assert env["tsc_source"] == "linux-calibrated" and env["linux_kernel"], env
        if env["linux_tsc_khz"]:
            assert abs(env["tsc_khz"] - env["linux_tsc_khz"]) < env["linux_tsc_khz"] * 0.05, env
    return shootdowns


def test_guest_cached(linux_guest):
    """A second build finds everything up to date; status agrees."""
    t0 = time.monotonic()
    p = subprocess.run(BUILD + ["build"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0 and "linux guest up to date" in p.stdout, p.stdout + p.stderr
    assert time.monotonic() - t0 < 30
    p = subprocess.run(BUILD + ["status"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0 and "up to date" in p.stdout, p.stdout + p.stderr
    for name in ("vmlinux", "vmlinuz", "initrd.cpio.gz", "tlbpeer"):
        assert (tlbrun.LINUX_GUEST_DIR / name).is_file(), name


def cpio_names(data: bytes):
    names, pos = [], 0
    while True:
        assert data[pos:pos + 6] == b"070701", pos
        size, namesize = int(data[pos + 54:pos + 62], 16), int(data[pos + 94:pos + 102], 16)
        name = data[pos + 110:pos + 110 + namesize - 1].decode()
        if name == "TRAILER!!!":
            return names
        names.append(name)
        pos = (pos + 110 + namesize + 3) // 4 * 4
        pos = (pos + size + 3) // 4 * 4


def test_cold_build(linux_guest, tmp_path):
    """From nothing but the sources and the .deb cache: a copy of the tree builds the kernel
    (extracted again), tlbpeer and the initramfs."""
    path = str(ROOT / "scripts" / "linuxguest")
    loader = importlib.machinery.SourceFileLoader("linuxguest", path)
    module = importlib.util.module_from_spec(
        importlib.util.spec_from_file_location("linuxguest", path, loader=loader))
    loader.exec_module(module)  # its own list of the kernel files it compiles in
    for rel in ["scripts/linuxguest", "scripts/tlbrun", "scripts/linuxpeer"] + \
            module.KERNEL_SOURCES + module.KERNEL_HEADERS:
        src, dst = ROOT / rel, tmp_path / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, dst)
    debs = tmp_path / "build" / "hvlab" / "debs"
    debs.mkdir(parents=True)
    for deb in (ROOT / "build" / "hvlab" / "debs").glob("*.deb"):
        shutil.copy2(deb, debs / deb.name)  # no download: the session build filled the cache
    p = subprocess.run([sys.executable, str(tmp_path / "scripts" / "linuxguest"), "build"],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "extracting the kernel" in p.stdout and "built in" in p.stdout, p.stdout
    out = tmp_path / "build" / "linuxguest"
    assert (out / "vmlinux").read_bytes()[:4] == b"\x7fELF"
    names = cpio_names(gzip.decompress((out / "initrd.cpio.gz").read_bytes()))
    for name in ("init", "tlbpeer", "bin/busybox", "bin/sh", "dev/console"):
        assert name in names, names


def test_tcg_all_workloads(boot, linux_guest):
    res = linux_boot(boot, accel="tcg")
    shootdowns = check_run(res, 2)
    env = shootdowns[0]["env"]
    assert env["hypervisor"] == "tcg" and env["linux_flush"] == "native-ipi", env
    assert env["linux_ipi"] == "native" and env["flush_threshold"] == 33, env
    assert any(line.startswith("linuxpeer: Linux ") for line in res.lines)
    for r in shootdowns:
        check_linux_flush(r)


def check_linux_flush(r):
    """Linux's flush as ftrace timed it (docs/linux.md): either not measured, saying why, or one
    duration per flush_tlb_mm_range call traced inside the timed calls."""
    why, calls, paths = r["linux_flush_unavailable"], r["linux_flush_calls"], r["linux_flush_paths"]
    assert isinstance(paths, dict) and all(
        isinstance(n, int) and n >= 0 for n in paths.values()), r
    if why is not None:
        assert isinstance(why, str) and why, r
        assert r["linux_flush_ns"] is None and r["linux_flush_cycles"] is None, r
        return
    assert calls > 0, r
    for key in ("linux_flush_ns", "linux_flush_cycles"):
        s = r[key]
        assert s["count"] == calls and s["min"] <= s["p50"] <= s["p99"] <= s["max"], (key, r)
    # with a reader on the other CPU every timed call shoots down (TCG: Linux's IPIs)
    assert calls >= r["shootdowns"], r
    assert paths.get("native_flush_tlb_multi", 0) > 0, r


def test_bad_options(boot, linux_guest):
    res = linux_boot(boot, accel="tcg", cmdline="workload=remap,bogus pages=1")
    assert res.status == 2 and res.verdict == "usage", describe(res)
    assert any(line.startswith("tlbpeer: bad value 'bogus' for workload") for line in res.lines)
    assert res.records_of("verdict") == [{"record": "verdict", "verdict": "usage", "code": 2,
                                          "detection": None}]


def test_unknown_option_and_firmware(boot, linux_guest):
    """An ISO firmware is refused by the run script (status 7, no boot); backend= is refused by
    tlbpeer (the peer has no backends: Linux picks its own mechanism)."""
    res = tlbrun.run(tlbrun.RunConfig(guest="linux", firmware="bios", quiet=True))
    assert res.status == tlbrun.STATUS_HOST and "--firmware direct" in res.error, describe(res)
    res = linux_boot(boot, accel="tcg", cmdline="backend=ipi")
    assert res.status == 2, describe(res)
    assert any("tlbpeer: unknown option 'backend=ipi'" in line for line in res.lines)


def test_timeout(boot, linux_guest):
    res = linux_boot(boot, accel="tcg", timeout=3, cmdline="iters=1000000")
    assert res.status == tlbrun.STATUS_TIMEOUT and res.timed_out, describe(res)
    assert res.error == f"timeout after {3 * res.slow} s" and "timeout (exit 5)" in res.summary, res.summary


@pytest.mark.kvm
def test_kvm(boot, linux_guest, kvm_usable):
    """Under KVM, Linux takes KVM's paravirtual flush when the host offers it (QEMU's -cpu host
    passes KVM_FEATURE_PV_TLB_FLUSH and steal time by default). Some nested KVMs cannot run a
    Linux guest at all (docs/linux.md): QEMU then stops with "KVM internal error" and the test
    says so instead of failing."""
    res = linux_boot(boot, accel="kvm", timeout=100, cmdline=f"pages=1 iters={ITERS} warmup=3")
    if res.status != 0 and "KVM internal error" in res.qemu_stderr:
        first = next(ln for ln in res.qemu_stderr.splitlines() if "KVM internal error" in ln)
        pytest.skip(f"this host's KVM cannot run the Linux guest: {first} (docs/linux.md)")
    if res.status == tlbrun.STATUS_TIMEOUT and not any(
            ln.startswith("linuxpeer: Linux ") for ln in res.lines):
        pytest.skip("the Linux guest did not finish booting under this host's KVM in 100 s "
                    "(docs/linux.md)")
    assert res.status == 0, describe(res)
    env = res.records_of("shootdown")[0]["env"]
    assert env["hypervisor"] == "kvm", env
    offered = any("KVM setup pv remote TLB flush" in ln for ln in env["linux_pv_lines"])
    assert env["linux_flush"] == ("kvm-pv" if offered else "native-ipi"), env


@pytest.mark.hyperv
def test_hyperv_lab(boot, linux_guest):
    """In the Hyper-V lab Linux uses Hyper-V's hypercall flush and IPIs. kvm=off hides KVM's own
    leaves (0x40000100), as on a real Hyper-V host; with them, Linux prefers KVM's interface
    (docs/linux.md)."""
    res = linux_boot(boot, platform="hvlab", accel="auto", timeout=180, cpu_flags=",kvm=off",
                     cmdline=f"workload=madvise,munmap pages=1 iters={ITERS} warmup=3")
    if res.status == tlbrun.STATUS_HOST:
        pytest.skip(f"the Hyper-V lab is not usable here: {res.error}")
    assert res.status == 0, describe(res)
    env = res.records_of("shootdown")[0]["env"]
    assert env["hypervisor"] == "hyperv" and env["hypervisor_vendor"] == "Microsoft Hv", env
    assert env["linux_flush"] == "hyperv-hypercall" and env["linux_ipi"] == "hyperv-hypercall", env
    assert "Hypervisor detected: Microsoft Hyper-V" in env["linux_pv_lines"], env
