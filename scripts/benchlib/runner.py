"""Run a matrix: every configuration through the runner package (scripts/tlbrun/), one boot each, with a timeout and
one retry, progress with an estimate of the time left, and every finished boot saved at once
into the results directory (results.py), so nothing is lost and a rerun resumes."""

from __future__ import annotations

import datetime
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, TextIO

from . import matrix as mx
from .results import (REPO_ROOT, ResultsDir, ResultsError, host_environment, outcome_label,
                      records_problem)

import tlbrun  # scripts/ is on the path: scripts/bench runs from there, pytest.ini adds it

try:  # a progress bar on a terminal (Debian's python3-tqdm); lines without it
    import tqdm
except ImportError:
    tqdm = None

# Harness exit statuses (docs/bench.md).
EXIT_OK = 0           # every configuration ran and passed (or was skipped or unavailable here)
EXIT_FAIL = 1         # a guest's verdict was fail (a stale translation, a watchdog, ...)
EXIT_USAGE = 2        # bad matrix, bad options, results directory in the way
EXIT_NOTHING = 3      # no configuration could run on this host
EXIT_ERROR = 4        # a configuration ended in error, timeout or without a verdict
EXIT_INTERRUPTED = 130

# Outcomes of one configuration, from the run script's status (docs/run.md): the kernel's
# verdict codes (kernel/exit.h), then the run script's own.
OUTCOMES = {**{code: name for name, code in tlbrun.load_exit_codes().items()},
            tlbrun.STATUS_TIMEOUT: "timeout", tlbrun.STATUS_NO_VERDICT: "no-verdict",
            tlbrun.STATUS_HOST: "host-problem"}
# Statuses worth one more boot: the run, not the guest, went wrong.
RETRIED = {tlbrun.STATUS_TIMEOUT, tlbrun.STATUS_NO_VERDICT, tlbrun.STATUS_HOST}
# A first guess at a boot's duration (s) before any has finished, for the time-left estimate.
FIRST_GUESS = {"tcg": 5.0, "kvm": 30.0, "hvlab": 90.0, "hvlab-kvm": 90.0, "hvlab-kvm-nopv": 90.0, "kvm-hyperv": 30.0}
LINUX_EXTRA_S = 20.0  # the Linux guest's own boot
# What a resumed configuration must share with the one that made the directory.
RESUME_SAME = ("cmdline", "timeout", "memory", "profile")


def availability(platforms: List[str], guests: List[str],
                 say: Callable[[str], None]) -> Dict[str, Optional[str]]:
    """platform -> None when it can run here, else the reason it cannot."""
    out: Dict[str, Optional[str]] = {}
    for p in platforms:
        reason = None
        if p == "kvm":
            ok, why = tlbrun.probe_kvm()
            reason = None if ok else f"KVM not usable: {why}"
        elif p == "kvm-hyperv":
            ok, why = tlbrun.probe_kvm_hyperv()
            reason = None if ok else f"this host's KVM does not emulate Hyper-V: {why}"
        elif p in mx.LAB_PLATFORMS:
            r = subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "hvlab"), "check"],
                               capture_output=True, text=True)
            if r.returncode != 0:
                lines = [ln for ln in (r.stdout + r.stderr).splitlines() if ln.strip()]
                reason = f"the Hyper-V lab cannot run here: {lines[-1] if lines else 'check failed'}"
        out[p] = reason
        say(f"bench: platform {p}: {'available' if reason is None else reason}")
    return out


def build_images(plan: List[dict], say: Callable[[str], None]) -> Optional[str]:
    """`make all` (incremental): the ELF and the ISO. None, or why they cannot be built."""
    if not any(c["guest"] == "tlbstorm" for c in plan):
        return None
    say("bench: make all")
    r = subprocess.run(["make", "-s", "-C", str(REPO_ROOT), "all"], capture_output=True,
                       text=True)
    if r.returncode != 0:
        tail = [ln for ln in (r.stderr + r.stdout).splitlines() if ln.strip()][-5:]
        return "make all failed: " + " | ".join(tail)
    return None


