"""The typed record layer (scripts/benchlib/records.py) and what the reports build on it, on
synthesized records (no QEMU): fields read by the schema's rules, invalid records failing with
kind, field and the schema's message, a run with one bad record marked invalid, the scenario
columns and keys taken from the schema's "x-scenario" fields (ack=early,late stay apart)."""

import copy
import csv
import random
import subprocess

import pytest

import test_report as synth
from benchlib import compare, records, report, results, runner, scenarios
from test_report import HOST, config, md_table, run_dict, section

ROOT = synth.ROOT


def shootdown(**changes):
    rec = copy.deepcopy(synth.shootdown_record(random.Random(5), 0, "kvm", 2, "ipi", "remap",
                                               1)[0])
    rec.update(changes)
    return rec


def test_fields_are_read_by_the_schema():
    rec = records.check(shootdown())
    assert rec.kind == "shootdown" and rec["pages"] == 1 and rec["ack"] == "late"
    assert rec["oracle"]["violations"] == 0 and rec["latency_ns"]["p50"] > 0
    assert rec["detection"]["canary"]["control"] == "remote"
    assert rec.opt("equivalent") is None and rec["env"].opt("linux_flush") is None
    for read, field, why in ((lambda: rec["pagez"], "pagez", "not a field of this record"),
                             (lambda: rec["equivalent"], "equivalent", "read it with .opt()"),
                             (lambda: rec.opt("pages"), "pages", "read it with []"),
                             (lambda: rec["oracle"]["stale"], "stale", "not a field")):
        with pytest.raises(records.RecordError) as e:
            read()
        assert e.value.field == field and why in str(e.value)
    assert e.value.kind == "shootdown.oracle"


@pytest.mark.parametrize("change, field, message", [
    (lambda r: r["oracle"].pop("violations"), "oracle.violations",
     "'violations' is a required property (written by an older tlbstorm?"),
    (lambda r: r.update(pages="64"), "pages", "'64' is not of type 'integer'"),
    (lambda r: r.update(ack="sometime"), "ack", "'sometime' is not one of ['early', 'late']"),
    (lambda r: r.update(record="shootdowns"), "record", "is not one of"),
])
def test_an_invalid_record_names_kind_field_and_reason(change, field, message):
    rec = shootdown()
    change(rec)
    with pytest.raises(records.RecordError) as e:
        records.load([synth.boot_record(), rec])
    assert e.value.field == field and message in e.value.message
    assert str(e.value).startswith(f"{'shootdowns' if field == 'record' else 'shootdown'} "
                                   f"(#1) record: field '{field}': ")


def test_bench_lists_in_both_forms():
    new = synth.bench_record("kvm", 2, 4000, ["auto"], ["remap", "unmap"], acks=["early", "late"])
    rec = records.check(new)
    assert [records.bench_list(rec, n) for n in ("backends", "workloads", "pages")] == \
        [["auto"], ["remap", "unmap"], synth.PAGES]
    assert rec.opt("acks") == ["early", "late"]
    old = dict(new, backends="auto", workloads="remap,unmap", pages="1,64")
    del old["acks"]
    rec = records.check(old)
    assert [records.bench_list(rec, n) for n in ("backends", "workloads", "pages")] == \
        [["auto"], ["remap", "unmap"], [1, 64]]
    assert rec.opt("acks") is None
    for bad in ({k: v for k, v in new.items() if k != "acks"},   # arrays need acks
                dict(old, acks=["early"]),                        # strings come without
                dict(new, pages=[0]), dict(new, acks=["soon"])):
        with pytest.raises(records.RecordError):
            records.check(bad)


def test_scenario_columns_come_from_the_schema():
    assert records.SCENARIO_FIELDS == ("backend", "workload", "pages", "full", "initiators",
                                       "aspaces", "ack", "skip_flush", "observe", "inflight",
                                       "targets", "iterations", "warmup")
    i = results.ROW_FIELDS.index("backend")
    assert tuple(results.ROW_FIELDS[i:i + len(records.SCENARIO_FIELDS)]) == \
        records.SCENARIO_FIELDS
    assert len(set(results.ROW_FIELDS)) == len(results.ROW_FIELDS)
    assert scenarios.SCENARIO_KEY[-len(scenarios.OPTION_FIELDS):] == tuple(
        f for f in records.SCENARIO_FIELDS if f not in ("iterations", "warmup"))


