"""The tree's shape, checked without QEMU: files and functions small enough to read, dependencies
that point one way (no include or import circles), backends that register themselves, and limits
that two programs restate agreeing with their one definition. Each checker is also shown failing
on a planted example, so a green run means the tree passed, not that the checker saw nothing."""

import ast
import json
import re
import subprocess

import pytest

from conftest import ROOT

MAX_FILE_LINES = 500
MAX_FUNCTION_LINES = 60
SOURCE_SUFFIXES = (".c", ".h", ".S", ".py", ".ld")
C_SUFFIXES = (".c", ".h")


def tracked(*patterns):
    out = subprocess.run(["git", "ls-files", *patterns], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    return [p for p in out.split() if not p.startswith("tests/")]


def python_scripts():
    """Executable Python files without a .py suffix (scripts/run, scripts/bench, ...)."""
    out = []
    for path in tracked("scripts"):
        p = ROOT / path
        if p.suffix or not p.is_file():
            continue
        first = p.read_text(errors="replace").split("\n", 1)[0]
        if first.startswith("#!") and "python" in first:
            out.append(path)
    return out


def source_files():
    return [p for p in tracked() if p.endswith(SOURCE_SUFFIXES)] + python_scripts()


# ---- the checkers


def c_long_functions(text, limit=MAX_FUNCTION_LINES):
    """(first line, lines, signature) of every function over limit, in the kernel's style: the
    body opens with '{' and closes with '}' in column 0; the signature starts at the last line
    above the '{' that begins in column 0."""
    lines = text.split("\n")
    found, start = [], None
    for i, line in enumerate(lines):
        if line == "{" and i:
            j = i - 1
            while j > 0 and lines[j][:1] in (" ", "\t"):
                j -= 1
            start = j
        elif line.startswith("}") and start is not None:
            if i - start + 1 > limit:
                found.append((start + 1, i - start + 1, lines[start].strip()))
            start = None
    return found


def py_long_functions(text, limit=MAX_FUNCTION_LINES):
    found = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            n = node.end_lineno - node.lineno + 1
            if n > limit:
                found.append((node.lineno, n, node.name))
    return found


def circles(edges):
    """Strongly connected components with more than one node (Tarjan), each sorted."""
    index, low, stack, on, out = {}, {}, [], set(), []
    nodes = set(edges) | {d for ds in edges.values() for d in ds}

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


_INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def c_unit(path):
    """foo.c and foo.h are one unit: what the header declares, the source defines."""
    return re.sub(r"\.[ch]$", "", path)


def c_edges(files):
    edges = {}
    for path, text in files.items():
        src = c_unit(path)
        for inc in _INCLUDE.findall(text):
            dst = c_unit(inc)
            if dst != src and inc in files:
                edges.setdefault(src, set()).add(dst)
    return edges


def module_name(path):
    return path[:-3].replace("/", ".").removesuffix(".__init__")


def imported(node, mod, is_init, modules):
    """The modules of `modules` that one import statement in module mod reads."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name in modules]
    base = node.module or ""
    if node.level:
        parts = mod.split(".")
        parent = parts[:len(parts) - node.level + (1 if is_init else 0)]
        base = ".".join(parent + ([base] if base else []))
    out = []
    for a in node.names:
        sub = f"{base}.{a.name}"
        out.append(sub if sub in modules else base)  # a submodule, or a name from base
    return [m for m in out if m in modules]


def py_edges(files, packages):
    """Module -> modules it imports, among the modules of the given top-level packages."""
    modules = {module_name(p) for p in files}
    edges = {}
    for path, text in files.items():
        mod = module_name(path)
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for dst in imported(node, mod, path.endswith("__init__.py"), modules):
                    if dst != mod and dst.split(".")[0] in packages:
                        edges.setdefault(mod, set()).add(dst)
    return edges


# ---- the tree


def test_no_file_over_the_limit():
    long = []
    for path in source_files():
        n = (ROOT / path).read_text(errors="replace").count("\n")
        if n > MAX_FILE_LINES:
            long.append(f"{path}: {n} lines")
    assert not long, f"over {MAX_FILE_LINES} lines: " + "; ".join(long)


def duplicate_basenames(paths):
    """Test modules that share a file name: pytest (rootdir-relative, no packages) imports them
    under one module name and refuses the second at collection, failing the whole session."""
    seen, dups = {}, []
    for p in paths:
        name = p.rsplit("/", 1)[-1]
        if name in seen:
            dups.append(f"{seen[name]} and {p}")
        seen.setdefault(name, p)
    return dups


def test_no_two_test_modules_share_a_name():
    out = subprocess.run(["git", "ls-files", "tests/*.py"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout.split()
    assert not duplicate_basenames([p for p in out if p.rsplit("/", 1)[-1].startswith("test_")])
    assert duplicate_basenames(["tests/boot/test_x.py", "tests/harness/test_x.py"]) == [
        "tests/boot/test_x.py and tests/harness/test_x.py"]  # the checker catches a planted pair


def test_no_function_over_the_limit():
    long = []
    for path in source_files():
        text = (ROOT / path).read_text(errors="replace")
        if path.endswith(C_SUFFIXES):
            found = c_long_functions(text)
        elif path.endswith(".py") or path in python_scripts():
            found = py_long_functions(text)
        else:
            continue
        long += [f"{path}:{line}: {name} ({n} lines)" for line, n, name in found]
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: " + "; ".join(long)


def header_edges(files):
    """Header -> the headers it includes (type and declaration dependencies)."""
    return {p: {inc for inc in _INCLUDE.findall(t) if inc in files and inc != p}
            for p, t in files.items() if p.endswith(".h")}


def test_no_include_circle_in_c_headers():
    files = {p: (ROOT / p).read_text(errors="replace") for p in tracked("*.h")}
    found = circles(header_edges(files))
    assert not found, found


@pytest.mark.parametrize("source, header, why", [
    ("kernel/console.c", "kernel/screen.h", "the screen drivers map memory through mm/, which prints"),
    ("smp/call.c", "smp/smp.h", "bring-up starts the call loop: calls must not reach back into it"),
    ("mm/early.c", "mm/mm.h", "the allocator uses the early mappings, not the other way round"),
    ("bench/change.c", "bench/bench.h", "the run's parts do not know the benchmark that runs them"),
])
def test_circles_that_were_broken_stay_broken(source, header, why):
    """The C circles found before this layout (a unit is foo.c with foo.h): each broken by
    keeping one include out. A unit-level graph of the whole kernel is not a useful check: the
    per-CPU area embeds subsystems' structs, so every subsystem that reads it "includes" them."""
    assert header not in _INCLUDE.findall((ROOT / source).read_text()), why


def test_no_import_circle_in_python():
    packages = {p.split("/")[1] for p in tracked("scripts/*/__init__.py")}
    files = {p[len("scripts/"):]: (ROOT / p).read_text() for p in tracked("scripts/*.py", "scripts/**/*.py")
             if p.split("/")[1] in packages}
    found = circles(py_edges(files, packages))
    assert not found, found


def test_the_engine_names_no_backend():
    """Backends register with TLB_BACKEND() in their own files; mm/ knows none of them."""
    engine = (ROOT / "mm/tlb.c").read_text() + (ROOT / "mm/tlb.h").read_text()
    assert not re.findall(r"tlb_backend_(?:ipi|hv_\w+|kvm_\w+)\b", engine)
    elf = ROOT / "build" / "tlbstorm.elf"
    if not elf.exists():
        pytest.skip("build/tlbstorm.elf is not built (run `make`)")
    out = subprocess.run(["nm", str(elf)], check=True, capture_output=True, text=True).stdout
    table = sorted((int(addr, 16), name.removeprefix("tlb_backend_entry_tlb_backend_"))
                   for addr, _, name in (ln.split() for ln in out.splitlines() if len(ln.split()) == 3)
                   if name.startswith("tlb_backend_entry_"))
    names = [name for _, name in table]
    assert {"ipi", "hv_flush", "hv_ipi", "kvm_flush", "kvm_ipi"} <= set(names), names
    # the plain IPI backend is the fallback: it must come last in the linked table
    assert names[-1] == "ipi", names


def c_define(path, name):
    m = re.search(rf"^#define {name}\s+(\d+)", (ROOT / path).read_text(), re.M)
    assert m, f"{path} defines no {name}"
    return int(m.group(1))


def test_the_peer_restates_the_kernels_limits():
    peer = "scripts/linuxpeer/peer.h"
    assert c_define(peer, "MAX_PAGES") == c_define("bench/scenario.h", "SCENARIO_MAX_PAGES")
    assert c_define(peer, "MAX_LIST") == c_define("kernel/cmdline.h", "OPT_LIST_MAX")
    schema = json.loads((ROOT / "docs/records.schema.json").read_text())
    assert schema["$defs"]["pages"]["maximum"] == c_define("bench/scenario.h", "SCENARIO_MAX_PAGES")


# ---- the checkers fail where they must


def test_c_checker_finds_a_long_function():
    body = "\n".join(["\tx++;"] * 60)
    text = f"static int f(int a,\n\t     int b)\n{{\n{body}\n}}\n\nvoid g(void)\n{{\n}}\n"
    assert c_long_functions(text) == [(1, 64, "static int f(int a,")]
    assert c_long_functions(text, limit=64) == []


def test_py_checker_finds_a_long_function():
    text = "def f():\n" + "    x = 1\n" * 60 + "\n\ndef g():\n    pass\n"
    assert py_long_functions(text) == [(1, 61, "f")]


def test_circle_checker_finds_circles():
    files = {"a/x.c": '#include "b/y.h"\n', "b/y.h": "", "b/y.c": '#include "c/z.h"\n',
             "c/z.h": "", "c/z.c": '#include "a/x.h"\n#include "c/z.h"\n', "a/x.h": ""}
    assert circles(c_edges(files)) == [["a/x", "b/y", "c/z"]]
    del files["c/z.c"]
    assert circles(c_edges(files)) == []
    py = {"pkg/__init__.py": "", "pkg/a.py": "from pkg import b\n", "pkg/b.py": "from . import a\n"}
    assert circles(py_edges(py, {"pkg"})) == [["pkg.a", "pkg.b"]]
    py["pkg/b.py"] = "import os\n"
    assert circles(py_edges(py, {"pkg"})) == []


def test_no_sys_path_edits():
    """scripts/ is a directory of packages: its scripts find them where they are, and pytest.ini
    puts scripts/ on the path for the tests."""
    out = subprocess.run(["git", "ls-files", "*.py", "scripts"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout.split()
    edits = [p for p in set(out) if (ROOT / p).is_file() and
             re.search(r"sys\.path\.(insert|append)", (ROOT / p).read_text(errors="replace"))]
    assert not edits, edits