def run_config(c: dict, log: Path) -> "tlbrun.RunConfig":
    platform, accel, cpu_flags, hv_flags = mx.PLATFORMS[c["platform"]]
    machine, _ = tlbrun.apply_profile(c.get("profile") or None, None, c["firmware"])
    return tlbrun.RunConfig(firmware=c["firmware"], accel=accel, platform=platform,
                            machine=machine,
                            cpu_flags=cpu_flags, hv_flags=hv_flags,
                            smp=c["vcpus"], memory=c["memory"], timeout=float(c["timeout"]),
                            cmdline=c["cmdline"], host_cpus=c["host_cpus"], log=str(log),
                            update_last_log=False, quiet=True, guest=c["guest"])


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def boot(c: dict, rd: ResultsDir, host: dict, say: Callable[[str], None],
         runner: Callable[["tlbrun.RunConfig"], "tlbrun.RunResult"] = tlbrun.run) -> dict:
    """One configuration: a boot, and one more when the run (not the guest) went wrong. The
    result dict is what runs/<id>/result.json holds (docs/bench.md)."""
    d = rd.run_dir(c["id"])
    d.mkdir(parents=True, exist_ok=True)
    notes: List[str] = []
    for attempt in (1, 2):
        res = runner(run_config(c, d / "serial.log"))
        if res.status not in RETRIED or attempt == 2 or platform_refuses(res.error):
            break
        why = res.error or OUTCOMES.get(res.status, str(res.status))
        notes.append(f"attempt 1: {OUTCOMES.get(res.status)} ({why}); retried")
        say(f"bench: {c['id']}: {OUTCOMES.get(res.status)} ({why}); one retry")
        if (d / "serial.log").exists():
            (d / "serial.log").replace(d / "serial-attempt1.log")
    # A platform that cannot run the guest at all is a fact about the platform, like a missing
    # /dev/kvm: reported with its reason, not counted as a failed run.
    outcome = "unavailable" if platform_refuses(res.error) else OUTCOMES.get(res.status, "error")
    problem = records_problem(res.records)
    if problem:   # saved as it came; the reports mark the run invalid (results.load_run)
        say(f"bench: {c['id']}: {problem}")
    return {
        "id": c["id"], "config": {k: v for k, v in c.items() if k != "id"},
        "outcome": outcome, "status": res.status,
        # the guest's detection claim (verdict record): "shown", "not shown" or None
        "verdict": res.verdict, "detection": res.detection, "attempts": attempt,
        "duration_s": round(res.duration_s, 3),
        "accel": res.accel, "summary": res.summary, "error": res.error,
        "warnings": notes + list(res.warnings), "qemu_argv": res.qemu_argv,
        "inner_argv": res.inner_argv, "host": host, "records": res.records,
        "cases": res.cases, "log": "serial.log", "finished": now()}


def platform_refuses(error: Optional[str]) -> bool:
    """The platform cannot run this guest at all (KVM cannot emulate one of its instructions):
    booting it again, or booting the same guest on the same platform, ends the same way."""
    return bool(error) and tlbrun.KVM_STOP_MARK in error


def unavailable(c: dict, reason: str, host: dict) -> dict:
    return {"id": c["id"], "config": {k: v for k, v in c.items() if k != "id"},
            "outcome": "unavailable", "status": None, "verdict": None, "detection": None,
            "attempts": 0,
            "duration_s": 0.0, "accel": None, "summary": f"not run: {reason}", "error": reason,
            "warnings": [], "qemu_argv": [], "inner_argv": [], "host": host, "records": [],
            "log": None, "finished": now()}


