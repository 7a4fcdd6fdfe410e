"""Static checks of the built kernel image that need no QEMU: properties of the machine code
that no boot can show reliably (a missing fence only bites on a rare interleaving).

x2APIC ICR ordering: WRMSR to the x2APIC ICR is not serialising, so the stores that publish a
request (tlb_ipi_post(), smp_call_start()) could still be invisible when the IPI arrives.
smp/apic.c puts MFENCE; LFENCE before it (as Linux's weak_wrmsr_fence()); this test reads the
disassembly and checks that every WRMSR to the ICR (MSR 0x830) is preceded by MFENCE, then
LFENCE, with no store in between."""

import os
import re
import subprocess

import pytest

from conftest import ROOT, tlbrun

X2APIC_ICR_MSR = 0x830
ICR_WRITER = "x2apic_icr_write"  # where smp/apic.c keeps the write (noinline)

_FUNC = re.compile(r"^([0-9a-f]+) <(.+)>:$")
_INSN = re.compile(r"^\s*([0-9a-f]+):\s+(\S+)\s*(.*?)\s*$")
_ECX = re.compile(r"%[er]?cx\b|%cl\b|%ch\b")
# Instructions that write memory although their last operand is not a memory reference.
_IMPLICIT_STORE = re.compile(r"(push|call|stos|enter|lock|rep)\w*")
# Instructions whose (last) memory operand is only read. Not cmpxchg, bts, btr, btc: stores.
_READ_ONLY = re.compile(r"(cmp|test|lea|nop|bt|jmp|ljmp|lgdt|lidt|lldt|ltr)[bwlq]?"
                        r"|prefetch\w*|u?comis[sd]|clflush\w*|invlpg")


def elf_path():
    return ROOT / os.environ.get("TLBSTORM_ELF", str(tlbrun.DEFAULT_ELF))


def disassemble(elf):
    """{function name: [(address, mnemonic, operands), ...]} from objdump."""
    objdump = os.environ.get("OBJDUMP", "objdump")
    out = subprocess.run([objdump, "-d", "--no-show-raw-insn", str(elf)], check=True,
                         capture_output=True, text=True).stdout
    funcs, cur = {}, None
    for line in out.splitlines():
        m = _FUNC.match(line)
        if m:
            cur = funcs.setdefault(m.group(2), [])
            continue
        m = _INSN.match(line)
        if m and cur is not None:
            ops = m.group(3).split("#", 1)[0].strip()  # drop objdump's symbol comments
            cur.append((int(m.group(1), 16), m.group(2), ops))
    return funcs


def last_operand(ops):
    """The destination (AT&T: the last operand), commas inside parentheses respected."""
    depth, start = 0, 0
    for i, c in enumerate(ops):
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "," and depth == 0:
            start = i + 1
    return ops[start:].strip()


def is_store(mnemonic, ops):
    """Conservative: anything that may write memory counts."""
    mnem = mnemonic.split(".")[0]
    if _IMPLICIT_STORE.fullmatch(mnem):
        return True
    if _READ_ONLY.fullmatch(mnem) or not ops:
        return False
    return "(" in last_operand(ops)


def ecx_value_before(insns, i):
    """The immediate last moved into ECX before insns[i] (scanning back), or None."""
    for _, mnem, ops in reversed(insns[:i]):
        if mnem in ("wrmsr", "rdmsr", "cpuid") or mnem.startswith("call"):
            return None  # ECX is not known across these
        if ops and _ECX.search(last_operand(ops)):
            m = re.fullmatch(r"\$0x([0-9a-f]+),%[er]?cx", ops)
            return int(m.group(1), 16) if m and mnem.startswith("mov") else None
    return None


def fence_problem(insns, i):
    """None if insns[i] (a WRMSR) follows MFENCE then LFENCE with no store between; else why."""
    seen_lfence = False
    for addr, mnem, ops in reversed(insns[:i]):
        if is_store(mnem, ops):
            return f"store `{mnem} {ops}` at {addr:#x} between the fences and the WRMSR"
        if mnem.startswith("j") or mnem.startswith("ret"):
            break  # left the straight-line block without finding both fences
        if mnem == "lfence" and not seen_lfence:
            seen_lfence = True
        elif mnem == "mfence":
            return None if seen_lfence else "MFENCE but no LFENCE between it and the WRMSR"
    return "no LFENCE before it" if not seen_lfence else "LFENCE but no MFENCE before it"


