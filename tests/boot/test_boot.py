"""End-to-end boot tests of tlbstorm through scripts/tlbrun.py, plus unit tests of the run
module that need no QEMU. Boots use TCG (sequential, quiet) unless marked kvm.

Assertions are on statuses, verdicts and the JSON records; the only free-form text checked is
the `EXCEPTION:` line of a fault and the one-line `cmdline:` usage message."""

import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from conftest import ROOT, describe, run_boot, tlbrun

MIB = 1024 * 1024
CODES = tlbrun.load_exit_codes()
PASS, FAIL, USAGE = CODES["pass"], CODES["fail"], CODES["usage"]
RUN_SCRIPT = ROOT / "scripts" / "run"


# ------------------------------------------------------------------------------------------
# Helpers


def read_ppm(path):
    """(width, height, pixel bytes) of a binary P6 PPM with maxval 255, header parsed here."""
    data = Path(path).read_bytes()
    fields, i = [], 0
    while len(fields) < 4:
        while data[i:i + 1].isspace():
            i += 1
        if data[i:i + 1] == b"#":
            while data[i:i + 1] not in (b"\n", b""):
                i += 1
            continue
        j = i
        while j < len(data) and not data[j:j + 1].isspace():
            j += 1
        fields.append(data[i:j])
        i = j
    assert fields[0] == b"P6", f"not a binary PPM: magic {fields[0]!r}"
    width, height, maxval = (int(f) for f in fields[1:])
    assert width > 0 and height > 0 and maxval == 255, (width, height, maxval)
    pixels = data[i + 1:]
    assert len(pixels) >= width * height * 3, "PPM truncated"
    return width, height, pixels[:width * height * 3]


def assert_not_blank(path):
    width, height, pixels = read_ppm(path)
    colours = Counter(pixels[k:k + 3] for k in range(0, len(pixels), 3))
    assert len(colours) >= 2, f"{path}: a single colour"
    background, count = colours.most_common(1)[0]
    other = width * height - count
    assert other >= 0.002 * width * height, \
        f"{path}: only {other} of {width}x{height} pixels differ from the background"


def assert_boot_record(res, firmware, memory=512):
    rec = res.record("boot")
    assert rec is not None, "no boot record\n" + describe(res)
    iso = firmware != "direct"
    assert isinstance(rec.get("loader"), str) and rec["loader"], rec
    if iso:
        assert rec["loader"].startswith("GRUB"), rec["loader"]
    assert rec.get("protocol") == ("multiboot2" if iso else "multiboot1"), rec
    assert rec.get("cmdline") == res.cmdline, (rec.get("cmdline"), res.cmdline)
    mem = rec.get("mem_usable_bytes")
    assert isinstance(mem, int) and 0.75 * memory * MIB < mem <= memory * MIB, \
        f"mem_usable_bytes {mem} for --memory {memory}"
    assert isinstance(rec.get("mmap_entries"), int) and rec["mmap_entries"] > 0, rec
    fb = rec.get("framebuffer", "missing")
    if iso:
        assert isinstance(fb, dict), f"framebuffer {fb!r}"
        assert fb.get("width", 0) > 0 and fb.get("height", 0) > 0, fb
        assert rec.get("firmware") == firmware, rec.get("firmware")
    else:
        assert fb is None, f"framebuffer {fb!r} under direct boot"


def assert_pass(res):
    assert res.status == PASS and res.verdict == "pass", describe(res)
    assert not res.warnings, describe(res)


def assert_selftests_ok(res):
    """Self-tests for features the platform lacks (Hyper-V here) skip, and skip outranks pass
    in the verdict: accept pass or skip, with every test passing or skipping."""
    assert res.verdict in ("pass", "skip") and res.status in (PASS, 3), describe(res)
    assert not res.warnings, describe(res)


# ------------------------------------------------------------------------------------------
# Boots: the three boot paths, each once in mode=info with a screendump at the pause point