class Progress:
    """`[k/n] id: outcome in T s | elapsed, about L left`: the estimate is the mean duration of
    the finished boots of the same platform and guest, else a first guess. On a terminal (and
    with tqdm) a progress bar instead, with the same estimate; boots that did not pass still get
    their line above it."""

    def __init__(self, todo: List[dict], out: TextIO, bar: Optional[bool] = None):
        self.todo, self.out = todo, out
        self.done: Dict[tuple, List[float]] = {}
        self.start = time.monotonic()
        self.k = 0
        self.bar = None
        if (use_bar(out) if bar is None else bar) and tqdm is not None and todo:
            self.bar = tqdm.tqdm(total=len(todo), file=out, unit="boot", ncols=100,
                                 bar_format="{desc} {bar:20} {n_fmt}/{total_fmt}{postfix}")

    def guess(self, c: dict) -> float:
        for key in ((c["platform"], c["guest"], c["vcpus"]), (c["platform"], c["guest"])):
            seen = self.done.get(key)
            if seen:
                return sum(seen) / len(seen)
        g = FIRST_GUESS.get(c["platform"], 30.0)
        return g + (LINUX_EXTRA_S if c["guest"] == "linux" else 0.0)

    def left_s(self) -> float:
        return sum(self.guess(c) for c in self.todo[self.k:])

    def starting(self, c: dict) -> None:
        if self.bar is not None:
            self.bar.set_description_str(c["id"])
            return
        print(f"[{self.k + 1}/{len(self.todo)}] {c['id']} ...", file=self.out, flush=True)

    def finished(self, c: dict, result: dict) -> None:
        for key in ((c["platform"], c["guest"], c["vcpus"]), (c["platform"], c["guest"])):
            self.done.setdefault(key, []).append(result["duration_s"])
        self.k += 1
        extra = f" ({result['error']})" if result["outcome"] not in ("pass",) and \
            result.get("error") else ""
        done = f"{outcome_label(result)}{extra} in {result['duration_s']:.1f} s"
        times = (f"elapsed {fmt_s(time.monotonic() - self.start)}, "
                 f"about {fmt_s(self.left_s())} left")
        if self.bar is None:
            print(f"[{self.k}/{len(self.todo)}] {c['id']}: {done} | {times}", file=self.out,
                  flush=True)
            return
        if outcome_label(result) != "pass":
            self.bar.write(f"[{self.k}/{len(self.todo)}] {c['id']}: {done}", file=self.out)
        self.bar.set_postfix_str(times, refresh=False)
        self.bar.update(1)
        if self.k == len(self.todo):
            self.bar.close()


def use_bar(out: TextIO) -> bool:
    """A bar only for a person watching: out is a terminal and tqdm is there."""
    try:
        return tqdm is not None and out.isatty()
    except (AttributeError, ValueError):
        return False


def fmt_s(s: float) -> str:
    s = int(round(s))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def exit_status(runs: List[dict]) -> int:
    """Of loaded runs (ResultsDir.runs): a run with an invalid record counts as an error."""
    outcomes = [r["outcome"] for r in runs]
    if not outcomes or all(o == "unavailable" for o in outcomes):
        return EXIT_NOTHING
    if any(o in ("fail",) for o in outcomes):
        return EXIT_FAIL
    if any(o in ("error", "timeout", "no-verdict", "host-problem", "usage") for o in outcomes) \
            or any(r.get("invalid") for r in runs):
        return EXIT_ERROR
    return EXIT_OK


def _prepare(m: mx.Matrix, rd: ResultsDir, plan: List[dict], resume: bool,
             say: Callable[[str], None]) -> Optional[int]:
    """Create the results directory, or check that a resumed one is this matrix's. None when
    the run may go on, else the exit status."""
    out = rd.path
    if rd.exists():
        if not resume:
            say(f"bench: error: {out} already holds results: pass --resume to finish it, or "
                f"choose another --out")
            return EXIT_USAGE
        try:
            old = {c["id"]: c for c in rd.plan()}
        except ResultsError as e:
            say(f"bench: error: {e}")
            return EXIT_USAGE
        # The same configurations, and each one the same (a changed command line or timeout
        # would mix two matrices' results under one name).
        changed = [c["id"] for c in plan if c["id"] in old and
                   any(old[c["id"]].get(k) != c.get(k) for k in RESUME_SAME)]
        if set(old) != {c["id"] for c in plan} or changed:
            say(f"bench: error: {out} was made from another matrix (its configurations differ"
                + (f": {changed[0]}'s " + ", ".join(
                    k for k in RESUME_SAME if old[changed[0]].get(k) != next(
                        c for c in plan if c["id"] == changed[0]).get(k)) if changed else "")
                + "); "
                f"resume it with the matrix it was made from ({out}/matrix"
                f"{m.source.suffix if m.source else '.toml'})")
            return EXIT_USAGE
    elif out.exists() and any(out.iterdir()):
        say(f"bench: error: {out} exists and is not a results directory")
        return EXIT_USAGE
    else:
        try:
            rd.create(m.text, m.source.suffix if m.source else ".toml", plan,
                      host_environment(), m.name)
        except OSError as e:
            say(f"bench: error: cannot create the results directory {out}: {e.strerror or e}")
            return EXIT_USAGE
    for tmp in rd.runs_dir.glob("*/.result.json.*.tmp"):  # a write cut short by a kill
        tmp.unlink()
        say(f"bench: {tmp.parent.name}: removed an unfinished write ({tmp.name})")
    for run_id, why in rd.damaged():
        dest = rd.set_aside(run_id)
        say(f"bench: {run_id}: its result.json cannot be read ({why}); set aside as "
            f"{dest.name}, and it runs again")
    return None