def test_violations_are_the_kernels_total():
    """The row's violations are oracle.violations as the kernel summed them, not a sum of its
    parts made again here."""
    rec = shootdown()
    rec["oracle"].update(stale_reads=3, violations=5)
    run = results.load_run(run_dict(config("tlbstorm", "kvm", 2, 0), "fail", [rec]))
    assert [r["violations"] for r in results.scenario_rows([run])] == [5]


def ack_dir(path, slow_ack, reps=2):
    """One boot per repetition running every scenario once per ack mode; `slow_ack` is 3x
    slower than the other."""
    rng = random.Random(11)
    rd = results.ResultsDir(path)
    plan = [config("tlbstorm", "kvm", 2, rep) for rep in range(reps)]
    rd.create("", ".toml", plan, HOST)
    for c in plan:
        recs = [synth.boot_record()]
        for sc, ack in enumerate(("early", "late")):
            recs += synth.shootdown_record(rng, sc, "kvm", 2, "ipi", "remap", 1, ack=ack,
                                           base=12000 if ack == slow_ack else 4000)
        recs.append({"record": "verdict", "verdict": "pass", "code": 0, "detection": "shown"})
        rd.save_run(run_dict(c, "pass", recs))
    return rd


def test_ack_modes_stay_apart(tmp_path):
    rd = ack_dir(tmp_path / "a", slow_ack="late")
    out = report.write_reports(rd)
    rows = md_table(section(out["summary"].read_text(),
                            "Shootdown latency (median of repetitions)"), "guest")
    assert sorted((r["ack"], r["reps"]) for r in rows) == [("early", "2"), ("late", "2")]
    slow = {r["ack"]: synth.cells.parse_ns(r["p50"]) for r in rows}
    assert slow["late"] > 2 * slow["early"]
    with open(out["csv"], newline="") as f:
        assert sorted(r["ack"] for r in csv.DictReader(f)) == ["early", "early", "late", "late"]

    # B: the same, but early is the slow one: compare must see early get slower and late
    # faster, which it cannot if it matches early with late or merges them (5 repetitions:
    # compare's interval needs them).
    rd = ack_dir(tmp_path / "a5", slow_ack="late", reps=5)
    b = ack_dir(tmp_path / "b", slow_ack="early", reps=5)
    found = {(dict(zip(compare.KEY, f.key))["ack"], f.metric): f
             for f in compare.compare(rd, b) if f.metric == "p50_ns"}
    assert set(found) == {("early", "p50_ns"), ("late", "p50_ns")}
    assert found["early", "p50_ns"].flagged and found["early", "p50_ns"].change > 1
    assert found["late", "p50_ns"].flagged and found["late", "p50_ns"].change < -0.5
    text = compare.render(list(found.values()), rd.path, b.path)
    assert "ack=early" in text and "ack=late" in text


def test_one_bad_record_makes_its_run_invalid(tmp_path):
    """The run is marked invalid with the one-line reason (summary, runs table, exit status
    4 of `scripts/bench report` and of the run's exit status); the others are reported."""
    rd = ack_dir(tmp_path / "r", slow_ack="late")
    bad = rd.runs()[1]["id"]
    raw = results.json.loads((rd.run_dir(bad) / "result.json").read_text())
    del raw["records"][1]["detection"]
    rd.save_run(raw)
    p = subprocess.run(["/usr/bin/python3", str(ROOT / "scripts" / "bench"), "report", rd.path],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == runner.EXIT_ERROR, p.stderr
    reason = ("invalid record: shootdown (#1) record: field 'detection': 'detection' is a "
              "required property")
    assert f"bench: error: {bad}: {reason}" in p.stderr
    text = (rd.path / "summary.md").read_text()
    listed = {r["run"].strip("`"): r for r in md_table(section(text, "Runs"), "run")}
    assert listed[bad]["outcome"] == "pass, records invalid"
    assert listed[bad]["reason"].startswith(reason)
    with open(rd.path / "results.csv", newline="") as f:
        assert {r["run_id"] for r in csv.DictReader(f)} == {rd.runs()[0]["id"]}
    assert runner.exit_status(results.ResultsDir(rd.path).runs()) == runner.EXIT_ERROR
    flagged = [f for f in compare.compare(rd, rd) if f.metric == "records"]
    assert len(flagged) == 2 and all(f.flagged for f in flagged)