FIRMWARE_TIMEOUT = {"bios": 60, "uefi": 90, "direct": 60}


@pytest.fixture(scope="module", params=["bios", "uefi", "direct"])
def info_boot(request, built, tmp_path_factory):
    fw = request.param
    shot = tmp_path_factory.mktemp(f"shot-{fw}") / f"{fw}.ppm"
    res = run_boot(f"info-{fw}.log", firmware=fw, cmdline="mode=info", screendump=str(shot),
                   timeout=FIRMWARE_TIMEOUT[fw])
    return fw, res, shot


@pytest.mark.boot
def test_info_boot(info_boot):
    fw, res, _ = info_boot
    assert_pass(res)
    assert res.cmdline == tlbrun.with_slow("mode=info", res.slow) + " pause=1"
    assert_boot_record(res, fw)
    vrec = res.record("verdict")
    assert vrec and vrec.get("verdict") == "pass" and vrec.get("code") == PASS, res.records


@pytest.mark.boot
def test_screendump(info_boot):
    fw, res, shot = info_boot
    assert res.paused, "no TLBSTORM-PAUSE line\n" + describe(res)
    assert res.screendump_path == shot.resolve(), describe(res)
    assert_not_blank(shot)


@pytest.mark.boot
def test_default_preset_empty_cmdline(built, boot):
    res = boot(firmware="bios", cmdline="")
    assert_pass(res)
    assert res.record("boot") is not None, describe(res)
    # The first GRUB preset is the default benchmark.
    assert res.record("boot")["cmdline"] == "mode=bench", describe(res)
    assert res.records_of("shootdown"), describe(res)


@pytest.mark.boot
def test_selftest(built, boot):
    res = boot(firmware="direct", cmdline="mode=selftest", timeout=90)
    assert_selftests_ok(res)
    assert_boot_record(res, "direct")
    tests = res.records_of("selftest")
    assert tests, "no selftest records\n" + describe(res)
    bad = [t for t in tests if t.get("result") not in ("pass", "skip")]
    assert not bad, bad


@pytest.mark.boot
@pytest.mark.parametrize("cmdline, message", [
    ("bogus=1", r"cmdline: unknown option 'bogus' \(valid: .*\bmode\b.*\)"),
    ("mode=bogus", r"cmdline: bad value 'bogus' for mode \(valid: .*\binfo\b.*\)"),
    ("pause=7", r"cmdline: bad value '7' for pause \(valid: .*\)"),
    ("mode", r"cmdline: 'mode' is not key=value"),
], ids=["unknown-key", "bad-enum", "bad-number", "no-equals"])
def test_bad_cmdline(built, boot, cmdline, message):
    res = boot(firmware="direct", cmdline=f"mode=info {cmdline}")
    assert res.status == USAGE and res.verdict == "usage", describe(res)
    msgs = [line for line in res.lines if line.startswith("cmdline:")]
    assert len(msgs) == 1, msgs
    assert re.fullmatch(message, msgs[0]), msgs[0]


FAULTS = [("ud", 6, "#UD"), ("gp", 13, "#GP"), ("pf", 14, "#PF"), ("de", 0, "#DE"),
          ("df", 8, "#DF"), ("bp", 3, "#BP")]


@pytest.mark.boot
@pytest.mark.parametrize("fault, vector, name", FAULTS, ids=[f[0] for f in FAULTS])
def test_fault(built, boot, fault, vector, name):
    res = boot(firmware="direct", cmdline=f"fault={fault}")
    assert res.status == FAIL and res.verdict == "fail", describe(res)
    exc = res.records_of("exception")
    assert exc, "no exception record\n" + describe(res)
    assert exc[0].get("vector") == vector, exc
    assert str(exc[0].get("name", "")).split(" ")[0] == name, exc
    log_lines = [l.strip() for l in res.log_text().replace("\r", "").splitlines()]
    assert any(l.startswith(f"EXCEPTION: {name}") for l in log_lines), describe(res)


