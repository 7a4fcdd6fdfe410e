"""scripts/bench conformance: docs/conformance.md's table from synthetic results directories
(no QEMU): one row per check and form, one column per implementation, Hyper-V "no capture"
unless an imported run exists."""
import json
import subprocess
import sys
from pathlib import Path

from benchlib import conformance, records

ROOT = Path(__file__).resolve().parents[2]


def rec(check, form, outcome, observed="status 0x0000 HV_STATUS_SUCCESS", detection="n/a"):
    return {"record": "conformance", "check": check, "form": form, "outcome": outcome,
            "expected": "status 0x0003 HV_STATUS_INVALID_HYPERCALL_INPUT", "observed": observed,
            "detail": "synthetic", "detection": detection}


def write_run(d: Path, run_id: str, platform: str, recs):
    run = d / "runs" / run_id
    run.mkdir(parents=True)
    (run / "result.json").write_text(json.dumps({
        "id": run_id, "config": {"guest": "tlbstorm", "platform": platform},
        "records": recs + [{"record": "verdict", "verdict": "pass", "code": 0, "detection": None}]}))


def test_synthetic_records_match_the_schema():
    records.load([rec("reserved_bit44", "Space", "conforms")])


def test_table_columns_and_cells(tmp_path):
    kvm, xen = tmp_path / "kvm", tmp_path / "xen"
    write_run(kvm, "tlbstorm-hvlab-direct-v3-o1-r0", "hvlab", [
        rec("reserved_bit44", "Space", "conforms", "status 0x0003 HV_STATUS_INVALID_HYPERCALL_INPUT"),
        rec("misaligned_input", "Space", "deviates"),
        rec("selective_unlisted", "List", "conforms", "A flushed, B fresh", "not shown")])
    write_run(xen, "tlbstorm-xenlab-direct-v3-o1-r0", "xenlab", [
        rec("space_fast_all", "Space (fast)", "deviates", "status 0x0002 HV_STATUS_INVALID_HYPERCALL_CODE"),
        rec("reserved_bit44", "Space", "conforms")])
    text = conformance.build([kvm, xen])
    lines = [l for l in text.splitlines() if l.startswith("| ")]
    assert lines[0] == "| check | form | KVM's emulation | Xen's viridian | Hyper-V |"
    rows = {tuple(c.strip() for c in l.strip("|").split(" | ")[:2]): l for l in lines[1:]}
    assert rows[("`reserved_bit44`", "Space")].endswith("| conforms | conforms | no capture |")
    assert "| deviates: status 0x0000 HV_STATUS_SUCCESS | not run | no capture |" in rows[("`misaligned_input`", "Space")]
    assert "| not run | deviates: status 0x0002 HV_STATUS_INVALID_HYPERCALL_CODE |" in rows[("`space_fast_all`", "Space (fast)")]
    assert "conforms (detection not shown)" in rows[("`selective_unlisted`", "List")]
    assert "**deviates**" in text and "scripts/bench conformance" in text


def test_hyperv_capture_fills_its_column(tmp_path):
    write_run(tmp_path, "tlbstorm-hyperv-gen2-uefi-v2-o1-r0", "hyperv-gen2",
              [rec("undefined_code", "0x7ffe", "conforms")])
    write_run(tmp_path, "tlbstorm-tcg-direct-v2-o1-r0", "tcg", [rec("ignored", "Space", "deviates")])
    text = conformance.build([tmp_path])
    assert "| `undefined_code` | 0x7ffe | not run | not run | conforms |" in text
    assert "ignored" not in text  # a platform with no Hyper-V interface has no column


def test_cli_writes_the_file(tmp_path):
    write_run(tmp_path / "r", "a", "hvlab", [rec("ex_set_all", "Space-Ex", "unsupported")])
    out = tmp_path / "conformance.md"
    p = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench"), "conformance", str(tmp_path / "r"),
                        "--out", str(out)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "| `ex_set_all` | Space-Ex | unsupported | not run | no capture |" in out.read_text()


def test_a_run_that_could_check_outweighs_unsupported(tmp_path):
    write_run(tmp_path, "v3", "hvlab", [rec("ex_vp64", "List-Ex", "unsupported"), rec("x", "Space", "conforms")])
    write_run(tmp_path, "v65", "hvlab", [rec("ex_vp64", "List-Ex", "conforms"), rec("x", "Space", "deviates")])
    text = conformance.build([tmp_path])
    assert "| `ex_vp64` | List-Ex | conforms | not run | no capture |" in text
    assert "| `x` | Space | conforms / deviates: status 0x0000 HV_STATUS_SUCCESS |" in text
