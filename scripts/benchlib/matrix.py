"""Benchmark matrices: a small TOML (or JSON) file whose lists are crossed into configurations.

One configuration is one boot: (guest, platform, firmware, vCPUs, overcommit, repetition). The
backend, workload and range-size lists all run inside that boot, side by side, so they are
compared under the same conditions. docs/bench.md documents every field; `load_matrix()` checks
every one and names the bad field in its error."""

from __future__ import annotations

import json
import math
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import tlbrun  # scripts/ is on the path: scripts/bench runs from there, pytest.ini adds it

from . import records

# Harness platform -> (tlbrun platform, accelerator, CPU flags, hv flags). On the Hyper-V
# platforms kvm=off hides KVM's own CPUID leaves, as on a real Hyper-V host: with them Linux
# prefers KVM's paravirtual flush to Hyper-V's hypercalls (docs/linux.md), and both guests should
# see the same hypervisor. hvlab-kvm is the lab without Hyper-V emulation: its KVM (on SVM, which
# marks descheduled vCPUs preempted) with KVM's own paravirtual flush and IPI.
PLATFORMS = {
    "tcg": ("qemu", "tcg", "", None),                    # QEMU's software emulation
    "kvm": ("qemu", "kvm", "", None),                    # this host's KVM
    "hvlab": ("hvlab", "kvm", ",kvm=off", None),         # the Hyper-V lab (docs/hvlab.md)
    "hvlab-kvm": ("hvlab", "kvm", "", "none"),           # the lab's KVM, its own interface
    # hvlab-kvm's twin without the paravirtual flush and IPI, for the Linux peer (which cannot
    # switch its flush within a boot). Hyper-V's twin (no hv-tlbflush, hv-ipi) is not offered:
    # Linux printed nothing in it for 5 minutes in the lab (docs/hvlab.md).
    "hvlab-kvm-nopv": ("hvlab", "kvm", ",-kvm-pv-tlb-flush,-kvm-pv-ipi", "none"),
    "kvm-hyperv": ("host-kvm-hyperv", "kvm", ",kvm=off", None),  # this host's KVM as Hyper-V
}
LAB_PLATFORMS = ("hvlab", "hvlab-kvm", "hvlab-kvm-nopv")
GUESTS = ("tlbstorm", "linux")
FIRMWARES = ("direct", "bios", "uefi")
# tlbstorm's workloads, and what the Linux peer runs for each (docs/linux.md): the schema's.
WORKLOADS = records.WORKLOADS
MAX_PAGES = records.MAX_PAGES
LINUX_OPS = records.LINUX_OPS
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
BACKEND_RE = re.compile(r"^[a-z][a-z0-9-]{0,31}$")

FIELDS = {
    # field: (type description, default)
    "name": ("a name of letters, digits, '.', '_' or '-'", None),
    "description": ("text", ""),
    "platforms": (f"a list of {', '.join(PLATFORMS)}", ["tcg"]),
    "guests": (f"a list of {', '.join(GUESTS)}", ["tlbstorm"]),
    "firmware": (f"a list of {', '.join(FIRMWARES)}", ["direct"]),
    "vcpus": ("a list of vCPU counts (1..512)", [2]),
    "overcommit": ("a list of numbers >= 1 (vCPUs per host CPU)", [1]),
    "backends": ("a list of tlbstorm backend names (auto, all, ipi, hv-flush, kvm-flush, ...)",
                 ["auto"]),
    "workloads": (f"a list of {', '.join(WORKLOADS)}", [WORKLOADS[0]]),   # remap
    "pages": (f"a list of page counts (1..{MAX_PAGES})", [1]),
    "iterations": ("a whole number (1..1000000)", 300),
    "warmup": ("a whole number (0..1000000)", 20),
    "repetitions": ("a whole number (1..100)", 1),
    "timeout": ("seconds per boot (10..7200)", 300),
    "memory": ("MiB of guest RAM (64..65536)", 512),
    "extra_cmdline": ("text appended to tlbstorm's command line", ""),
    "profile": ("gen1, gen2, or \"\" for none: the machine of every boot (scripts/run --profile)",
                ""),
    "exclude": ("a list of tables of field = value (or list of values)", []),
}
EXCLUDE_KEYS = ("guest", "platform", "firmware", "vcpus", "overcommit")


class MatrixError(Exception):
    """A one-line description of what is wrong with a matrix, naming the field."""


@dataclass
class Matrix:
    name: str
    description: str
    platforms: List[str]
    guests: List[str]
    firmware: List[str]
    vcpus: List[int]
    overcommit: List[float]
    backends: List[str]
    workloads: List[str]
    pages: List[int]
    iterations: int
    warmup: int
    repetitions: int
    timeout: int
    memory: int
    extra_cmdline: str
    profile: str = ""
    exclude: List[Dict[str, list]] = field(default_factory=list)
    source: Optional[Path] = None
    text: str = ""


