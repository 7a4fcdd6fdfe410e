"""The guest's serial console: lines, `TLBSTORM {...}` records and the verdict line, and the
verdict decision from QEMU's exit status and that line (pure: no processes here)."""

from __future__ import annotations

import json
import re
from typing import Dict, List, Optional, Tuple

from .config import DETECTION_NOT_SHOWN, STATUS_NO_VERDICT, STATUS_TIMEOUT

RECORD_PREFIX = "TLBSTORM "
# `TLBSTORM-CASE <id> <result> <measurement> <units>`: one per scenario, self-test and conformance
# check (docs/records.md, "Case lines"); LAVA's monitors pattern is CASE_PATTERN.
CASE_PREFIX = "TLBSTORM-CASE "
CASE_PATTERN = (r"TLBSTORM-CASE (?P<test_case_id>[a-z0-9][a-z0-9._-]*) (?P<result>pass|fail|skip|"
                r"unknown) (?P<measurement>[0-9]+) (?P<units>[a-z]+)")
CASE_RE = re.compile("^" + CASE_PATTERN + "$")
CASE_RECORDS = ("shootdown", "selftest", "conformance")  # the records that have a case line
PAUSE_LINE = "TLBSTORM-PAUSE"
# `tlbstorm: verdict pass (exit 0)`; a benchmark that passed without showing detection says
# `tlbstorm: verdict pass, detection not shown (exit 0)` (docs/records.md, "Detection").
VERDICT_RE = re.compile(r"^tlbstorm: verdict ([a-z]+)(, detection not shown)? \(exit (-?\d+)\)")
# ANSI/VT escape sequences (CSI, OSC, two-byte ESC x) and other C0 controls except tab.
_ESCAPE_RE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[ -/]*[0-~]"
                        r"|[\x00-\x08\x0b-\x1f\x7f]")


# --------------------------------------------------------------------------------------------
# Serial output parsing


def clean_line(raw: str) -> str:
    """A serial line without \\r, terminal escape sequences or control characters."""
    return _ESCAPE_RE.sub("", raw).strip()


def parse_record(line: str):
    """For a cleaned serial line: None if it is not a record line, else (dict, None) or
    (None, error message) when the JSON does not parse or is not an object."""
    if not line.startswith(RECORD_PREFIX):
        return None
    payload = line[len(RECORD_PREFIX):].strip()
    try:
        obj = json.loads(payload)
    except ValueError as e:
        return None, f"bad JSON: {e}"
    if not isinstance(obj, dict):
        return None, "record is not a JSON object"
    return obj, None


def parse_case_line(line: str) -> Optional[dict]:
    """`TLBSTORM-CASE id result measurement units` -> {id, result, measurement, units}, else
    None (a malformed case line is not a case)."""
    m = CASE_RE.match(line)
    if not m:
        return None
    return {"id": m["test_case_id"], "result": m["result"],
            "measurement": int(m["measurement"]), "units": m["units"]}


def parse_verdict_line(line: str) -> Optional[Tuple[str, int]]:
    """`tlbstorm: verdict X[, detection not shown] (exit N)` -> (X, N), else None."""
    m = VERDICT_RE.match(line)
    return (m.group(1), int(m.group(3))) if m else None


def verdict_line_detection(line: str) -> Optional[str]:
    """The detection claim of a verdict line: "not shown" when it says so, else None."""
    m = VERDICT_RE.match(line)
    return DETECTION_NOT_SHOWN if m and m.group(2) else None


class SerialParser:
    """Splits the serial byte stream into lines and collects records and the verdict line."""

    def __init__(self):
        self._buf = b""
        self.lines: List[str] = []
        self.records: List[dict] = []
        self.bad_records: List[Tuple[str, str]] = []
        self.cases: List[dict] = []          # the case lines, in order
        self.bad_cases: List[str] = []       # lines marked as case lines that do not parse
        self.verdict: Optional[Tuple[str, int]] = None
        self.detection_not_shown = False  # the verdict line said `, detection not shown`
        self.pause_seen = False

    def feed(self, data: bytes) -> bool:
        """Consume bytes; True when the pause line has just been seen."""
        self._buf += data
        paused = False
        while b"\n" in self._buf:
            raw, self._buf = self._buf.split(b"\n", 1)
            paused |= self._line(raw.decode("utf-8", errors="replace"))
        # The pause line may come without its newline before the kernel starts waiting.
        if not self.pause_seen and clean_line(self._buf.decode("utf-8", "replace")) == PAUSE_LINE:
            self.pause_seen = paused = True
        return paused

    def received(self) -> bool:
        """Whether any byte has arrived (a line, or the start of one)."""
        return bool(self.lines or self._buf)

    def finish(self) -> None:
        if self._buf:
            self._line(self._buf.decode("utf-8", errors="replace"))
            self._buf = b""

    def _line(self, raw: str) -> bool:
        line = clean_line(raw)
        self.lines.append(line)
        if line == PAUSE_LINE:
            if self.pause_seen:
                return False
            self.pause_seen = True
            return True
        if line.startswith(CASE_PREFIX):
            case = parse_case_line(line)
            if case:
                self.cases.append(case)
            else:
                self.bad_cases.append(line)
            return False
        rec = parse_record(line)
        if rec is not None:
            obj, err = rec
            if obj is not None:
                self.records.append(obj)
            else:
                self.bad_records.append((line, err))
            return False
        v = parse_verdict_line(line)
        if v is not None:
            self.verdict = v
            self.detection_not_shown = verdict_line_detection(line) == DETECTION_NOT_SHOWN
        return False


