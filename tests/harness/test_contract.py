"""Names that have one source agree with it wherever they are restated (host only, no QEMU).

Exit and status codes: kernel/exit.h (read by tlbrun.load_exit_codes) and the run script's
own statuses (tlbrun.STATUS_*), restated in kernel/exit.c, the Linux peer (init and tlbpeer.c),
the Hyper-V lab's init, the Hyper-V host script, scripts/run, README.md, docs/run.md, the
schema and the harness. Enum names (workloads, the Linux peer's operations, ack, skip_flush,
observe, selftest results): docs/records.schema.json, checked against the kernel's name tables,
which are found by their variable name anywhere in the kernel's sources. Also the shape of the
harness code (docs/bench.md): file and function sizes, imports."""

import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
import tlbrun
from benchlib import matrix, records, runner

KERNEL_DIRS = ("kernel", "mm", "smp", "hv", "kvm", "bench", "acpi", "boot")
EXIT_CODES = tlbrun.load_exit_codes()                      # {"pass": 0, ...}, kernel/exit.h
# The run script's own statuses, by the names the documents give them.
RUN_STATUSES = {"timeout": tlbrun.STATUS_TIMEOUT, "no verdict": tlbrun.STATUS_NO_VERDICT,
                "host problem": tlbrun.STATUS_HOST}
HARNESS_FILES = sorted((ROOT / "scripts" / "benchlib").glob("*.py")) + [ROOT / "scripts" / "bench"]


def read(rel: str) -> str:
    return (ROOT / rel).read_text(encoding="utf-8", errors="replace")


def exit_h_define(name: str) -> int:
    m = re.search(rf"^\s*#\s*define\s+{name}\s+(0x[0-9a-fA-F]+|\d+)\b", read("kernel/exit.h"),
                  re.M)
    assert m, f"kernel/exit.h has no #define {name}"
    return int(m.group(1), 0)


# ---------------------------------------------------------------------------------------------
# C name tables


def _strip_comments(text: str) -> str:
    return re.sub(r"/\*.*?\*/|//[^\n]*", " ", text, flags=re.S)


def find_table(name: str):
    """The strings of the C table `name[...] = { ... };` anywhere in the kernel's sources, as
    [(index name or None, string), ...] in source order; None when no file defines it. Both
    `{ "a", "b", NULL }` and `{ [X_A] = "a", [X_B] = "b", }` are understood."""
    decl = re.compile(rf"\b{re.escape(name)}\s*\[[^\]]*\]\s*=\s*\{{(.*?)\}};", re.S)
    for d in KERNEL_DIRS:
        for f in sorted((ROOT / d).rglob("*.[ch]")) if (ROOT / d).is_dir() else []:
            m = decl.search(_strip_comments(f.read_text(errors="replace")))
            if m:
                body = m.group(1)
                if re.search(r"\[\s*\w+\s*\]\s*=", body):
                    return re.findall(r"\[\s*(\w+)\s*\]\s*=\s*\"([^\"]*)\"", body)
                return [(None, s) for s in re.findall(r"\"([^\"]*)\"", body)]
    return None


def table_names(*candidates: str):
    """The names of the first of the candidate tables that exists; skip (saying which were
    looked for) when none does, rather than guess."""
    for name in candidates:
        found = find_table(name)
        if found is not None:
            return [s for _, s in found]
    pytest.skip(f"no C table named {' or '.join(candidates)} under {', '.join(KERNEL_DIRS)}")


@pytest.mark.parametrize("schema_enum, tables", [
    ("equivalent", ("workload_names",)),
    ("skip_flush", ("tlb_skip_names", "skip_flush_names", "skip_names")),
    ("observe", ("observe_names",)),
    ("inflight", ("inflight_names",)),
    ("targets", ("targets_names",)),
    ("ack", ("ack_names", "tlb_ack_names", "acks")),
])
def test_schema_enums_equal_kernel_tables(schema_enum, tables):
    assert sorted(table_names(*tables)) == sorted(records.enum(schema_enum))


def test_selftest_results_equal_kernel_table():
    schema = records.resolve(records.KINDS["selftest"].fields["result"])["enum"]
    assert sorted(table_names("result_names")) == sorted(schema)


def test_linux_operations_equal_the_peer():
    """tlbpeer.c's table of {operation, tlbstorm workload} pairs is the schema's
    x-linux-operations; the schema's workload enum is tlbstorm's and the peer's together."""
    body = re.search(r"\}\s*workloads\[[^\]]*\]\s*=\s*\{(.*?)\};",
                     _strip_comments(read("scripts/linuxpeer/tlbpeer.c")), re.S)
    assert body, "scripts/linuxpeer/tlbpeer.c: no workloads[] table"
    pairs = re.findall(r"\{\s*\"(\w+)\"\s*,\s*\"(\w+)\"\s*\}", body.group(1))
    assert {eq: op for op, eq in pairs} == records.LINUX_OPS
    assert set(records.enum("workload")) == set(records.WORKLOADS) | set(records.LINUX_OPS.values())
    assert sorted(records.LINUX_OPS) == sorted(records.WORKLOADS)


