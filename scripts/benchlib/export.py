"""A results directory in the formats fleets read (docs/fleets.md, "Export formats"): JUnit XML
(one testsuite per boot), TAP version 13 and KCIDB v4 JSON.

Every format is made from one list of boots, each with its cases: the boot's verdict, one case
per scenario (shootdown record), self-test and conformance check. A run's saved `cases` (the case
lines the kernel printed) are used when present, with what the records add, and every scenario
the boot's bench record asked for that printed none is a MISS; runs from before case lines have
their cases derived from the records, with the same ids (benchlib.cases)."""

from __future__ import annotations

import datetime
import json
import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Dict, List, Optional

from . import cases as case_lines
from . import records, results
from .results import REPO_ROOT, ResultsDir, run_records

ORIGIN = "tlbstorm"
VERDICT_CASE = "verdict"
# A case's result (LAVA's words) -> JUnit element, TAP word, KCIDB status.
PASS, FAIL, SKIP, UNKNOWN = "pass", "fail", "skip", "unknown"
# Outcomes that mean the boot never told its verdict (KCIDB MISS), or that the run went wrong
# (KCIDB ERROR): the run script's own statuses and the kernel's usage/error verdicts.
LOST_VERDICT = ("timeout", "no-verdict", "host-problem")
ERRORS = ("error", "usage")


class Case:
    """One line of a boot's report: id, result (pass|fail|skip|unknown, or error/miss for the
    verdict), headline measurement and unit, and the details each format shows."""

    def __init__(self, cid: str, result: str, measurement: Optional[float] = None,
                 units: Optional[str] = None, message: str = "",
                 details: Optional[dict] = None, kind: str = "case"):
        self.id, self.result, self.measurement, self.units = cid, result, measurement, units
        self.message, self.details, self.kind = message, details or {}, kind


def _scenario_details(rec: records.Record) -> dict:
    lat, det = rec["latency_ns"], rec["detection"]
    return {"status": rec["status"], "error": rec["error"],
            "p50_ns": lat["p50"], "p90_ns": lat["p90"], "p99_ns": lat["p99"],
            "p50_ci_ns": list(lat["p50_ci"]), "p99_ci_ns": list(lat["p99_ci"]),
            "p99_low_confidence": lat["p99_low_confidence"], "samples": lat["count"],
            "shootdowns_per_s": rec["shootdowns_per_s"],
            "violations": rec["oracle"]["violations"],
            "watchdog_timeouts": rec["watchdog_timeouts"],
            "detection": det["status"], "detection_by": det["by"],
            "detection_reason": det["reason"],
            **{f: rec[f] for f in records.SCENARIO_FIELDS}}


def scenario_case(rec: records.Record, bench: Optional[records.Record]) -> Case:
    d = _scenario_details(rec)
    bad = d["status"] != "ok" or d["violations"] or d["watchdog_timeouts"]
    why = ""
    if bad:
        why = (f"status {d['status']}, {d['violations']} stale-TLB violations, "
               f"{d['watchdog_timeouts']} watchdog timeouts" + (f": {d['error']}"
                                                               if d["error"] else ""))
    return Case(case_lines.case_id(rec, bench), FAIL if bad else PASS, d["p50_ns"], "ns", why, d,
                "scenario")


def selftest_case(rec: records.Record) -> Case:
    res = rec["result"]
    result = {"pass": PASS, "fail": FAIL, "skip": SKIP}.get(res, "error")
    return Case(case_lines.case_id(rec), result, rec["checks"], "checks", str(rec["detail"] or ""),
                {"checks": rec["checks"], "failed": rec["failed"], "result": res}, "selftest")


def conformance_case(rec: records.Record) -> Case:
    res = {"conforms": PASS, "deviates": FAIL}.get(rec["outcome"], SKIP)
    why = "" if res == PASS else (f"observed {rec['observed']}; TLFS: {rec['expected']}"
                                  if res == FAIL else str(rec["detail"] or rec["observed"]))
    return Case(case_lines.case_id(rec), res, 1, "checks", why,
                {f: rec[f] for f in ("outcome", "expected", "observed", "detail", "detection")},
                "conformance")


def _record_case(rec: records.Record, bench: Optional[records.Record]) -> Case:
    if rec.kind == "shootdown":
        return scenario_case(rec, bench)
    return selftest_case(rec) if rec.kind == "selftest" else conformance_case(rec)


def verdict_case(run: dict) -> Case:
    outcome = run.get("outcome") or UNKNOWN
    label = results.outcome_label(run)
    why = run.get("invalid") or run.get("error") or ""
    if run.get("invalid"):
        result = "error"
    elif outcome in LOST_VERDICT:
        result = "miss"
    elif outcome in ERRORS:
        result = "error"
    elif outcome in ("skip", "unavailable"):
        result = SKIP
    else:
        result = {PASS: PASS, FAIL: FAIL}.get(outcome, UNKNOWN)
    return Case(VERDICT_CASE, result, run.get("duration_s"), "s", why or label,
                {"outcome": label, "verdict": run.get("verdict"),
                 "detection": results.run_detection(run), "attempts": run.get("attempts")},
                "verdict")


