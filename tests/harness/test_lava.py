"""LAVA end to end (docs/fleets.md, "LAVA"): the jobs `scripts/bench lava` writes pass the
dispatcher's own job schema; one of them runs through Debian's lava-run on the qemu device type,
LAVA's monitors action parses every case the boot was asked for, and `scripts/bench import-lava`
turns its log into a results directory that exports like any other. The doc's worked example is
what runs here."""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import tlbrun
import yaml

from benchlib import lava, results
from harnesslib import ROOT, bench, built  # noqa: F401

MATRIX = ROOT / "scripts" / "matrices" / "lava.toml"
MIXED = """name = "lava-mixed"
platforms = ["tcg", "hvlab"]
firmware = ["direct", "bios", "uefi"]
vcpus = [2]
backends = ["ipi", "auto"]
workloads = ["remap"]
pages = [1]
iterations = 50
timeout = 60
extra_cmdline = "ack=early,late"
"""


def lava_validate(job: dict) -> None:
    schemas = pytest.importorskip("lava_common.schemas",
                                  reason="lava-dispatcher is not installed (scripts/deps)")
    schemas.validate(job, strict=True)


def test_jobs_pass_the_dispatchers_schema(tmp_path):
    m = tmp_path / "mixed.toml"
    m.write_text(MIXED)
    p = bench("lava", m, "--out", tmp_path / "jobs", "--base-url", "https://lab.example/img")
    assert p.returncode == 0, p.stderr
    left = [x for x in p.stderr.splitlines() if "left out" in x]
    # hvlab x 3 firmware, tcg uefi: left out with a reason each.
    assert len(left) == 4 and all("uefi" in x or "not plain QEMU" in x for x in left), left
    jobs = sorted((tmp_path / "jobs").glob("*-r0.yaml"))
    assert [j.name for j in jobs] == ["tlbstorm-tcg-bios-v2-o1-r0.yaml",
                                      "tlbstorm-tcg-direct-v2-o1-r0.yaml"]
    for j in jobs:
        job = yaml.safe_load(j.read_text())
        lava_validate(job)
        mon = job["actions"][2]["test"]["monitors"][0]
        assert (mon["start"], mon["end"], mon["pattern"]) == (lava.START, lava.END,
                                                              tlbrun.CASE_PATTERN)
        # auto resolves at boot: only ipi's scenarios are expected, ack in the id (two values).
        assert job["metadata"]["tlbstorm.expected"].split(",") == [
            "shootdown.ipi.remap.1p.ack-early", "shootdown.ipi.remap.1p.ack-late"]
        urls = [i["url"] for i in job["actions"][0]["deploy"]["images"].values()]
        assert all(u.startswith("https://lab.example/img/") for u in urls), urls
        assert "-chardev" not in json.dumps(job["context"])   # the lab's template owns the console
        dev = yaml.safe_load(j.with_name(j.name.replace(".yaml", ".device.yaml")).read_text())
        assert dev["actions"]["boot"]["methods"]["qemu"]["parameters"]["options"][-1] == \
            job["context"]["extra_options"][-1]
    bad = tmp_path / "lab-only.toml"
    bad.write_text(MIXED.replace('["tcg", "hvlab"]', '["hvlab"]'))
    p = bench("lava", bad, "--out", tmp_path / "none")
    assert p.returncode == 2 and "no configuration of the matrix can be a LAVA" in p.stderr


def test_log_reading(tmp_path):
    """LAVA's escaping of the target's quotes is undone, JSON lines and output.yaml both read,
    and a file that is neither is refused in one line."""
    rec = '{"record":"selftest","name":"x","result":"pass","checks":1,"failed":0,"detail":"a \\"q\\""}'
    escaped = "TLBSTORM " + rec.replace('"', '\\"')
    entries = [{"dt": "t", "lvl": "target", "msg": escaped},
               {"dt": "t", "lvl": "results", "msg": {"definition": "tlbstorm", "result": "pass",
                                                     "extra": {"test_case_id": "selftest.x"}}},
               # read after the test action ended: still the guest's output
               {"dt": "t", "lvl": "feedback", "msg": "tlbstorm: verdict pass (exit 0)", "ns": "c"}]
    jl = tmp_path / "job.log"
    jl.write_text("\n".join(json.dumps(e) for e in entries) + "\n")
    out = tmp_path / "output.yaml"
    out.write_text(yaml.safe_dump(entries))
    for path in (jl, out):
        serial, res = lava.read_log(path)
        assert serial.splitlines() == ["TLBSTORM " + rec, "tlbstorm: verdict pass (exit 0)"]
        assert len(res) == 1
        assert json.loads(serial.splitlines()[0][9:])["detail"] == 'a "q"'
    junk = tmp_path / "junk.log"
    junk.write_text("{not: [a log\n")
    with pytest.raises(lava.LavaError, match="not a LAVA job log"):
        lava.read_log(junk)


def doc_commands() -> str:
    text = (ROOT / "docs" / "fleets.md").read_text().split("## LAVA", 1)[1]
    return re.search(r"```sh\n(.*?)```", text, re.S).group(1)


@pytest.mark.skipif(not shutil.which("lava-run"), reason="lava-run missing (scripts/deps installs "
                    "lava-dispatcher)")
@pytest.mark.skipif(os.geteuid() != 0, reason="lava-run needs root (it works in /var/lib/lava)")
def test_lava_run_worked_example(tmp_path, built):
    work = tmp_path / "lava"
    res = tmp_path / "results"
    script = doc_commands().replace("build/results/lava", str(res)).replace("build/lava", str(work))
    script = script.replace("--job-id 1", f"--job-id {os.getpid()}")
    p = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=ROOT, capture_output=True,
                       text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    job = yaml.safe_load((work / "tlbstorm-tcg-direct-v2-o1-r0.yaml").read_text())
    expected = job["metadata"]["tlbstorm.expected"].split(",")
    assert len(expected) == 4                     # 2 workloads x 2 page counts, ipi
    # What LAVA itself parsed: every expected case, passed, with its measurement.
    _, lava_results = lava.read_log(work / "job.log")
    assert [r["extra"]["test_case_id"] for r in lava_results] == expected, lava_results
    assert all(r["result"] == "pass" and int(r["measurement"]) > 0 and r["units"] == "ns"
               for r in lava_results)
    rd = results.ResultsDir(res)
    (run,) = rd.runs()
    assert run["id"] == "tlbstorm-tcg-direct-v2-o1-r0" and run["verdict"] == "pass"
    assert [c["id"] for c in run["cases"]] == expected and not run["warnings"], run["warnings"]
    kcidb = json.loads((res / "kcidb.json").read_text())
    assert sorted(t["path"] for t in kcidb["tests"] if t["status"] == "DONE") == \
        sorted(f"tlbstorm.{e}" for e in expected)
    assert (res / "junit.xml").read_text().count("<testcase ") == 1 + len(expected)
    # The same job imported twice is refused, not counted twice.
    p = bench("import-lava", work / "tlbstorm-tcg-direct-v2-o1-r0.yaml", work / "job.log",
              "--out", res)
    assert p.returncode == 2 and "already has a run" in p.stderr
