"""The Hyper-V lab's silence limits (no QEMU): a launcher that speaks but whose guest kernel never
does is cut short at guest_silence_limit, not at the inner timeout, and the lab asks for another
boot. Run: /usr/bin/python3 -m pytest -q tests/harness/test_lab_silence.py"""

import subprocess
import sys
import time

import tlbrun
from tlbrun import runner
from tlbrun.lab import HvlabPlatform
from tlbrun.serial import SerialParser

LAB_START = ("hvlab: outer kernel 6.1.0 up at 2.53 s\n"
             "hvlab: inner qemu start at 3.16 s, timeout 1800 s\n")


def _pump_fake(script: str, guest_limit: float) -> runner._Boot:
    """_Boot's serial pump on a fake launcher (a Python one-liner) with a guest silence limit."""
    config = tlbrun.RunConfig(quiet=True)
    boot = runner._Boot(config, tlbrun.RunResult(status=0), lambda msg: None, time.monotonic())
    boot.log_file = open(boot.workdir / "serial.log", "wb")
    boot.proc = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    boot.deadline = time.monotonic() + 60
    lab = HvlabPlatform()
    boot._pump(None, None, (guest_limit, lab.guest_spoke))
    boot.proc.kill()
    boot.proc.wait()
    return boot


def test_a_mute_guest_is_cut_short():
    t0 = time.monotonic()
    boot = _pump_fake(f"import sys,time; sys.stdout.write({LAB_START!r}); sys.stdout.flush(); "
                      "time.sleep(60)", 1.5)
    assert boot.res.timed_out
    assert time.monotonic() - t0 < 30  # the deadline was 60 s, the sleep as long


def test_a_guest_that_spoke_runs_on():
    boot = _pump_fake(f"import sys,time; sys.stdout.write({LAB_START!r} + 'tlbstorm 1.0 boot\\n'); "
                      "sys.stdout.flush(); time.sleep(3)", 1.0)
    assert not boot.res.timed_out  # ended by itself after 3 s, past the 1 s limit


def test_mute_lab_asks_for_another_boot():
    parser = SerialParser()
    parser.feed(LAB_START.encode())
    res = tlbrun.RunResult(status=0)
    lab = HvlabPlatform()
    status, *_ = lab.outcome(tlbrun.RunConfig(), None, None, True, parser,
                             {"pass": 0, "error": 6}, res)
    assert status == tlbrun.STATUS_TIMEOUT
    assert "guest kernel printed nothing" in res.lab["retry"]
    parser.feed(b"tlbstorm 1.0 boot\n")
    res = tlbrun.RunResult(status=0)
    lab.outcome(tlbrun.RunConfig(), None, None, True, parser, {"pass": 0, "error": 6}, res)
    assert "retry" not in res.lab  # the guest ran: a timeout is the guest's own