def test_benchlib_takes_names_from_the_schema():
    assert matrix.WORKLOADS == records.WORKLOADS and matrix.LINUX_OPS == records.LINUX_OPS
    # No enum value stands in the harness's code as a literal of its own.
    names = set(records.enum("workload")) | set(records.enum("ack")) | {"lockstep"}
    for f in HARNESS_FILES:
        literals = {n.value for n in ast.walk(ast.parse(f.read_text()))
                    if isinstance(n, ast.Constant) and isinstance(n.value, str)}
        assert not literals & names, f"{f.relative_to(ROOT)} restates {literals & names}"


# ---------------------------------------------------------------------------------------------
# Exit and status codes


def test_exit_codes_in_the_kernel_and_the_schema():
    named = find_table("code_names")
    assert named, "kernel/exit.c: no code_names table"
    assert {exit_h_define(idx): s for idx, s in named} == {c: n for n, c in EXIT_CODES.items()}
    verdict = records.KINDS["verdict"].fields
    assert set(records.resolve(verdict["verdict"])["enum"]) == set(EXIT_CODES)
    assert verdict["code"]["maximum"] == max(EXIT_CODES.values())
    assert verdict["code"]["minimum"] == min(EXIT_CODES.values())


def test_exit_codes_in_the_harness():
    assert {runner.OUTCOMES[c]: c for c in EXIT_CODES.values()} == EXIT_CODES
    assert set(runner.RETRIED) == set(RUN_STATUSES.values())
    assert set(EXIT_CODES.values()).isdisjoint(RUN_STATUSES.values())


def test_linux_peer_exit_codes():
    init = read("scripts/linuxpeer/init")
    assert int(re.search(r"^EXIT_ERROR=(\d+)", init, re.M).group(1)) == EXIT_CODES["error"]
    assert int(re.search(r"^EXIT_PORT=(\d+)", init, re.M).group(1)) == \
        exit_h_define("DEBUG_EXIT_IOPORT")
    # The verdict records init prints itself, when tlbpeer died.
    for verdict, code in re.findall(r'"verdict":"(\w+)","code":(\d+)', init):
        assert EXIT_CODES[verdict] == int(code)
    pairs = re.findall(r"\[EXIT_(\w+)\]\s*=\s*\"(\w+)\"", read("scripts/linuxpeer/peer.c"))
    assert pairs and {exit_h_define(f"EXIT_{n}"): s for n, s in pairs} == \
        {c: n for n, c in EXIT_CODES.items()}


def test_lab_init_codes():
    """hvlab-init's lab codes are bytes for the outer isa-debug-exit: outer status
    (byte << 1) | 1, as its comments and tlbrun.HVLAB_LAB_CODES say, and none is a verdict."""
    init = read("scripts/hvlab-init")
    assert int(re.search(r"^EXIT_PORT=(\d+)", init, re.M).group(1)) == \
        exit_h_define("DEBUG_EXIT_IOPORT")
    lab = re.findall(r"^LAB_\w+=(\d+)\s+# outer status (\d+)", init, re.M)
    assert lab, "scripts/hvlab-init: no LAB_* codes"
    for byte, status in lab:
        assert (int(byte) << 1) | 1 == int(status)
    assert {int(s) for _, s in lab} == set(tlbrun.HVLAB_LAB_CODES)
    assert not {int(b) for b, _ in lab} & set(EXIT_CODES.values())


def _code_list(text: str):
    """`0 pass, 1 fail, ...` (a docstring's list) -> {code: first word(s)}."""
    return {int(c): n for c, n in re.findall(r"\b(\d) ((?:no )?[a-z]+)", text)}


def _expected(run_statuses=True):
    out = {c: n for n, c in EXIT_CODES.items()}
    if run_statuses:
        out.update({c: n for n, c in RUN_STATUSES.items()})
    return out


def test_run_script_docstring():
    doc = re.search(r'"""(.*?)"""', read("scripts/run"), re.S).group(1)
    statuses = _code_list(doc.split("Exit status:", 1)[1])
    expected = _expected()
    expected[tlbrun.STATUS_HOST] = "bad"      # "7 bad usage of this script or a host problem"
    assert statuses == expected


