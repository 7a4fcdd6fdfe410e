"""run(): boot once and turn the run into a RunResult. The platform plans the launch; the
pieces shared by every platform live here: the serial pump, the pause/screendump protocol,
timeouts, the log files, the warnings and the summary line."""

from __future__ import annotations

import ctypes
import dataclasses
import datetime
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

from .config import (DEFAULT_LOG_DIR, HVLAB_ATTEMPTS, KVM_STOP_MARK, REPO_ROOT, STATUS_HOST,
                     STATUS_NO_VERDICT, STATUS_TIMEOUT, HostError, RunConfig, RunResult,
                     load_exit_codes)
from .platforms import Launch, Platform
from .qemu import effective_cmdline, validate_config
from .qmp import take_screendump
from .registry import PLATFORMS
from .serial import CASE_RECORDS, RECORD_PREFIX, SerialParser, run_detection
from .slowness import factor as slow_factor, host_slowness, with_slow


PR_SET_PDEATHSIG = 1  # prctl(2): the signal a child gets when its parent dies
HOST_STALL_S = 5.0    # a gap this long in the serial pump is a stall of the host, not the guest


def run(config: RunConfig) -> RunResult:
    """Boot once and return the result; host and usage problems give status 7 (never raise,
    except KeyboardInterrupt/SystemExit, which kill QEMU first and propagate).

    The hvlab platform may ask for another attempt (RunResult.lab["retry"]) when the lab
    failed before the guest printed anything (the nested firmware reset, or the outer QEMU
    crashed): up to HVLAB_ATTEMPTS boots, each retry noted in the warnings."""
    res = run_once(config)
    attempt = 1
    notes: List[str] = []
    while res.lab.get("retry") and attempt < HVLAB_ATTEMPTS:
        attempt += 1
        note = f"hvlab: {res.lab['retry']}; boot attempt {attempt} of {HVLAB_ATTEMPTS}"
        notes.append(note)
        if config.messages is not None:
            print(f"run: {note}", file=config.messages, flush=True)
        res = run_once(config)
    if notes:
        res.warnings[:0] = notes
        res.lab["attempts"] = attempt
    return res


def run_once(config: RunConfig) -> RunResult:
    """One boot (run() calls it again when the lab asks for another attempt)."""
    t0 = time.monotonic()
    res = RunResult(status=STATUS_HOST, firmware=config.firmware, machine=config.machine,
                    smp=config.smp, memory=config.memory, platform=config.platform,
                    guest=config.guest)
    say = _messenger(config)
    try:
        validate_config(config)
        codes = load_exit_codes()
        platform = PLATFORMS[config.platform].select(config, say)
        res.platform = platform.name
        accel = platform.resolve_accel(config)
        res.accel = accel
        platform.check(config, accel)
    except HostError as e:
        res.error = str(e)
        res.duration_s = time.monotonic() - t0
        res.summary = f"run: error: {e}"
        say(res.summary)
        return res

    config = _scale_timeouts(config, platform, res, say)
    res.cmdline = effective_cmdline(config)
    boot = _Boot(config, res, say, t0)
    try:
        boot.run(platform, accel, codes)
        return res
    except BaseException:
        boot.kill()
        raise
    finally:
        boot.close()
        if res.duration_s == 0.0:
            res.duration_s = time.monotonic() - t0


def _scale_timeouts(config: RunConfig, platform: Platform, res: RunResult,
                    say: Callable[[str], None]) -> RunConfig:
    """The configuration with its liveness bounds scaled for this host (slowness.py): the
    kernel's `slow=` (unless the command line names one, which is then the factor) and the
    harness's time limit."""
    named = [w for w in config.cmdline.split() if w.startswith("slow=")]
    cores = platform.vcpu_cores(config)
    if named:
        res.slow = int(named[-1][5:]) if named[-1][5:].isdigit() else 1
    else:
        s = config.slowness if config.slowness is not None else host_slowness()
        res.host_slowness = round(s, 2)
        res.slow = slow_factor(s, config.smp, cores)
    if res.slow <= 1:
        return config
    say(f"run: host slowness {res.host_slowness or '(given)'}, {config.smp} vCPUs on {cores} "
        f"host CPUs: liveness timeouts x{res.slow}")
    cmdline = with_slow(config.cmdline, res.slow) if config.guest == "tlbstorm" else config.cmdline
    return dataclasses.replace(config, timeout=config.timeout * res.slow, cmdline=cmdline)