def _saved_case(c: dict, derived: Dict[str, Case]) -> Case:
    """A saved case line, with what the records add (percentiles, detection) when they match."""
    d = derived.get(c["id"])
    return Case(c["id"], c.get("result") or UNKNOWN, c.get("measurement"), c.get("units"),
                d.message if d else "", d.details if d else {}, d.kind if d else "case")


def boot_cases(run: dict) -> List[Case]:
    """The verdict, then every scenario, self-test and conformance check of one run (ids made
    unique), then a MISS for each scenario the boot asked for and never reported."""
    recs = run_records(run)
    bench = records.first(recs, "bench")
    derived = [_record_case(r, bench) for r in recs if r.kind in case_lines.CASE_RECORDS]
    seen: Dict[str, int] = {}
    for c in derived:
        seen[c.id] = seen.get(c.id, 0) + 1
        if seen[c.id] > 1:
            c.id = f"{c.id}.{seen[c.id] - 1}"
    saved = run.get("cases") if isinstance(run.get("cases"), list) else None
    if saved is not None:
        saved = [c for c in saved if isinstance(c, dict) and c.get("id")]
        by_id = {c.id: c for c in derived}
        derived = [_saved_case(c, by_id) for c in saved]
    have = saved if saved is not None else [{"id": c.id} for c in derived]
    lost = [Case(m, "miss", None, None, "the boot asked for this scenario and never reported it",
                 {}, "scenario") for m in case_lines.missing(case_lines.expected_ids(recs, have), have)]
    return [verdict_case(run)] + derived + lost


def boots(rd: ResultsDir) -> List[dict]:
    """[{"run": run, "cases": [Case, ...]}] in plan order."""
    return [{"run": r, "cases": boot_cases(r)} for r in rd.runs()]


def _environment(run: dict) -> Dict[str, str]:
    """Configuration and host, flat, for JUnit properties and KCIDB's environment."""
    cfg, host = run.get("config") or {}, run.get("host") or {}
    out = {f"config.{k}": json.dumps(v) if isinstance(v, (list, dict)) else str(v)
           for k, v in cfg.items()}
    out.update({f"host.{k}": str(v) for k, v in host.items()})
    out["accel"] = str(run.get("accel"))
    out["guest.version"] = str(guest_version(run))
    return out


def guest_version(run: dict) -> Optional[str]:
    """The kernel's `git describe` from its boot record, else the host's revision."""
    boot = records.first(run_records(run), "boot")
    if boot is not None:
        return boot["version"]
    return (run.get("host") or {}).get("tlbstorm_revision")


# ---------------------------------------------------------------------------------------------
# JUnit XML


def _junit_case(suite: ET.Element, run_id: str, c: Case) -> None:
    tc = ET.SubElement(suite, "testcase", name=c.id, classname=f"tlbstorm.{run_id}")
    if c.units == "s" and c.measurement is not None:
        tc.set("time", f"{c.measurement:.3f}")
    if c.result == FAIL:
        ET.SubElement(tc, "failure", message=c.message or FAIL, type=c.kind).text = c.message
    elif c.result in ("error", "miss", UNKNOWN):
        ET.SubElement(tc, "error", message=c.message or c.result,
                      type=c.result).text = c.message
    elif c.result == SKIP:
        ET.SubElement(tc, "skipped", message=c.message or SKIP)
    out = {"result": c.result, "measurement": c.measurement, "units": c.units, **c.details}
    ET.SubElement(tc, "system-out").text = json.dumps(out, sort_keys=True)


def junit(rd: ResultsDir) -> str:
    root = ET.Element("testsuites", name=f"tlbstorm {rd.path.resolve().name}")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for b in boots(rd):
        run, cases = b["run"], b["cases"]
        counts = {"tests": len(cases), "failures": sum(c.result == FAIL for c in cases),
                  "errors": sum(c.result in ("error", "miss", UNKNOWN) for c in cases),
                  "skipped": sum(c.result == SKIP for c in cases)}
        suite = ET.SubElement(root, "testsuite", name=run["id"],
                              time=f"{run.get('duration_s') or 0:.3f}",
                              timestamp=str(run.get("finished") or "")[:19],
                              hostname=str((run.get("host") or {}).get("hostname") or "unknown"),
                              **{k: str(v) for k, v in counts.items()})
        props = ET.SubElement(suite, "properties")
        for k, v in _environment(run).items():
            ET.SubElement(props, "property", name=k, value=v)
        for c in cases:
            _junit_case(suite, run["id"], c)
        for k in totals:
            totals[k] += counts[k]
    for k, v in totals.items():
        root.set(k, str(v))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


# ---------------------------------------------------------------------------------------------
# TAP version 13


def _yaml_value(v) -> str:
    return json.dumps(v)   # JSON scalars and flow lists are YAML too