def icr_writes(funcs):
    """[(function, index)] of every WRMSR whose ECX is the x2APIC ICR."""
    return [(name, i) for name, insns in funcs.items() for i, (_, mnem, _) in enumerate(insns)
            if mnem == "wrmsr" and ecx_value_before(insns, i) == X2APIC_ICR_MSR]


@pytest.fixture(scope="module")
def funcs():
    elf = elf_path()
    if not elf.is_file():
        pytest.fail(f"{elf} missing: run `make` first", pytrace=False)
    return disassemble(elf)


def test_x2apic_icr_wrmsr_is_fenced(funcs):
    writes = icr_writes(funcs)
    assert writes, f"no WRMSR to MSR {X2APIC_ICR_MSR:#x} found (expected in {ICR_WRITER}())"
    problems = []
    for name, i in writes:
        why = fence_problem(funcs[name], i)
        if why:
            problems.append(f"{name}+{funcs[name][i][0] - funcs[name][0][0]:#x}: {why}")
    assert not problems, "x2APIC ICR write without `mfence; lfence` before it:\n  " + \
        "\n  ".join(problems)


def test_icr_writer_is_a_symbol(funcs):
    """The write lives in one noinline function, so the check above has one place to look."""
    assert ICR_WRITER in funcs, f"{ICR_WRITER}() is not a symbol (inlined?)"
    assert {name for name, _ in icr_writes(funcs)} == {ICR_WRITER}


# ---- the checker itself, on hand-written disassembly ----

def _insns(text):
    return [(n, *line.split(None, 1)) if " " in line else (n, line, "")
            for n, line in enumerate(text.strip().splitlines())]


def test_checker_accepts_fenced_write():
    insns = _insns("push %rbp\nmov %rsp,%rbp\nmfence\nlfence\nmov $0x830,%ecx\n"
                   "mov %esi,%eax\nwrmsr\npop %rbp\nret")
    assert ecx_value_before(insns, 6) == X2APIC_ICR_MSR
    assert fence_problem(insns, 6) is None


@pytest.mark.parametrize("text, why", [
    ("mov $0x830,%ecx\nmov %esi,%eax\nwrmsr", "no LFENCE"),
    ("mfence\nmov $0x830,%ecx\nwrmsr", "no LFENCE"),
    ("lfence\nmov $0x830,%ecx\nwrmsr", "no MFENCE"),
    ("lfence\nmfence\nmov $0x830,%ecx\nwrmsr", "no LFENCE"),
    ("mfence\nlfence\nmov %eax,0x8(%rbx)\nmov $0x830,%ecx\nwrmsr", "store"),
    ("mfence\nmovl $0x1,(%rdi)\nlfence\nmov $0x830,%ecx\nwrmsr", "store"),
    ("mfence\nlfence\nlock orq $0x1,(%rax)\nmov $0x830,%ecx\nwrmsr", "store"),
    ("mfence\nlfence\ncmpxchg %rdx,(%rdi)\nmov $0x830,%ecx\nwrmsr", "store"),
    ("mfence\nlfence\nbts %rdx,(%rdi)\nmov $0x830,%ecx\nwrmsr", "store"),
    ("mfence\nlfence\njne 10\nmov $0x830,%ecx\nwrmsr", "no LFENCE"),
])
def test_checker_rejects(text, why):
    insns = _insns(text)
    assert ecx_value_before(insns, len(insns) - 1) == X2APIC_ICR_MSR
    assert why in fence_problem(insns, len(insns) - 1)


def test_checker_ignores_other_msrs():
    insns = _insns("mov $0x80b,%ecx\nwrmsr\nmov $0x830,%eax\nmov %edx,%ecx\nwrmsr")
    assert ecx_value_before(insns, 1) == 0x80b
    assert ecx_value_before(insns, 4) is None