def _where(path: Optional[Path]) -> str:
    return f"{path}: " if path else ""


def _list(name: str, value: Any, kind, check, desc: str, where: str) -> list:
    if not isinstance(value, list):
        value = [value]
    if not value:
        raise MatrixError(f"{where}field '{name}' is empty: expected {desc}")
    out = []
    for v in value:
        if kind is int and (isinstance(v, bool) or not isinstance(v, int)):
            raise MatrixError(f"{where}field '{name}': {v!r} is not a whole number "
                              f"(expected {desc})")
        if kind is float and (isinstance(v, bool) or not isinstance(v, (int, float))):
            raise MatrixError(f"{where}field '{name}': {v!r} is not a number (expected {desc})")
        if kind is str and not isinstance(v, str):
            raise MatrixError(f"{where}field '{name}': {v!r} is not a string (expected {desc})")
        if not check(v):
            raise MatrixError(f"{where}field '{name}': {v!r} is not valid (expected {desc})")
        if v in out:
            raise MatrixError(f"{where}field '{name}': {v!r} is listed twice")
        out.append(kind(v))
    return out


def _int(name: str, value: Any, lo: int, hi: int, desc: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise MatrixError(f"{where}field '{name}': {value!r} is not valid (expected {desc})")
    return value


def parse_matrix(data: Dict[str, Any], source: Optional[Path] = None, text: str = "") -> Matrix:
    where = _where(source)
    if not isinstance(data, dict):
        raise MatrixError(f"{where}a matrix is a table of fields")
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        # repr: a key is any string, a newline included, and the message is one line
        raise MatrixError(f"{where}unknown field {unknown[0]!r} (valid fields: "
                          f"{', '.join(FIELDS)})")
    get = lambda k: data.get(k, FIELDS[k][1])  # noqa: E731
    desc = lambda k: FIELDS[k][0]  # noqa: E731

    name = get("name") or (source.stem if source else None)
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise MatrixError(f"{where}field 'name': {name!r} is not valid (expected {desc('name')})")
    description = get("description")
    if not isinstance(description, str):
        raise MatrixError(f"{where}field 'description': expected text")
    extra = get("extra_cmdline")
    if not isinstance(extra, str) or "'" in extra or "\n" in extra:
        raise MatrixError(f"{where}field 'extra_cmdline': expected one line of text without "
                          f"single quotes")
    m = Matrix(
        name=name, description=description,
        platforms=_list("platforms", get("platforms"), str, lambda v: v in PLATFORMS,
                        desc("platforms"), where),
        guests=_list("guests", get("guests"), str, lambda v: v in GUESTS, desc("guests"), where),
        firmware=_list("firmware", get("firmware"), str, lambda v: v in FIRMWARES,
                       desc("firmware"), where),
        vcpus=_list("vcpus", get("vcpus"), int, lambda v: 1 <= v <= 512, desc("vcpus"), where),
        overcommit=_list("overcommit", get("overcommit"), float,
                         lambda v: 1 <= v <= 64 and math.isfinite(v), desc("overcommit"), where),
        backends=_list("backends", get("backends"), str, lambda v: bool(BACKEND_RE.match(v)),
                       desc("backends"), where),
        workloads=_list("workloads", get("workloads"), str, lambda v: v in WORKLOADS,
                        desc("workloads"), where),
        pages=_list("pages", get("pages"), int, lambda v: 1 <= v <= MAX_PAGES, desc("pages"), where),
        iterations=_int("iterations", get("iterations"), 1, 1000000, desc("iterations"), where),
        warmup=_int("warmup", get("warmup"), 0, 1000000, desc("warmup"), where),
        repetitions=_int("repetitions", get("repetitions"), 1, 100, desc("repetitions"), where),
        timeout=_int("timeout", get("timeout"), 10, 7200, desc("timeout"), where),
        memory=_int("memory", get("memory"), 64, 65536, desc("memory"), where),
        extra_cmdline=extra.strip(), source=source, text=text)
    m.exclude = _excludes(get("exclude"), where)
    m.profile = _profile(get("profile"), m.firmware, where)
    return m


def _profile(value: Any, firmware: List[str], where: str) -> str:
    """The machine profile, checked against the firmware list (Generation 2 boots UEFI only)."""
    if value == "":
        return ""
    if not isinstance(value, str) or value not in tlbrun.PROFILES:  # a list is unhashable
        raise MatrixError(f"{where}field 'profile': {value!r} is not valid (expected "
                          f"{FIELDS['profile'][0]})")
    allowed = tlbrun.PROFILES[value][1]
    bad = [fw for fw in firmware if fw not in allowed]
    if bad:
        raise MatrixError(f"{where}field 'profile': {value} boots with firmware "
                          f"{' or '.join(allowed)}, not {bad[0]} (field 'firmware')")
    return value


def _excludes(value: Any, where: str) -> List[Dict[str, list]]:
    if not isinstance(value, list) or not all(isinstance(e, dict) for e in value):
        raise MatrixError(f"{where}field 'exclude': expected {FIELDS['exclude'][0]}")
    out = []
    for i, e in enumerate(value):
        bad = sorted(set(e) - set(EXCLUDE_KEYS))
        if bad or not e:
            raise MatrixError(f"{where}field 'exclude[{i}]': "
                              + (f"unknown key {bad[0]!r}" if bad else "empty table")
                              + f" (keys: {', '.join(EXCLUDE_KEYS)})")
        out.append({k: v if isinstance(v, list) else [v] for k, v in e.items()})
    return out


def load_matrix(path: Path) -> Matrix:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise MatrixError(f"{path}: cannot read: {e.strerror}")
    except UnicodeDecodeError as e:
        raise MatrixError(f"{path}: not UTF-8 text (byte {e.start})")
    try:
        if path.suffix == ".json":
            data = json.loads(text)
        else:
            data = tomllib.loads(text)
    # Both parsers recurse: deep enough nesting ends in RecursionError, not a parse error.
    except (ValueError, RecursionError, tomllib.TOMLDecodeError) as e:
        raise MatrixError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'TOML'}: "
                          f"{e}")
    return parse_matrix(data, path, text)


