"""Screendumps: the header and completeness of the binary PPM (P6) files QEMU writes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import List, Optional, Tuple


def ppm_info(path: Path) -> Optional[Tuple[int, int, int, int]]:
    """(width, height, maxval, data offset) of a binary PPM (P6), None if the header is not
    complete or not P6."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
    except OSError:
        return None
    fields: List[bytes] = []
    i = 0
    while len(fields) < 4:
        while i < len(head) and head[i:i + 1].isspace():
            i += 1
        if i < len(head) and head[i:i + 1] == b"#":
            while i < len(head) and head[i:i + 1] not in (b"\n", b"\r"):
                i += 1
            continue
        j = i
        while j < len(head) and not head[j:j + 1].isspace():
            j += 1
        if j >= len(head):
            return None
        fields.append(head[i:j])
        i = j
    if fields[0] != b"P6" or not all(x.isdigit() for x in fields[1:]):
        return None
    return int(fields[1]), int(fields[2]), int(fields[3]), i + 1


def ppm_complete(path: Path) -> bool:
    info = ppm_info(path)
    if info is None:
        return False
    w, h, maxval, off = info
    size = off + w * h * (3 if maxval < 256 else 6)
    try:
        return os.path.getsize(path) >= size
    except OSError:
        return False

