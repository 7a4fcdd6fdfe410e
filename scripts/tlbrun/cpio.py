"""The one newc cpio writer (the initramfs format, Linux's Documentation/driver-api/
early-userspace/buffer-format.rst): deterministic archives for the Hyper-V lab, the Linux peer
and the per-run files of a lab boot."""

from __future__ import annotations

import gzip
import io
import stat
from pathlib import Path
from typing import BinaryIO, Dict, Tuple

NEWC_MAGIC = b"070701"
TRAILER = "TRAILER!!!"


class Cpio:
    """A deterministic newc archive: sorted entries, mtime 0, owner root; the parent
    directories of every entry are made as needed (mode 0755)."""

    def __init__(self):
        self.entries: Dict[str, Tuple[int, bytes, int]] = {}  # path -> (mode, data, rdev)

    def _parents(self, path: str) -> None:
        parts = path.strip("/").split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d not in self.entries:
                self.entries[d] = (stat.S_IFDIR | 0o755, b"", 0)

    def dir(self, path: str, mode: int = 0o755) -> None:
        self._parents(path)
        self.entries[path.strip("/")] = (stat.S_IFDIR | mode, b"", 0)

    def file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        self._parents(path)
        self.entries[path.strip("/")] = (stat.S_IFREG | mode, data, 0)

    def symlink(self, path: str, target: str) -> None:
        self._parents(path)
        self.entries[path.strip("/")] = (stat.S_IFLNK | 0o777, target.encode(), 0)

    def chardev(self, path: str, major: int, minor: int, mode: int = 0o600) -> None:
        self._parents(path)
        self.entries[path.strip("/")] = (stat.S_IFCHR | mode, b"", (major << 8) | minor)

    def size(self) -> int:
        return sum(len(d) for _, d, _ in self.entries.values())

    def write(self, out: BinaryIO, block: int = 1) -> int:
        """Write the archive, zero-padded to a multiple of block bytes; -> bytes written."""
        def header(ino, mode, size, rdev, name):
            nb = name.encode() + b"\0"
            fields = [ino, mode, 0, 0, 1, 0, size, 0, 0, rdev >> 8, rdev & 0xff, len(nb), 0]
            h = NEWC_MAGIC + b"".join(b"%08X" % f for f in fields) + nb
            return h + b"\0" * (-len(h) % 4)

        written = 0
        for ino, path in enumerate(sorted(self.entries), start=1):
            mode, data, rdev = self.entries[path]
            chunk = header(ino, mode, len(data), rdev, path) + data + b"\0" * (-len(data) % 4)
            out.write(chunk)
            written += len(chunk)
        trailer = header(0, 0, 0, 0, TRAILER)
        trailer += b"\0" * (-(written + len(trailer)) % block)
        out.write(trailer)
        return written + len(trailer)

    def to_bytes(self, block: int = 1) -> bytes:
        raw = io.BytesIO()
        self.write(raw, block)
        return raw.getvalue()

    def write_gzip(self, path: Path) -> int:
        """The archive gzip'd into path (gzip mtime 0, so byte for byte reproducible);
        -> its uncompressed size."""
        raw = io.BytesIO()
        self.write(raw)
        with open(path, "wb") as f:
            with gzip.GzipFile(filename="", mode="wb", fileobj=f, compresslevel=6, mtime=0) as gz:
                gz.write(raw.getbuffer())
        return raw.tell()


def cpio_newc(files: Dict[str, bytes]) -> bytes:
    """An uncompressed newc cpio archive of regular files (directories made as needed), padded
    to 512 bytes: it goes in front of another archive in a concatenated initramfs."""
    archive = Cpio()
    for path, data in files.items():
        archive.file(path, data)
    return archive.to_bytes(block=512)
