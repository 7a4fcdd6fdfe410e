"""Linux kernel modules for an initramfs without modprobe (busybox insmod): the modules a
kernel package holds, decompressed, with their dependencies in load order, read from each
module's ELF (.modinfo, .symtab) — and the appended signature removed from a patched one."""

from __future__ import annotations

import gzip
import lzma
import re
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from .debian import BuildError, last_line

MODULE_RE = re.compile(r"\.ko(\.(xz|zst|gz))?$")
SIG_MAGIC = b"~Module signature appended~\n"


def module_name(path: Path) -> str:
    name = path.name
    name = MODULE_RE.sub("", name)
    return name.replace("-", "_")


def module_bytes(path: Path) -> bytes:
    """The module, decompressed (busybox insmod does not decompress)."""
    data = path.read_bytes()
    if path.name.endswith(".ko.xz"):
        return lzma.decompress(data)
    if path.name.endswith(".ko.gz"):
        return gzip.decompress(data)
    if path.name.endswith(".ko.zst"):
        if shutil.which("zstd") is None:
            raise BuildError(f"{path.name} is zstd-compressed and zstd is not installed "
                             f"(zstd: scripts/deps)")
        p = subprocess.run(["zstd", "-dc", str(path)], capture_output=True, timeout=120)
        if p.returncode != 0:
            raise BuildError(f"zstd -d {path.name} failed: {last_line(p.stderr.decode())}")
        return p.stdout
    return data


def modinfo(data: bytes) -> Dict[str, List[str]]:
    """Fields of a module's .modinfo section ("key=value\\0" strings), parsed from the ELF."""
    if data[:4] != b"\x7fELF" or data[4] != 2:
        raise BuildError("module is not a 64-bit ELF")
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3a)

    def section(i):
        off = shoff + i * shentsize
        name, _type, _flags, _addr, offset, size = struct.unpack_from("<IIQQQQ", data, off)
        return name, offset, size

    _, stroff, _ = section(shstrndx)
    fields: Dict[str, List[str]] = {}
    for i in range(shnum):
        name, offset, size = section(i)
        end = data.index(b"\0", stroff + name)
        if data[stroff + name:end] == b".modinfo":
            for item in data[offset:offset + size].split(b"\0"):
                if b"=" in item:
                    k, v = item.decode(errors="replace").split("=", 1)
                    fields.setdefault(k, []).append(v)
    return fields


def elf_symbol(data: bytes, name: str) -> Optional[Tuple[int, int]]:
    """(file offset, size) of a symbol defined in a relocatable 64-bit ELF, from .symtab."""
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, _ = struct.unpack_from("<HHH", data, 0x3a)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize)
                for i in range(shnum)]
    for sh in sections:
        if sh[1] != 2:  # SHT_SYMTAB
            continue
        symoff, symsize, strtab = sh[4], sh[5], sections[sh[6]][4]
        for off in range(symoff, symoff + symsize, 24):
            st_name, _info, _other, shndx, value, size = struct.unpack_from("<IBBHQQ", data, off)
            end = data.index(b"\0", strtab + st_name)
            if data[strtab + st_name:end] == name.encode() and 0 < shndx < len(sections):
                return sections[shndx][4] + value, size
    return None


def strip_signature(data: bytes) -> bytes:
    """The module without its appended signature. A modified module must be unsigned: the
    kernel loads an unsigned module (tainting itself) unless signatures are enforced, but
    refuses one whose signature does not match."""
    if not data.endswith(SIG_MAGIC):
        return data
    sig_len, = struct.unpack_from(">I", data, len(data) - len(SIG_MAGIC) - 4)
    return data[:len(data) - len(SIG_MAGIC) - 12 - sig_len]


def resolve_modules(moddir: Path, wanted: List[str]) -> List[Tuple[str, bytes]]:
    """The wanted modules and their dependencies, in load order (dependencies first)."""
    index: Dict[str, Path] = {}
    for path in moddir.rglob("*.ko*"):
        if MODULE_RE.search(path.name):
            index.setdefault(module_name(path), path)
    builtin = set()
    bfile = moddir / "modules.builtin"
    if bfile.is_file():
        builtin = {module_name(Path(line.strip())) for line in bfile.read_text().splitlines()
                   if line.strip()}
    order: List[Tuple[str, bytes]] = []
    seen: Dict[str, bool] = {}

    def visit(name: str, chain: List[str]) -> None:
        name = name.replace("-", "_")
        if seen.get(name) is True:
            return
        if seen.get(name) is False:
            raise BuildError(f"module dependency cycle: {' -> '.join(chain + [name])}")
        if name in builtin:
            seen[name] = True
            return
        if name not in index:
            raise BuildError(f"module {name} (needed by {chain[-1] if chain else 'the lab'}) "
                             f"is not in the kernel package")
        seen[name] = False
        data = module_bytes(index[name])
        for dep in modinfo(data).get("depends", [""])[0].split(","):
            if dep:
                visit(dep, chain + [name])
        seen[name] = True
        order.append((name, data))

    for name in wanted:
        visit(name, [])
    return order