def _child_setup(host_cpus: Optional[List[int]]) -> None:
    """In QEMU's process before exec: die with the runner (a runner killed with SIGKILL must not
    leave a guest running that competes with the next boot), and run on host_cpus if given."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass  # not Linux: the guest then ends at its own timeout
    if host_cpus:
        os.sched_setaffinity(0, host_cpus)


def _messenger(config: RunConfig) -> Callable[[str], None]:
    """say(): a `run: ...` line to config.messages, if any."""
    def say(msg: str) -> None:
        if config.messages is not None:
            print(msg, file=config.messages, flush=True)
    return say


class _Boot:
    """One launch of a platform: its temp dir, serial log and process, the serial pump, and
    the result read from them."""

    def __init__(self, config: RunConfig, res: RunResult, say: Callable[[str], None],
                 t0: float):
        self.config, self.res, self.say, self.t0 = config, res, say, t0
        self.workdir = Path(tempfile.mkdtemp(prefix="tlbrun-"))
        self.log_file = None
        self.proc: Optional[subprocess.Popen] = None
        self.parser = SerialParser()
        self.stderr_chunks: List[bytes] = []
        self.kvm_stopped = False
        self.echo = None
        self.stalled_s = 0.0  # host stalls the time limit did not count (_pump)

    def run(self, platform: Platform, accel: str, codes: Dict[str, int]) -> None:
        if not self._prepare(platform, accel) or not self._start(platform, accel):
            return
        slow = self.res.slow
        silence, guest = platform.silence_limit, platform.guest_silence_limit
        self._pump(platform.verdict_grace, silence * slow if silence else None,
                   (guest * slow, platform.guest_spoke) if guest else None)
        self._wait()
        self._judge(platform, codes)

    def _fail(self, error: str) -> None:
        """A host problem before the guest ran: status 7."""
        self.res.error = error
        self.res.summary = f"run: error: {error}"
        self.say(self.res.summary)

    def _prepare(self, platform: Platform, accel: str) -> bool:
        config, res = self.config, self.res
        try:
            self.launch = launch = platform.plan(config, accel, self.workdir)
            res.qemu_argv = launch.argv
            res.inner_argv = list(launch.inner_argv)
            platform.prepare(config, launch, self.workdir)
            log = Path(config.log).resolve() if config.log else _default_log_path(config.firmware)
            log.parent.mkdir(parents=True, exist_ok=True)
            self.log_file = open(log, "wb")
            res.log_path = log
            if config.update_last_log:
                _update_last_log(log)
        except (HostError, OSError) as e:
            self._fail(str(e))
            return False
        return True

    def _start(self, platform: Platform, accel: str) -> bool:
        config, launch = self.config, self.launch
        self.echo = None if config.quiet else (config.echo or sys.stdout.buffer)
        label = accel if platform.name == "qemu" else f"{platform.name}, {accel}"
        self.say(f"run: {label}, {config.firmware}, {config.machine}, "
                 f"cmdline {self.res.cmdline!r}")
        self.limit = launch.timeout if launch.timeout is not None else config.timeout
        self.deadline = time.monotonic() + self.limit
        try:
            self.proc = subprocess.Popen(launch.argv, stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         start_new_session=True,
                                         preexec_fn=lambda: _child_setup(config.host_cpus))
        except OSError as e:
            self._fail(f"cannot start {launch.argv[0]}: {e}")
            return False
        return True

    def _pump(self, grace: Optional[float], silence: Optional[float] = None,
              guest: Optional[Tuple[float, Callable[[SerialParser], bool]]] = None) -> None:
        """Serial output to the log, the echo and the parser, QEMU's stderr aside, until QEMU
        closes both, the deadline passes (res.timed_out) or KVM stops the guest for good. The
        deadline moves to `grace` seconds after the verdict line when the platform says so, and
        comes `silence` seconds after the start while not one line has arrived, and guest[0]
        seconds after it while guest[1](parser) says the guest kernel has not spoken."""
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ, "out")
        sel.register(self.proc.stderr, selectors.EVENT_READ, "err")
        open_streams = 2
        grace_from = None
        silent_until = time.monotonic() + silence if silence else None
        mute_until = time.monotonic() + guest[0] if guest else None
        last = time.monotonic()
        while open_streams:
            gap = time.monotonic() - last
            if gap > HOST_STALL_S:
                # This loop wakes at least every 0.5 s: a gap this long means the host ran
                # neither us nor, most likely, the guest. Like the kernel's liveness waits, the
                # limit does not count it (kernel/time.h); the warning says it happened.
                self.deadline += gap
                silent_until = silent_until + gap if silent_until else None
                mute_until = mute_until + gap if mute_until else None
                self.stalled_s += gap
            last = time.monotonic()
            if self.parser.verdict is not None and grace and grace_from is None:
                grace_from = time.monotonic()
                self.deadline = min(self.deadline, grace_from + grace)
            if silent_until is not None and self.parser.received():
                silent_until = None  # it spoke
            if mute_until is not None and guest[1](self.parser):
                mute_until = None  # the guest kernel spoke
            left = min(self.deadline, silent_until or self.deadline,
                       mute_until or self.deadline) - time.monotonic()
            if left <= 0:
                self.res.timed_out = True
                break
            for key, _ in sel.select(timeout=min(left, 0.5)):
                data = os.read(key.fileobj.fileno(), 65536)
                if not data:
                    sel.unregister(key.fileobj)
                    open_streams -= 1
                elif key.data == "out":
                    self._serial(data)
                elif self._stderr(data):
                    open_streams = 0  # the VM is paused for good: do not wait it out
                    break
        sel.close()

    def _stderr(self, data: bytes) -> bool:
        """QEMU's stderr; True when it says KVM stopped the guest."""
        self.stderr_chunks.append(data)
        if KVM_STOP_MARK.encode() in b"".join(self.stderr_chunks[-2:]):
            self.kvm_stopped = True
        return self.kvm_stopped

    def _serial(self, data: bytes) -> None:
        self.log_file.write(data)
        self.log_file.flush()
        if self.echo is not None:
            self.echo.write(data)
            self.echo.flush()
        if self.parser.feed(data):
            self.res.paused = True
            _pause_point(self.config, self.launch, self.deadline, self.res, self.say)
            try:
                self.proc.stdin.write(b"\n")
                self.proc.stdin.flush()
            except OSError:
                pass

    def _wait(self) -> None:
        """QEMU's end (killed at the deadline, or at once after KVM stopped the guest)."""
        proc, res = self.proc, self.res
        if self.kvm_stopped:
            time.sleep(0.2)  # the rest of QEMU's register dump
            _kill_group(proc)
            self.stderr_chunks.append(_drain(proc.stderr))
        if not res.timed_out:
            try:
                proc.wait(timeout=max(0.1, self.deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                res.timed_out = True
        if res.timed_out:
            _kill_group(proc)
            res.error = f"timeout after {self.limit:g} s"
            self.say(f"run: {res.error}")
        self.parser.finish()
        echo = self.echo
        if echo is not None and hasattr(echo, "isatty") and echo.isatty():
            echo.write(b"\x1b[0m\x1b[?25h")  # undo GRUB's terminal state
            echo.flush()

    def _judge(self, platform: Platform, codes: Dict[str, int]) -> None:
        """The platform's outcome, the warnings, the messages and the summary line."""
        config, res, parser, proc = self.config, self.res, self.parser, self.proc
        res.qemu_returncode = proc.returncode
        res.qemu_stderr = b"".join(self.stderr_chunks).decode("utf-8", errors="replace")
        res.records = parser.records
        res.bad_records = parser.bad_records
        res.cases = parser.cases
        res.serial_verdict = parser.verdict
        res.lines = parser.lines
        status, verdict, code, warnings, reason = platform.outcome(
            config, self.launch, proc.returncode, res.timed_out, parser, codes, res)
        res.status, res.verdict, res.kernel_code = status, verdict, code
        misread = _misread_machine(config, res)
        if misread and verdict in ("pass", "skip"):
            res.status, res.verdict, res.error = codes["error"], "error", misread
            self.say(f"run: error: {misread}")
        if status != STATUS_TIMEOUT and res.error and res.error.startswith("timeout after"):
            res.error = None  # the platform recovered the verdict (hvlab: a hang after it)
        warnings += _record_warnings(config, res, parser)
        if self.stalled_s:
            warnings.append(f"the host stalled this run for {self.stalled_s:.0f} s in all; the "
                            f"time limit was moved by as much")
        res.warnings.extend(warnings)
        for w in res.warnings:
            self.say(f"run: warning: {w}")
        if status == STATUS_NO_VERDICT:
            res.error = reason
            self.say(f"run: {reason}")
            if res.qemu_stderr.strip():
                self.say("run: QEMU stderr:")
                for line in res.qemu_stderr.rstrip().splitlines():
                    self.say(f"  {line}")
        elif status in (STATUS_HOST, STATUS_TIMEOUT) and reason and res.error is None:
            res.error = reason  # reported by the platform (hvlab: lab problem, inner timeout)
            self.say(f"run: {reason}")
        res.duration_s = time.monotonic() - self.t0
        res.summary = summary_line(res)
        self.say(res.summary)

    def kill(self) -> None:
        if self.proc is not None:
            _kill_group(self.proc)

    def close(self) -> None:
        if self.proc is not None:
            _kill_group(self.proc)
            for s in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
                try:
                    s.close()
                except OSError:
                    pass
        if self.log_file is not None:
            self.log_file.close()
        shutil.rmtree(self.workdir, ignore_errors=True)


def _misread_machine(config: RunConfig, res: RunResult) -> Optional[str]:
    """Why the guest's picture of the machine is wrong, or None: the harness knows how many
    vCPUs it gave the guest, so a guest that brought up another number (its firmware tables
    listed fewer, or were unusable) has not measured the machine it was asked to, whatever its
    verdict says. `cpus=` on the command line limits the count on purpose."""
    topo = res.record("topology")
    if config.guest != "tlbstorm" or topo is None or \
            any(w.startswith("cpus=") for w in config.cmdline.split()):
        return None
    if topo.get("online") != config.smp:
        return (f"the guest brought up {topo.get('online')} CPUs on a machine of {config.smp} "
                f"(its firmware listed {topo.get('listed')}): it misread the machine")
    return None


def _record_warnings(config: RunConfig, res: RunResult, parser: SerialParser) -> List[str]:
    """Warnings about the records (cut off, unparsable, disagreeing with the verdict) and the
    screendump; sets res.detection."""
    warnings: List[str] = []
    if res.timed_out and parser.bad_records and \
            parser.bad_records[-1][0] == _last_record_line(parser.lines):
        # Killed while the guest was printing: the last record is cut off, not malformed.
        line, _ = parser.bad_records.pop()
        warnings.append(f"the last record was cut off by the timeout: {line[:80]}...")
    for line, err in parser.bad_records:
        warnings.append(f"unparsable record ({err}): {line[:200]}")
    warnings += [f"malformed case line: {line[:200]}" for line in parser.bad_cases]
    cased = sum(r.get("record") in CASE_RECORDS for r in parser.records)
    # Every such record has its case line; a scenario whose backend was unavailable has only one.
    if len(parser.cases) + len(parser.bad_cases) < cased and not res.timed_out:
        warnings.append(f"{len(parser.cases)} case lines for {cased} scenario, self-test and "
                        f"conformance records")
    vrec = res.record("verdict")
    if vrec is not None and res.verdict is not None and vrec.get("verdict") != res.verdict:
        warnings.append(f"verdict record says {vrec.get('verdict')!r}, run verdict is "
                        f"{res.verdict!r}")
    res.detection, warning = run_detection(vrec, parser)
    if warning:
        warnings.append(warning)
    if config.screendump and not res.paused and res.status != STATUS_TIMEOUT:
        warnings.append("no TLBSTORM-PAUSE line: no screendump taken")
    return warnings


def _default_log_path(firmware: str) -> Path:
    logdir = REPO_ROOT / DEFAULT_LOG_DIR
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = logdir / f"{stamp}-{firmware}.log"
    n = 2
    while path.exists():
        path = logdir / f"{stamp}-{firmware}-{n}.log"
        n += 1
    return path


def _update_last_log(log: Path) -> None:
    logdir = REPO_ROOT / DEFAULT_LOG_DIR
    logdir.mkdir(parents=True, exist_ok=True)
    last = logdir / "last.log"
    target = os.path.relpath(log, logdir) if log.parent == logdir else str(log)
    tmp = logdir / f".last.log.{os.getpid()}"
    try:
        tmp.unlink()
    except FileNotFoundError:
        pass
    os.symlink(target, tmp)
    os.replace(tmp, last)


def display_path(path: Optional[Path]) -> str:
    if path is None:
        return "-"
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if rel.startswith("..") else rel


def _last_record_line(lines: List[str]) -> Optional[str]:
    return next((ln for ln in reversed(lines) if ln.startswith(RECORD_PREFIX)), None)


def _drain(stream) -> bytes:
    """What is left in a pipe whose writer has ended (non-blocking: at most 64 KiB)."""
    try:
        os.set_blocking(stream.fileno(), False)
        return os.read(stream.fileno(), 65536) or b""
    except (OSError, ValueError):
        return b""


def _kill_group(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def summary_line(res: RunResult) -> str:
    """The `run: verdict ... in N s [where] log: ...` line that ends every run."""
    where = (f"[{'' if res.guest in (None, 'tlbstorm') else 'guest ' + res.guest + ', '}"
             f"{'' if res.platform in (None, 'qemu') else res.platform + ', '}"
             f"{res.accel}, {res.firmware}, {res.machine}, {res.smp} vCPU"
             f"{'s' if res.smp != 1 else ''}, {res.memory} MiB]")
    if res.verdict is not None:
        shown = ", detection not shown" if res.detection_not_shown else ""
        head = f"verdict {res.verdict}{shown} (exit {res.status})"
    elif res.status == STATUS_TIMEOUT:
        head = f"timeout (exit {res.status})"
    elif res.status == STATUS_HOST:
        head = f"host problem (exit {res.status})"
    else:
        head = f"no verdict (exit {res.status})"
    return f"run: {head} in {res.duration_s:.1f} s {where} log: {display_path(res.log_path)}"


def _pause_point(config: RunConfig, launch: Launch, deadline: float, res: RunResult,
                 say: Callable[[str], None]) -> None:
    """At TLBSTORM-PAUSE: take the screendump (if asked for); the caller then lets the
    kernel go on."""
    if not config.screendump:
        return
    if launch.qmp_socket is None:
        res.warnings.append(f"platform {config.platform} cannot take screendumps")
        return
    target = Path(config.screendump).resolve()
    budget = min(deadline, time.monotonic() + config.pause_ack_timeout)
    try:
        take_screendump(launch.qmp_socket, target, budget)
        res.screendump_path = target
        say(f"run: screendump {display_path(target)}")
    except (OSError, RuntimeError, ValueError, TimeoutError) as e:
        res.warnings.append(f"screendump failed: {e}")