def tap(rd: ResultsDir) -> str:
    lines: List[str] = []
    n = 0
    for b in boots(rd):
        for c in b["cases"]:
            n += 1
            ok = "ok" if c.result in (PASS, SKIP) else "not ok"
            desc = f"{b['run']['id']}/{c.id}".replace("#", "_")
            directive = f" # SKIP {c.message}".rstrip() if c.result == SKIP else ""
            lines.append(f"{ok} {n} - {desc}{directive}")
            diag = {"result": c.result, "measurement": c.measurement, "units": c.units,
                    **({"message": c.message} if c.message else {}), **c.details}
            lines += ["  ---"] + [f"  {k}: {_yaml_value(v)}" for k, v in diag.items()] + \
                     ["  ..."]
    return "\n".join(["TAP version 13", f"1..{n}"] + lines) + "\n"


# ---------------------------------------------------------------------------------------------
# KCIDB v4

KCIDB_STATUS = {PASS: "PASS", FAIL: "FAIL", SKIP: "SKIP", "error": "ERROR", "miss": "MISS",
                UNKNOWN: "ERROR"}
KCIDB_MINOR = 3     # the v4 minor that has the MISS status (tests/harness/data/kcidb.v4.schema.json)


def _kcidb_name(text: str) -> str:
    return re.sub(r"[^a-z0-9_]", "_", str(text).lower())


def _start_time(run: dict) -> Optional[str]:
    try:
        end = datetime.datetime.fromisoformat(run["finished"])
    except (KeyError, TypeError, ValueError):
        return None
    return (end - datetime.timedelta(seconds=run.get("duration_s") or 0)).isoformat()


def _kcidb_test(run: dict, c: Case, build_id: str, tag: str) -> dict:
    status = KCIDB_STATUS.get(c.result, "ERROR")
    if c.kind == "scenario" and c.result == PASS:
        status = "DONE"    # a measurement: no verdict on the code by itself
    path = re.sub(r"[^.a-zA-Z0-9_-]", "_", f"tlbstorm.{c.id}")
    test = {"build_id": build_id, "id": f"{ORIGIN}:{tag}/{run['id']}/{c.id}", "origin": ORIGIN,
            "path": path, "status": status,
            "environment": {"comment": f"{run['config'].get('platform')}, "
                                       f"{run['config'].get('firmware')}, "
                                       f"{run['config'].get('vcpus')} vCPUs",
                            "misc": _environment(run)},
            "misc": {"run_id": run["id"], "result": c.result, "measurement": c.measurement,
                     "units": c.units, **c.details}}
    if c.message:
        test["comment"] = c.message[:1000]
    start = _start_time(run)
    if start:
        test["start_time"] = start
    if c.kind == "verdict" and run.get("duration_s") is not None:
        test["duration"] = float(run["duration_s"])
    return test


def full_hash(version: str) -> Optional[str]:
    """The 40-digit commit of a `git describe` name (its abbreviated hash), when this tree has
    it; KCIDB's git_commit_hash takes nothing shorter."""
    m = re.search(r"(?:^|-g?)([0-9a-f]{7,40})(?:-dirty)?$", version)
    if not m:
        return None
    try:
        p = subprocess.run(["git", "rev-parse", "--verify", "-q", f"{m.group(1)}^{{commit}}"],
                           cwd=REPO_ROOT, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    out = p.stdout.strip()
    return out if p.returncode == 0 and re.fullmatch(r"[0-9a-f]{40}", out) else None


def _checkout(checkout_id: str, version: str) -> dict:
    out = {"id": checkout_id, "origin": ORIGIN, "tree_name": "tlbstorm",
           "git_commit_name": version, "valid": True}
    commit = full_hash(version)
    if commit:
        out["git_commit_hash"] = commit
    return out


def kcidb(rd: ResultsDir) -> dict:
    """checkouts and builds (one per kernel version the runs report) and tests."""
    tag = _kcidb_name(rd.path.resolve().name)
    out = {"version": {"major": 4, "minor": KCIDB_MINOR}, "checkouts": [], "builds": [],
           "tests": []}
    known = set()
    for b in boots(rd):
        run = b["run"]
        version = str(guest_version(run) or "unknown")
        checkout_id = f"{ORIGIN}:{version}"
        build_id = f"{ORIGIN}:{version}/x86_64"
        if version not in known:
            known.add(version)
            out["checkouts"].append(_checkout(checkout_id, version))
            out["builds"].append({"checkout_id": checkout_id, "id": build_id,
                                  "origin": ORIGIN, "architecture": "x86_64",
                                  "config_name": "tlbstorm.elf", "valid": True})
        out["tests"] += [_kcidb_test(run, c, build_id, tag) for c in b["cases"]]
    return out


def write(rd: ResultsDir, junit_path: Optional[Path] = None, tap_path: Optional[Path] = None,
          kcidb_path: Optional[Path] = None) -> List[Path]:
    """Write the formats asked for; returns the paths written."""
    rd.plan()   # a ResultsError when it is not a results directory
    made = []
    for path, fn in ((junit_path, junit), (tap_path, tap)):
        if path:
            Path(path).write_text(fn(rd))
            made.append(Path(path))
    if kcidb_path:
        Path(kcidb_path).write_text(json.dumps(kcidb(rd), indent=1) + "\n")
        made.append(Path(kcidb_path))
    return made