class StorageError(Exception):
    """A result could not be saved (the results directory is full or read-only)."""


def _run_all(todo: List[dict], rd: ResultsDir, host: dict, say: Callable[[str], None],
             messages: TextIO, runner: Callable) -> None:
    """Boot every configuration of todo in order, saving each result as it ends."""
    avail = availability(sorted({c["platform"] for c in todo}, key=list(mx.PLATFORMS).index),
                         sorted({c["guest"] for c in todo}), say)
    problem = build_images(todo, say) if todo else None
    progress = Progress(todo, messages)
    if todo:
        say(f"bench: about {fmt_s(progress.left_s())} to go")
    refused: Dict[tuple, str] = {}  # (platform, guest) -> why the platform cannot run it
    for c in todo:
        reason = avail[c["platform"]] or (problem if c["guest"] == "tlbstorm" else None) \
            or refused.get((c["platform"], c["guest"]))
        if reason:
            result = unavailable(c, reason, host)
        else:
            progress.starting(c)
            try:
                result = boot(c, rd, host, say, runner)
            except Exception as e:  # a harness bug: record it, keep going
                result = unavailable(c, f"harness error: {type(e).__name__}: {e}", host)
                result["outcome"] = "error"
        try:
            rd.save_run(result)
        except OSError as e:
            raise StorageError(f"cannot save {c['id']} in {rd.path}/runs: {e.strerror or e} "
                               f"(full or read-only?); the results saved before it are kept: "
                               f"free the space and resume with --resume") from e
        progress.finished(c, result)
        if result["attempts"] and platform_refuses(result.get("error")):
            refused[(c["platform"], c["guest"])] = (
                f"{c['platform']} cannot run the {c['guest']} guest here: {result['error']} "
                f"(in {c['id']})")


def _report(rd: ResultsDir, report: Callable[[ResultsDir], object],
            say: Callable[[str], None]) -> bool:
    """Write the reports; False when that failed (the results are saved all the same)."""
    try:
        paths = report(rd)
        say(f"bench: reports written: {rd.path}/summary.md"
            + (f" ({len(paths.get('plots', []))} plots)" if isinstance(paths, dict) else ""))
        return True
    except Exception as e:  # a report bug must not lose the results: they are saved
        say(f"bench: error: writing the reports failed: {type(e).__name__}: {e}; the "
            f"results are in {rd.path}/runs (retry with scripts/bench report {rd.path})")
        return False


def run_matrix(m: mx.Matrix, out: Path, resume: bool, messages: TextIO = sys.stderr,
               report: Optional[Callable[[ResultsDir], object]] = None,
               runner: Callable = tlbrun.run) -> int:
    """Run every configuration of m not yet in `out`; write the reports at the end (also after
    Ctrl-C). Returns the harness exit status."""
    say = lambda msg: print(msg, file=messages, flush=True)  # noqa: E731
    rd = ResultsDir(out)
    plan = mx.expand(m)
    refusal = _prepare(m, rd, plan, resume, say)
    if refusal is not None:
        return refusal
    # Resuming runs what is missing, and again what could not run here last time (the host may
    # have changed: KVM usable now, the lab built).
    done = {r["id"] for r in rd.runs() if r["outcome"] != "unavailable"} if resume else set()
    todo = [c for c in plan if c["id"] not in done]
    say(f"bench: matrix {m.name}: {len(plan)} configurations, {len(done)} already done, "
        f"{len(todo)} to run; results in {out}")
    status = EXIT_OK
    try:
        _run_all(todo, rd, rd.host(), say, messages, runner)
    except KeyboardInterrupt:
        say(f"\nbench: interrupted: {len(rd.done_ids())} of {len(plan)} configurations saved; "
            f"resume with scripts/bench run {m.source or 'MATRIX'} --out {out} --resume")
        status = EXIT_INTERRUPTED
    except StorageError as e:
        say(f"bench: error: {e}")
        status = EXIT_ERROR
    finally:
        if report is not None and not _report(rd, report, say):
            status = status or EXIT_ERROR
    if status == EXIT_INTERRUPTED:
        return status
    return exit_status(rd.runs()) if status == EXIT_OK else status