@pytest.mark.boot
def test_no_debug_exit_acpi_poweroff(built, boot):
    res = boot(firmware="direct", cmdline="mode=info", debug_exit=False, timeout=60)
    assert res.qemu_returncode == 0, describe(res)
    assert res.serial_verdict == ("pass", PASS), describe(res)
    assert_pass(res)
    assert res.duration_s < 30, f"QEMU took {res.duration_s:.1f} s to power off"


@pytest.mark.boot
def test_timeout_frozen_cpu(built, boot):
    t0 = time.monotonic()
    res = boot(firmware="direct", timeout=1, qemu_args=["-S"])
    assert res.status == tlbrun.STATUS_TIMEOUT and res.timed_out, describe(res)
    assert res.verdict is None
    assert time.monotonic() - t0 < 10


@pytest.mark.boot
def test_cli_exit_status_and_summary(built, tmp_path):
    log = tmp_path / "cli.log"
    p = subprocess.run([sys.executable, str(RUN_SCRIPT), "--firmware", "direct", "--accel",
                        "tcg", "--quiet", "--timeout", "60", "--log", str(log),
                        "--cmdline", "mode=info"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == PASS, p.stderr
    assert p.stdout == "", "--quiet still echoed serial output"
    summary = p.stderr.strip().splitlines()[-1]
    assert re.fullmatch(r"run: verdict pass \(exit 0\) in [0-9.]+ s \[tcg, direct, q35, 2 vCPUs, "
                        r"512 MiB\] log: .*cli\.log", summary), summary
    assert "TLBSTORM " in log.read_text(errors="replace")
    last = ROOT / "build" / "logs" / "last.log"
    assert last.resolve() == log.resolve()


@pytest.mark.boot
def test_cli_usage_status(built):
    p = subprocess.run([sys.executable, str(RUN_SCRIPT), "--cmdline", "mode='x'"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == tlbrun.STATUS_HOST
    assert "single quote" in p.stderr


def test_qemu_start_failure_is_no_verdict(boot, tmp_path):
    fake = tmp_path / "fake.elf"
    fake.write_bytes(b"\x7fELF")
    res = boot(firmware="direct", elf=str(fake), qemu_args=["-no-such-option"], timeout=20)
    assert res.status == tlbrun.STATUS_NO_VERDICT and res.qemu_returncode == 1, describe(res)
    assert "no-such-option" in res.qemu_stderr


# ------------------------------------------------------------------------------------------
# KVM


# On the nested KVM of the project's machines, everything that runs before the kernel enables
# paging (SeaBIOS, GRUB, OVMF) is extremely slow: an ISO boot under SeaBIOS takes about 3 min
# (first GRUB output after ~33 s, kernel after ~175 s) and OVMF printed nothing in 400 s. The
# ISO test therefore waits TLBSTORM_KVM_ISO_TIMEOUT seconds (default 30) and skips, saying so,
# when the kernel was not reached by then; on a normal KVM host the boot takes a second or two.
KVM_ISO_TIMEOUT = float(os.environ.get("TLBSTORM_KVM_ISO_TIMEOUT", "30"))


def assert_kvm(res):
    assert res.accel == "kvm"
    assert res.qemu_argv[res.qemu_argv.index("-accel") + 1] == "kvm"
    assert res.qemu_argv[res.qemu_argv.index("-cpu") + 1] == "host,-arch-capabilities"


@pytest.mark.boot
@pytest.mark.kvm
def test_kvm_direct(built, kvm_usable, boot):
    res = boot(firmware="direct", accel="kvm", cmdline="mode=info", timeout=60)
    assert_kvm(res)
    assert_pass(res)
    assert_boot_record(res, "direct")


@pytest.mark.boot
@pytest.mark.kvm
def test_kvm_iso_bios(built, kvm_usable, boot):
    res = boot(firmware="bios", accel="kvm", cmdline="mode=info", timeout=KVM_ISO_TIMEOUT)
    assert_kvm(res)
    if res.timed_out and not res.records:
        pytest.skip(f"ISO boot under KVM did not reach the kernel within {KVM_ISO_TIMEOUT:g} s "
                    f"(firmware and GRUB run very slowly on this nested KVM; "
                    f"set TLBSTORM_KVM_ISO_TIMEOUT=300 to wait for it)")
    assert_pass(res)
    assert_boot_record(res, "bios")


@pytest.mark.boot
@pytest.mark.kvm
def test_kvm_selftest(built, kvm_usable, boot):
    res = boot(firmware="direct", accel="kvm", cmdline="mode=selftest", timeout=60)
    assert_selftests_ok(res)
    tests = res.records_of("selftest")
    assert tests and all(t.get("result") in ("pass", "skip") for t in tests), tests


# ------------------------------------------------------------------------------------------
# Unit tests of tlbrun (no QEMU)


def argv_for(tmp_path, **kw):
    kw.setdefault("accel", "tcg")
    accel = kw.pop("accel")
    return tlbrun.build_qemu_argv(tlbrun.RunConfig(**kw), accel=accel, workdir=tmp_path)


def opt_values(argv, opt):
    return [argv[i + 1] for i, a in enumerate(argv) if a == opt]


@pytest.mark.parametrize("firmware", ["bios", "uefi", "direct"])
def test_argv_common(tmp_path, firmware):
    argv = argv_for(tmp_path, firmware=firmware, cmdline="mode=info")
    assert argv[0] == "qemu-system-x86_64"
    assert opt_values(argv, "-display") == ["none"]
    assert "-no-reboot" in argv
    assert opt_values(argv, "-monitor") == ["none"]
    assert opt_values(argv, "-chardev") == ["stdio,id=ser0,signal=off"]
    assert opt_values(argv, "-serial") == ["chardev:ser0"]
    assert opt_values(argv, "-device").count("isa-debug-exit,iobase=0xf4,iosize=0x04") == 1
    assert opt_values(argv, "-machine") == ["q35"]
    assert opt_values(argv, "-accel") == ["tcg"] and opt_values(argv, "-cpu") == ["max"]
    assert opt_values(argv, "-smp") == ["2"] and opt_values(argv, "-m") == ["512"]
    assert "-qmp" not in argv and "-vga" not in argv and "-nographic" not in argv


def test_argv_bios(tmp_path):
    argv = argv_for(tmp_path, firmware="bios")
    drives = opt_values(argv, "-drive")
    assert any(d.startswith(f"file={tlbrun.REPO_ROOT}/build/tlbstorm.iso,") and "media=cdrom" in d
               for d in drives), drives
    assert any(d.startswith(f"file={tmp_path}/") and "id=cfg" in d for d in drives), drives
    assert not any("pflash" in d for d in drives)
    assert "-kernel" not in argv and "-append" not in argv


def test_argv_uefi(tmp_path):
    drives = opt_values(argv_for(tmp_path, firmware="uefi"), "-drive")
    flash = [d for d in drives if "if=pflash" in d]
    assert len(flash) == 2 and all("format=raw" in d for d in flash)
    assert "readonly=on" in flash[0] and "file=/usr/share/OVMF/OVMF_CODE_4M.fd" in flash[0]
    assert f"file={tmp_path}/" in flash[1] and "readonly" not in flash[1]


def test_argv_direct(tmp_path):
    argv = argv_for(tmp_path, firmware="direct", cmdline="mode=selftest test=a,b",
                    elf="/some/k.elf")
    assert opt_values(argv, "-kernel") == ["/some/k.elf"]
    assert opt_values(argv, "-append") == ["mode=selftest test=a,b"]
    assert not any("cdrom" in d for d in opt_values(argv, "-drive"))


def test_argv_options(tmp_path):
    argv = argv_for(tmp_path, firmware="bios", accel="kvm", debug_exit=False, smp=4,
                    memory=1024, machine="pc", cpu_flags="+x2apic,-pcid",
                    screendump="/x.ppm", qemu_args=["-S", "-d", "int"],
                    iso="/dir,with,commas/t.iso")
    assert opt_values(argv, "-cpu") == ["host,-arch-capabilities,+x2apic,-pcid"]
    assert opt_values(argv, "-accel") == ["kvm"] and opt_values(argv, "-machine") == ["pc"]
    assert opt_values(argv, "-smp") == ["4"] and opt_values(argv, "-m") == ["1024"]
    assert not any("isa-debug-exit" in d for d in opt_values(argv, "-device"))
    assert opt_values(argv, "-qmp") == [f"unix:{tmp_path}/qmp.sock,server=on,wait=off"]
    assert argv[-3:] == ["-S", "-d", "int"]
    assert any(d.startswith("file=/dir,,with,,commas/t.iso,") for d in opt_values(argv, "-drive"))
    argv = argv_for(tmp_path, firmware="direct", cpu="EPYC", cpu_flags=",+svm")
    assert opt_values(argv, "-cpu") == ["EPYC,+svm"]


def test_screendump_adds_pause(tmp_path):
    cfg = tlbrun.RunConfig(firmware="direct", cmdline="mode=info", screendump="/x.ppm")
    assert tlbrun.effective_cmdline(cfg) == "mode=info pause=1"
    argv = tlbrun.build_qemu_argv(cfg, accel="tcg", workdir=tmp_path)
    assert opt_values(argv, "-append") == ["mode=info pause=1"]
    assert tlbrun.effective_cmdline(tlbrun.RunConfig(screendump="/x.ppm")) == "pause=1"


def test_resolve_accel():
    assert tlbrun.resolve_accel("tcg") == "tcg"
    assert tlbrun.resolve_accel("kvm") == "kvm"
    assert tlbrun.resolve_accel("auto") == ("kvm" if tlbrun.kvm_openable() else "tcg")


def test_exit_codes_from_header():
    text = (ROOT / "kernel" / "exit.h").read_text()
    assert tlbrun.parse_exit_codes(text) == tlbrun.load_exit_codes()
    assert CODES == {"pass": 0, "fail": 1, "usage": 2, "skip": 3, "error": 4}


def test_exit_codes_parsing(tmp_path):
    text = ("#define EXIT_PASS 0 /* ok */\n#  define  EXIT_FAIL\t7\n#define EXIT_USAGE 2\n"
            "#define EXIT_SKIP 3\n#define EXIT_ERROR 4\n#define DEBUG_EXIT_IOPORT 0xf4\n")
    assert tlbrun.parse_exit_codes(text) == {"pass": 0, "fail": 7, "usage": 2, "skip": 3,
                                             "error": 4}
    hdr = tmp_path / "exit.h"
    hdr.write_text(text)
    assert tlbrun.load_exit_codes(hdr)["fail"] == 7
    assert tlbrun.load_exit_codes(tmp_path / "missing.h") == tlbrun.FALLBACK_EXIT_CODES
    hdr.write_text("#define EXIT_PASS 0\n")
    with pytest.raises(tlbrun.HostError):
        tlbrun.load_exit_codes(hdr)


def test_record_parsing():
    p = tlbrun.SerialParser()
    stream = (b"\x1b[2J\x1b[H\x1b[?25lBooting `tlbstorm'\r\n"
              b"TLBSTORM {\"record\":\"boot\",\"cmdline\":\"mode=info\",\"framebuffer\":null}\r\n"
              b"some text TLBSTORM {\"record\":\"ignored\"}\r\n"
              b"TLBSTORM {\"record\":\"selftest\",\"name\":\"x\",\"result\":\"pass\"}\n"
              b"TLBSTORM {\"record\":\"broken\",\r\n"
              b"TLBSTORM [1,2]\r\n"
              b"tlbstorm: verdict pass (exit 0)\r\n"
              b"TLBSTORM {\"record\":\"verdict\",")
    for i in range(0, len(stream), 7):  # arbitrary chunking
        p.feed(stream[i:i + 7])
    p.feed(b"\"verdict\":\"pass\",\"code\":0}")
    p.finish()
    assert p.records == [
        {"record": "boot", "cmdline": "mode=info", "framebuffer": None},
        {"record": "selftest", "name": "x", "result": "pass"},
        {"record": "verdict", "verdict": "pass", "code": 0},
    ]
    assert [line for line, _ in p.bad_records] == ['TLBSTORM {"record":"broken",',
                                                   "TLBSTORM [1,2]"]
    assert p.verdict == ("pass", 0)
    assert not p.detection_not_shown
    assert p.lines[0] == "Booting `tlbstorm'"
    assert tlbrun.parse_record("not a record") is None


@pytest.mark.parametrize("line, verdict, not_shown", [
    ("tlbstorm: verdict pass (exit 0)", ("pass", 0), False),
    ("tlbstorm: verdict pass, detection not shown (exit 0)", ("pass", 0), True),
    ("tlbstorm: verdict fail (exit 1)", ("fail", 1), False),
    ("tlbstorm: verdict error (exit 4)", ("error", 4), False),
    ("tlbstorm: verdict pass, detection shown (exit 0)", None, False),   # not a form we print
    ("tlbstorm: verdict pass, detection not shown", None, False),
    ("bench: detection not shown for ipi remap 1: no canary (canary=0)", None, False),
])
def test_verdict_line(line, verdict, not_shown):
    assert tlbrun.parse_verdict_line(line) == verdict
    assert (tlbrun.verdict_line_detection(line) == "not shown") is not_shown
    p = tlbrun.SerialParser()
    p.feed(line.encode() + b"\r\n")
    assert p.verdict == verdict and p.detection_not_shown is not_shown


def test_verdict_line_detection_not_shown_in_stream():
    """The new form among records, chunked: the verdict tuple is unchanged, the flag is set,
    and the verdict record's `detection` is the run's claim."""
    p = tlbrun.SerialParser()
    stream = (b"  detection not shown for ipi remap 1: no canary (canary=0)\r\n"
              b"TLBSTORM {\"record\":\"verdict\",\"verdict\":\"pass\",\"code\":0,"
              b"\"detection\":\"not shown\"}\r\n"
              b"tlbstorm: verdict pass, detection not shown (exit 0)\r\n")
    for i in range(0, len(stream), 5):
        p.feed(stream[i:i + 5])
    p.finish()
    assert p.verdict == ("pass", 0) and p.detection_not_shown
    assert tlbrun.run_detection(p.records[-1], p) == ("not shown", None)
    # decide_status takes the tuple as before: the suffix changes nothing about the verdict
    assert tlbrun.decide_status(1, False, True, p.verdict, CODES)[:3] == (PASS, "pass", 0)


@pytest.mark.parametrize("record, line, expect, warns", [
    ({"verdict": "pass", "code": 0, "detection": "shown"},
     "tlbstorm: verdict pass (exit 0)", "shown", False),
    ({"verdict": "pass", "code": 0, "detection": "not shown"},
     "tlbstorm: verdict pass, detection not shown (exit 0)", "not shown", False),
    ({"verdict": "pass", "code": 0, "detection": None},           # mode=info, selftest
     "tlbstorm: verdict pass (exit 0)", None, False),
    ({"verdict": "fail", "code": 1, "detection": "not shown"},    # only a pass says it
     "tlbstorm: verdict fail (exit 1)", "not shown", False),
    ({"verdict": "pass", "code": 0},                              # an older kernel
     "tlbstorm: verdict pass (exit 0)", None, False),
    (None, "tlbstorm: verdict pass, detection not shown (exit 0)", "not shown", False),
    ({"verdict": "pass", "code": 0, "detection": "not shown"},    # line and record disagree
     "tlbstorm: verdict pass (exit 0)", "not shown", True),
    ({"verdict": "pass", "code": 0, "detection": "shown"},
     "tlbstorm: verdict pass, detection not shown (exit 0)", "shown", True),
])
def test_verdict_record_and_line_detection(record, line, expect, warns):
    p = tlbrun.SerialParser()
    p.feed(line.encode() + b"\n")
    vrec = None if record is None else {"record": "verdict", **record}
    detection, warning = tlbrun.run_detection(vrec, p)
    assert detection == expect
    assert bool(warning) is warns, warning


def test_verdict_and_detection_schema():
    """docs/records.schema.json holds the detection contract: the verdict's `detection`, a
    shootdown's `detection` (shown has `by` and no reason, not shown the reverse), the
    tlb_retention record, the new controls."""
    from conftest import schema_errors
    ok_verdicts = [{"record": "verdict", "verdict": "pass", "code": 0, "detection": d}
                   for d in ("shown", "not shown", None)]
    assert schema_errors(ok_verdicts) == []
    assert schema_errors([{"record": "verdict", "verdict": "pass", "code": 0}])   # required
    assert schema_errors([{"record": "verdict", "verdict": "pass", "code": 0,
                           "detection": "maybe"}])
    retention = {"record": "tlb_retention", "cpu": 0, "probed": True, "error": None,
                 "largest_shown": 16, "sizes": [{"pages": 1, "retained": 1},
                                                {"pages": 32, "retained": 29}]}
    assert schema_errors([retention]) == []
    assert schema_errors([dict(retention, probed="yes")])
    assert schema_errors([dict(retention, sizes=[{"pages": 1}])])
    shown = {"status": "shown", "by": "canary", "reason": None, "retention_largest_shown": 16,
             "canary": {"control": "remote", "iterations": 4, "changes": 1, "checks": 90,
                        "opportunities": 2, "violations": 7}}
    not_shown = {"status": "not shown", "by": None, "reason": "no canary (canary=0)",
                 "retention_largest_shown": 16, "canary": None}
    import json
    import jsonschema
    defs = {"$defs": json.loads((ROOT / "docs" / "records.schema.json").read_text())["$defs"]}

    def detection_errors(d):
        return list(jsonschema.Draft202012Validator(
            {**defs, "$ref": "#/$defs/detection"}).iter_errors(d))
    assert not detection_errors(shown) and not detection_errors(not_shown)
    assert detection_errors(dict(shown, reason="caught"))          # shown: no reason
    assert detection_errors(dict(shown, by=None))                  # shown: by what
    assert detection_errors(dict(not_shown, by="canary"))
    assert detection_errors(dict(not_shown, reason=None))          # not shown: say why
    assert detection_errors(dict(shown, canary=dict(shown["canary"], control="local")))
    for skip in ("none", "remote", "local", "last", "highest"):
        assert not list(jsonschema.Draft202012Validator(
            {**defs, "$ref": "#/$defs/skip_flush"}).iter_errors(skip))
    assert list(jsonschema.Draft202012Validator(
        {**defs, "$ref": "#/$defs/observe"}).iter_errors("sometimes"))


@pytest.mark.parametrize("verdict, detection, head", [
    ("pass", "shown", "verdict pass (exit 0)"),
    ("pass", None, "verdict pass (exit 0)"),
    ("pass", "not shown", "verdict pass, detection not shown (exit 0)"),
    ("fail", "not shown", "verdict fail (exit 1)"),
])
def test_verdict_summary_line_detection_not_shown(verdict, detection, head):
    res = tlbrun.RunResult(status=CODES[verdict], verdict=verdict, detection=detection,
                           accel="tcg", firmware="direct", machine="q35", smp=2, memory=512,
                           duration_s=0.4, log_path=Path("build/logs/x.log"))
    assert res.detection_not_shown is (verdict == "pass" and detection == "not shown")
    assert re.fullmatch(rf"run: {re.escape(head)} in 0\.4 s \[tcg, direct, q35, 2 vCPUs, "
                        rf"512 MiB\] log: .*x\.log", tlbrun.summary_line(res)), tlbrun.summary_line(res)


def test_pause_detection():
    p = tlbrun.SerialParser()
    assert not p.feed(b"hello\r\nTLBSTORM-PAU")
    assert p.feed(b"SE")            # complete without the newline: the kernel is waiting
    assert not p.feed(b"\r\n")      # not twice
    assert p.pause_seen


@pytest.mark.parametrize("rc, timed_out, debug_exit, line, expect", [
    (1, False, True, ("pass", 0), (0, "pass", 0)),
    (3, False, True, ("fail", 1), (1, "fail", 1)),
    (5, False, True, ("usage", 2), (2, "usage", 2)),
    (7, False, True, None, (3, "skip", 3)),                  # accepted, with a warning
    (9, False, True, ("error", 4), (4, "error", 4)),
    (3, False, True, ("pass", 0), (1, "fail", 1)),           # disagree: trust QEMU
    (1, False, True, None, (6, None, None)),                 # QEMU's own failure status
    (0, False, True, ("pass", 0), (6, None, None)),          # power-off despite debug-exit
    (0, False, True, None, (6, None, None)),                 # triple fault
    (-9, False, True, None, (6, None, None)),
    (None, True, True, None, (5, None, None)),
    (0, False, False, ("pass", 0), (0, "pass", None)),       # ACPI power-off + verdict line
    (0, False, False, ("skip", 3), (3, "skip", None)),
    (0, False, False, None, (6, None, None)),
    (1, False, False, ("pass", 0), (6, None, None)),
])
def test_decide_status(rc, timed_out, debug_exit, line, expect):
    status, verdict, code, warnings, reason = tlbrun.decide_status(
        rc, timed_out, debug_exit, line, CODES)
    assert (status, verdict, code) == expect
    if expect[0] == 6:
        assert reason
    if rc == 3 and line == ("pass", 0):
        assert any("trusting QEMU" in w for w in warnings)


def test_single_quote_rejected():
    with pytest.raises(tlbrun.HostError, match="single quote"):
        tlbrun.validate_cmdline("mode='info'")
    res = tlbrun.run(tlbrun.RunConfig(cmdline="it's", quiet=True, update_last_log=False))
    assert res.status == tlbrun.STATUS_HOST and "single quote" in res.error
    assert res.log_path is None


def test_grub_config_text():
    assert tlbrun.grub_config_text("mode=selftest test=a,b") == \
        "set tlbstorm_cmdline='mode=selftest test=a,b'\nset timeout=0\n"
    assert tlbrun.grub_config_text("") == "set tlbstorm_cmdline=''\nset timeout=0\n"


def test_missing_image_is_host_problem(tmp_path):
    for fw, key in (("bios", "iso"), ("uefi", "iso"), ("direct", "elf")):
        res = tlbrun.run(tlbrun.RunConfig(firmware=fw, accel="tcg", quiet=True,
                                          update_last_log=False,
                                          **{key: str(tmp_path / "nope")}))
        assert res.status == tlbrun.STATUS_HOST and "does not exist" in res.error, res.error


def test_ppm_helpers(tmp_path):
    img = tmp_path / "a.ppm"
    img.write_bytes(b"P6\n# comment\n2 2\n255\n" + bytes([0, 0, 0] * 3 + [255, 255, 255]))
    assert tlbrun.ppm_info(img)[:3] == (2, 2, 255) and tlbrun.ppm_complete(img)
    assert read_ppm(img)[:2] == (2, 2)
    img.write_bytes(b"P6\n2 2\n255\n" + bytes(5))
    assert not tlbrun.ppm_complete(img)