# --------------------------------------------------------------------------------------------
# Verdict decision (pure)


def decide_status(returncode: Optional[int], timed_out: bool, debug_exit: bool,
                  serial_verdict: Optional[Tuple[str, int]], codes: Dict[str, int]):
    """-> (status, verdict name or None, kernel code or None, [warnings], reason or None).

    The QEMU status wins over the serial verdict line when both exist and disagree. A QEMU
    status of 1 is what the kernel's pass looks like but also what QEMU returns when it fails,
    so it only counts as a pass when the serial verdict line was seen too."""
    names = {v: k for k, v in codes.items()}
    warnings: List[str] = []
    if timed_out:
        return STATUS_TIMEOUT, None, None, warnings, "timeout"
    rc = returncode
    if rc is None or rc < 0:
        what = f"signal {-rc}" if rc is not None else "unknown status"
        return STATUS_NO_VERDICT, None, None, warnings, f"QEMU was killed ({what})"
    if debug_exit and rc & 1 and not (rc == 1 and serial_verdict is None):
        code = rc >> 1
        name = names.get(code)
        if name is None:
            warnings.append(f"kernel exit code {code} is not a verdict code; counted as error")
            name, status = "error", codes["error"]
        else:
            status = code
        if serial_verdict is None:
            warnings.append("no `tlbstorm: verdict` line on the serial console")
        elif serial_verdict[0] != names.get(code) or serial_verdict[1] != code:
            warnings.append(f"serial line says verdict {serial_verdict[0]} (exit "
                            f"{serial_verdict[1]}) but QEMU's status says exit code {code}; "
                            f"trusting QEMU")
        return status, name, code, warnings, None
    if rc == 0 and not debug_exit:
        if serial_verdict is None:
            return (STATUS_NO_VERDICT, None, None, warnings,
                    "QEMU exited 0 with no verdict line (power-off, triple fault or crash)")
        name, code = serial_verdict
        status = codes.get(name)
        if status is None:
            warnings.append(f"unknown verdict {name!r} on the serial console; counted as error")
            name, status = "error", codes["error"]
        elif code != status:
            warnings.append(f"verdict line says {name} with exit {code}; "
                            f"kernel/exit.h says {name} is {status}")
        return status, name, None, warnings, None
    if rc == 0:
        reason = "QEMU exited 0 without a kernel exit code (triple fault with -no-reboot, or " \
                 "ACPI power-off)"
        if serial_verdict is not None:
            reason += f"; the serial console said verdict {serial_verdict[0]}"
        return STATUS_NO_VERDICT, None, None, warnings, reason
    return STATUS_NO_VERDICT, None, None, warnings, f"QEMU failed (exit status {rc})"


def run_detection(vrec: Optional[dict],
                  parser: SerialParser) -> Tuple[Optional[str], Optional[str]]:
    """-> (the run's detection claim, a warning or None). The verdict record's `detection`
    is the claim; the verdict line's `, detection not shown` stands in for a missing record and
    is cross-checked against it (the kernel prints it only on a pass)."""
    line_says = DETECTION_NOT_SHOWN if parser.detection_not_shown else None
    if vrec is None or "detection" not in vrec:
        return line_says, None
    claim = vrec.get("detection")
    both_pass = vrec.get("verdict") == "pass" and (parser.verdict or ("",))[0] == "pass"
    if both_pass and (claim == DETECTION_NOT_SHOWN) != (line_says is not None):
        return claim, (f"verdict record says detection {claim!r} but the verdict line "
                       f"{'says' if line_says else 'does not say'} `detection not shown`")
    return claim, None

