"""scripts/bench export (docs/fleets.md, "Export formats"): JUnit XML against the Jenkins JUnit
XSD, TAP version 13 through a small parser, KCIDB v4 JSON against its schema (both carried in
tests/harness/data/), on the tiny matrix's results and on copies edited to hold every kind of
case: a failed scenario, self-tests, a lost verdict, an unavailable platform, saved case lines."""

import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from benchlib import export
from benchlib.results import ResultsDir
from harnesslib import ROOT, bench, built, tiny_results  # noqa: F401

DATA = Path(__file__).resolve().parent / "data"
KCIDB_SCHEMA = json.loads((DATA / "kcidb.v4.schema.json").read_text())


def kcidb_errors(doc):
    Draft202012Validator.check_schema(KCIDB_SCHEMA)
    v = Draft202012Validator(KCIDB_SCHEMA, format_checker=FormatChecker())
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in v.iter_errors(doc)]


def check_junit(path: Path) -> ET.Element:
    """Against data/junit.xsd with xmllint (or lxml), and always structurally."""
    if shutil.which("xmllint"):
        p = subprocess.run(["xmllint", "--noout", "--schema", str(DATA / "junit.xsd"),
                            str(path)], capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
    else:
        etree = pytest.importorskip("lxml.etree", reason="neither xmllint nor python3-lxml")
        schema = etree.XMLSchema(etree.parse(str(DATA / "junit.xsd")))
        schema.assertValid(etree.parse(str(path)))
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    for suite in root.findall("testsuite"):
        cases = suite.findall("testcase")
        assert int(suite.get("tests")) == len(cases)
        assert int(suite.get("failures")) == len([c for c in cases if c.find("failure")
                                                  is not None])
        assert int(suite.get("skipped")) == len([c for c in cases if c.find("skipped")
                                                 is not None])
        assert suite.find("properties/property[@name='config.platform']") is not None
    return root


def parse_tap(text: str):
    """[(ok, number, description, directive, diagnostics)]; asserts TAP 13's shape."""
    lines = text.splitlines()
    assert lines[0] == "TAP version 13"
    plan = re.fullmatch(r"1\.\.(\d+)", lines[1])
    assert plan, lines[1]
    tests, i = [], 2
    while i < len(lines):
        m = re.fullmatch(r"(ok|not ok) (\d+) - ([^#]*?)(?: # (SKIP|TODO)\b.*)?", lines[i])
        assert m, f"line {i + 1}: {lines[i]!r}"
        diag = {}
        i += 1
        if i < len(lines) and lines[i] == "  ---":
            i += 1
            while lines[i] != "  ...":
                key, _, value = lines[i].strip().partition(": ")
                diag[key] = json.loads(value)
                i += 1
            i += 1
        tests.append((m.group(1) == "ok", int(m.group(2)), m.group(3), m.group(4), diag))
    assert [t[1] for t in tests] == list(range(1, len(tests) + 1))
    assert len(tests) == int(plan.group(1))
    return tests


def test_tiny_results_export(tiny_results, tmp_path):
    out, _ = tiny_results
    j, t, k = tmp_path / "j.xml", tmp_path / "t.tap", tmp_path / "k.json"
    p = bench("export", out, "--junit", j, "--tap", t, "--kcidb", k)
    assert p.returncode == 0, p.stderr
    runs = ResultsDir(out).runs()
    root = check_junit(j)
    assert [s.get("name") for s in root.findall("testsuite")] == [r["id"] for r in runs]
    for suite in root.findall("testsuite"):
        names = [c.get("name") for c in suite.findall("testcase")]
        assert names[0] == export.VERDICT_CASE and len(names) == 1 + 4    # 2 workloads x 2 ranges
        assert all(n.startswith("shootdown.ipi.") and n.endswith("p") for n in names[1:])
    tests = parse_tap(t.read_text())
    assert len(tests) == 5 * len(runs) and all(ok for ok, *_ in tests)
    scen = [d for *_, d in tests if d["units"] == "ns"]
    assert all(d["p50_ns"] <= d["p99_ns"] and len(d["p99_ci_ns"]) == 2 for d in scen)
    doc = json.loads(k.read_text())
    assert kcidb_errors(doc) == []
    statuses = [x["status"] for x in doc["tests"]]
    assert statuses.count("PASS") == len(runs) and statuses.count("DONE") == 4 * len(runs)
    done = next(x for x in doc["tests"] if x["status"] == "DONE")
    assert {"p50_ns", "p99_ns", "p50_ci_ns", "p99_ci_ns", "detection", "p99_low_confidence"} \
        <= set(done["misc"])
    assert re.fullmatch(r"[0-9a-f]{40}", doc["checkouts"][0].get("git_commit_hash", ""))
    assert doc["checkouts"][0]["git_commit_name"] and doc["builds"][0]["checkout_id"] == \
        doc["checkouts"][0]["id"]


def edited_copy(src: Path, dest: Path) -> Path:
    """The tiny results with one run lost (timeout), one unavailable, one with a failed scenario
    and self-tests, one with saved case lines: their ids, in that order."""
    shutil.copytree(src, dest)
    files = sorted((dest / "runs").glob("*/result.json"))
    runs = [json.loads(f.read_text()) for f in files]
    runs[0].update(outcome="timeout", status=124, verdict=None, detection=None, records=[],
                   cases=[], error="no verdict within 120 s")
    runs[1].update(outcome="unavailable", records=[], cases=[], error="KVM not usable: test")
    runs[2].pop("cases", None)   # as saved before case lines: the cases come from the records
    sd = next(r for r in runs[2]["records"] if r["record"] == "shootdown")
    sd["oracle"]["violations"] = 3
    runs[2]["outcome"] = runs[2]["verdict"] = "fail"
    runs[2]["records"] += [
        {"record": "selftest", "name": "pcid", "result": "skip", "checks": 0, "failed": 0,
         "detail": "no PCID on this CPU <&>"},
        {"record": "selftest", "name": "flush_one", "result": "fail", "checks": 4, "failed": 1,
         "detail": "page 3 still mapped"}]
    runs[3]["cases"] = [{"id": "shootdown.ipi.remap.1p", "result": "pass", "measurement": 123.0,
                         "units": "ns"},
                        {"id": "selftest.extra", "result": "unknown", "measurement": None,
                         "units": None}]
    for f, r in zip(files, runs):
        f.write_text(json.dumps(r))
    return [r["id"] for r in runs]


def test_every_kind_of_case(tiny_results, tmp_path):
    out, _ = tiny_results
    ids = edited_copy(out, tmp_path / "edited")
    rd = ResultsDir(tmp_path / "edited")
    assert not [r for r in rd.runs() if r.get("invalid")], [r["invalid"] for r in rd.runs()]
    paths = export.write(rd, tmp_path / "j.xml", tmp_path / "t.tap", tmp_path / "k.json")
    assert len(paths) == 3
    doc = json.loads((tmp_path / "k.json").read_text())
    assert kcidb_errors(doc) == []
    by_run = {}
    for x in doc["tests"]:
        by_run.setdefault(x["misc"]["run_id"], []).append(x)
    lost, unavail, failed, saved = (by_run[i] for i in ids)
    assert [x["status"] for x in lost] == ["MISS"]
    assert [x["status"] for x in unavail] == ["SKIP"]
    st = {x["path"]: x["status"] for x in failed}
    assert st["tlbstorm.verdict"] == "FAIL" and st["tlbstorm.selftest.pcid"] == "SKIP"
    assert st["tlbstorm.selftest.flush_one"] == "FAIL" and "FAIL" in [
        x["status"] for x in failed if x["path"].startswith("tlbstorm.shootdown.")]
    assert [x["path"] for x in saved][1:3] == ["tlbstorm.shootdown.ipi.remap.1p",
                                               "tlbstorm.selftest.extra"]
    # The bench record asked for 4 scenarios; the 3 without a case line are MISS.
    assert [x["status"] for x in saved[3:]] == ["MISS"] * 3 and \
        all(x["path"].startswith("tlbstorm.shootdown.") for x in saved[3:])
    assert saved[1]["misc"]["measurement"] == 123.0 and "p99_ns" in saved[1]["misc"]
    assert saved[2]["status"] == "ERROR"
    root = check_junit(tmp_path / "j.xml")
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    suites = [suites[i] for i in ids]
    assert suites[0].find("testcase/error").get("type") == "miss"
    assert suites[1].find("testcase/skipped") is not None
    assert int(suites[2].get("failures")) == 3     # verdict, a scenario, a self-test
    tests = parse_tap((tmp_path / "t.tap").read_text())
    skips = [t for t in tests if t[3] == "SKIP"]
    assert len(skips) == 2 and all(t[0] for t in skips)
    assert sum(not t[0] for t in tests) == 1 + 3 + 1 + 3    # lost, fails, unknown, missed


def doc_commands():
    text = (ROOT / "docs" / "fleets.md").read_text().split("## Export formats", 1)[1]
    return re.search(r"```sh\n(.*?)```", text, re.S).group(1)


def test_doc_example_runs(tiny_results, tmp_path):
    out, _ = tiny_results
    d = shutil.copytree(out, tmp_path / "latest")
    script = re.sub(r"^DIR=.*$", f"DIR='{d}'", doc_commands(), count=1, flags=re.M)
    assert script != doc_commands()
    env = {"PATH": f"{ROOT / 'scripts'}:/usr/bin:/bin"}
    p = subprocess.run(["bash", "-e", "-c", script], cwd=ROOT, capture_output=True, text=True,
                       env=env, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert int(p.stdout.split()[-1]) == 5 * len(ResultsDir(d).runs())
    assert kcidb_errors(json.loads((d / "kcidb.json").read_text())) == []