def test_hyperv_host_script():
    text = read("scripts/hyperv/Invoke-TlbstormHyperV.ps1")
    help_ = re.search(r"Exit status: the kernel's verdict code \(([^)]*)\);(.*?)\n\s*\n", text,
                      re.S)
    assert help_, "Invoke-TlbstormHyperV.ps1: no 'Exit status:' help paragraph"
    assert _code_list(help_.group(1)) == _expected(run_statuses=False)
    for code, words in ((tlbrun.STATUS_TIMEOUT, "timeout"),
                        (tlbrun.STATUS_NO_VERDICT, "the VM stopped (or reset) without a verdict"),
                        (tlbrun.STATUS_HOST, "a host problem")):
        assert f"{code} {words}" in " ".join(help_.group(2).split()), (code, words)
    # The codes the script sets itself are the run script's.
    set_codes = {int(c) for c in re.findall(r"\$code = (\d+)", text)}
    assert set_codes <= set(RUN_STATUSES.values()), set_codes


def _md_codes(text: str, header: str):
    """The `| N | name |` rows of the Markdown table under `header`."""
    part = text.split(header, 1)[1]
    rows = re.findall(r"^\| (\d+) \| ([^|]+?) (?:—[^|]*)?\|", part.split("\n\n", 1)[0], re.M)
    return {int(c): re.split(r"[:(]", n)[0].strip() for c, n in rows}


def test_readme_exit_table():
    assert _md_codes(read("README.md"), "| status | name | meaning |") == _expected()


def test_run_md_exit_table():
    text = read("docs/run.md")
    header = next(line for line in text.splitlines()
                  if re.match(r"\| *status *\|", line, re.I))
    codes = _md_codes(text, header)
    expected = _expected()
    expected[tlbrun.STATUS_HOST] = "bad usage of the run script or a host problem"
    assert codes == expected


def test_bench_md_harness_statuses():
    rows = dict(re.findall(r"^\| (\d+) \| ([^|]+) \|$",
                           read("docs/bench.md").split("## Exit status", 1)[1], re.M))
    assert set(map(int, rows)) == {runner.EXIT_OK, runner.EXIT_FAIL, runner.EXIT_USAGE,
                                   runner.EXIT_NOTHING, runner.EXIT_ERROR,
                                   runner.EXIT_INTERRUPTED}


# ---------------------------------------------------------------------------------------------
# The harness's shape (docs/bench.md, "The code")


def test_harness_code_shape():
    """No file over 500 lines, no function over 60, imports at module level only, and no
    private name imported from another module (one-way dependencies, no import circle)."""
    for f in HARNESS_FILES:
        text = f.read_text()
        assert len(text.splitlines()) <= 500, f
        tree = ast.parse(text)
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                assert node.end_lineno - node.lineno + 1 <= 60, f"{f.name}: {node.name}"
                inner = [n for n in ast.walk(node) if isinstance(n, (ast.Import, ast.ImportFrom))]
                assert not inner, f"{f.name}: {node.name} imports"
            if isinstance(node, ast.ImportFrom) and node.level:
                private = [a.name for a in node.names if a.name.startswith("_")]
                assert not private, f"{f.name} imports {private}"


def test_case_line_pattern():
    """The schema's x-case-line is the harness's pattern; what it takes and what it refuses."""
    schema = json.loads((ROOT / "docs" / "records.schema.json").read_text())
    assert schema["x-case-line"]["pattern"] == tlbrun.CASE_PATTERN
    assert tlbrun.parse_case_line("TLBSTORM-CASE shootdown.ipi.remap.1p.ack-late pass 812 ns") == \
        {"id": "shootdown.ipi.remap.1p.ack-late", "result": "pass", "measurement": 812,
         "units": "ns"}
    for bad in ("TLBSTORM-CASE Shootdown pass 1 ns", "TLBSTORM-CASE x ok 1 ns",
                "TLBSTORM-CASE x pass -1 ns", "TLBSTORM-CASE x pass 1", "TLBSTORM-CASE .x pass 1 ns"):
        assert tlbrun.parse_case_line(bad) is None, bad
    p = tlbrun.SerialParser()
    p.feed(b"TLBSTORM-CASE selftest.acpi pass 2 checks\r\nTLBSTORM-CASE broken\n")
    assert [c["id"] for c in p.cases] == ["selftest.acpi"] and p.bad_cases == ["TLBSTORM-CASE broken"]


def test_case_ids_are_written_as_the_kernel_writes_them():
    """kernel/record.c record_case(): lower-case, a run of other characters one '-', none last."""
    from benchlib import cases
    assert cases.clean("conformance.space_fast_all.Space (fast)") == \
        "conformance.space_fast_all.space-fast"
    assert cases.clean("conformance.undefined_code.0x7ffe") == "conformance.undefined_code.0x7ffe"
    assert cases.clean("selftest.a//b--") == "selftest.a-b"
    assert cases.clean("x.a-/b") == "x.a--b"        # a '-' of the id's own is kept
    # The kernel's side is checked on its real ids: tests/boot/test_conformance.py.