# ---------------------------------------------------------------------------------------------
# Expansion


def host_cpus_for(vcpus: int, overcommit: float, available: List[int]) -> List[int]:
    """The host CPUs QEMU is pinned to: enough for `overcommit` vCPUs per host CPU, at most all
    of those available (the effective overcommit is then higher: it is recorded)."""
    want = max(1, math.ceil(vcpus / overcommit))
    return sorted(available)[:min(want, len(available))]


def config_id(c: Dict[str, Any]) -> str:
    oc = f"{c['overcommit']:g}".replace(".", "p")
    return f"{c['guest']}-{c['platform']}-{c['firmware']}-v{c['vcpus']}-o{oc}-r{c['rep']}"


def guest_cmdline(m: Matrix, guest: str) -> str:
    """The benchmark command line: tlbstorm's options, or the Linux peer's (which takes the
    same workload, pages, iters and warmup options; Linux chooses its own flush mechanism)."""
    common = (f"workload={','.join(m.workloads)} pages={','.join(map(str, m.pages))} "
              f"iters={m.iterations} warmup={m.warmup}")
    if guest == "linux":
        return common
    return f"backend={','.join(m.backends)} {common} {m.extra_cmdline}".strip()


def _excluded(m: Matrix, c: Dict[str, Any]) -> bool:
    return any(all(c[k] in vals for k, vals in e.items()) for e in m.exclude)


def expand(m: Matrix, available_cpus: Optional[List[int]] = None) -> List[Dict[str, Any]]:
    """Every configuration, in run order: repetitions outermost, so that drift over time is
    spread across configurations instead of landing on one of them. Linux guests boot only
    directly (-kernel), so they appear once per firmware-independent configuration."""
    cpus = sorted(available_cpus if available_cpus is not None else os.sched_getaffinity(0))
    plan = []
    for rep in range(m.repetitions):
        for platform in m.platforms:
            for guest in m.guests:
                for fw in m.firmware:
                    if guest == "linux" and fw != "direct":
                        continue
                    for vcpus in m.vcpus:
                        for oc in m.overcommit:
                            host = host_cpus_for(vcpus, oc, cpus)
                            c = {"guest": guest, "platform": platform, "firmware": fw,
                                 "vcpus": vcpus, "overcommit": oc, "rep": rep}
                            if _excluded(m, c):
                                continue
                            c.update({
                                "host_cpus": host,
                                "effective_overcommit": round(vcpus / len(host), 3),
                                "memory": m.memory, "timeout": m.timeout,
                                "profile": m.profile,
                                "backends": ["linux"] if guest == "linux" else m.backends,
                                "workloads": ([LINUX_OPS[w] for w in m.workloads]
                                              if guest == "linux" else m.workloads),
                                "pages": m.pages, "iterations": m.iterations,
                                "warmup": m.warmup, "cmdline": guest_cmdline(m, guest)})
                            c["id"] = config_id(c)
                            plan.append(c)
    if not plan:
        raise MatrixError(f"{_where(m.source)}the matrix has no configuration left (every "
                          f"combination is excluded, or Linux guests with only ISO firmware)")
    return plan
