"""Guest images built from Debian packages, for scripts/hvlab (the Hyper-V lab) and
scripts/linuxguest (the Linux peer): apt and dpkg, the shared .deb cache build/hvlab/debs and its
lock, and the busybox root both initramfs images start from. Nothing is installed: packages are
fetched with `apt-get download` and read with dpkg-deb."""

from __future__ import annotations

import fcntl
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

from .config import HVLAB_DIR
from .cpio import Cpio

META_PACKAGE = "linux-image-amd64"      # the kernel: the package this one depends on
BUSYBOX_PACKAGE = "busybox-static"
DEBS_DIR = HVLAB_DIR / "debs"           # the .deb cache, shared by both builders
DEBS_LOCK = HVLAB_DIR / ".lock"         # the lab's build lock, which guards the cache too
LOCK_WAIT_S = 900                       # another build in progress: wait at most this long
CMD_TIMEOUT_S = 600                     # any one external command


class BuildError(Exception):
    """A one-line reason why an image cannot be built."""


def last_line(text: str) -> str:
    """The line of a tool's output that says what went wrong (its last error line)."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    errs = [ln for ln in lines if ln.startswith(("E:", "error", "Error"))]
    return (errs or lines or ["(no output)"])[-1]


def run_tool(argv: List[str], what: str, cwd: Optional[Path] = None,
             timeout: float = CMD_TIMEOUT_S, env: Optional[dict] = None) -> str:
    """Run a tool; -> its stdout, or BuildError("what: its last error line")."""
    try:
        p = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                           env=env)
    except FileNotFoundError:
        raise BuildError(f"{what}: {argv[0]} not found")
    except subprocess.TimeoutExpired:
        raise BuildError(f"{what}: `{' '.join(argv)}` did not finish in {timeout:g} s")
    if p.returncode != 0:
        raise BuildError(f"{what}: {last_line(p.stderr + p.stdout)}")
    return p.stdout


def rel(p: Path) -> str:
    """A path as the user gave the working directory: relative to it when inside it."""
    try:
        return str(p.relative_to(Path.cwd()))
    except ValueError:
        return str(p)


# --------------------------------------------------------------------------------------------
# Packages


def apt_env() -> dict:
    return dict(os.environ, LC_ALL="C", LANG="C")


def candidate_versions(pkgs: List[str]) -> List[str]:
    """The version apt would install for each package (one apt-cache call)."""
    out = run_tool(["apt-cache", "policy"] + pkgs, "apt-cache policy", env=apt_env())
    found: Dict[str, str] = {}
    current = None
    for line in out.splitlines():
        m = re.match(r"^(\S+):$", line)
        if m:
            current = m.group(1)
            continue
        m = re.match(r"^\s+Candidate:\s*(\S+)", line)
        if m and current is not None:
            found.setdefault(current, m.group(1))
    versions = []
    for pkg in pkgs:
        ver = found.get(pkg)
        if ver is None or ver == "(none)":
            raise BuildError(f"package {pkg} has no installable version in the apt sources "
                             f"(run apt-get update?)")
        versions.append(ver)
    return versions


def kernel_package() -> str:
    """The versioned kernel package that linux-image-amd64 depends on."""
    out = run_tool(["apt-cache", "depends", META_PACKAGE], f"apt-cache depends {META_PACKAGE}",
                   env=apt_env())
    for line in out.splitlines():
        m = re.match(r"\s*\|?Depends:\s*(linux-image-\S+)", line)
        if m and not m.group(1).startswith("<"):
            return m.group(1)
    raise BuildError(f"{META_PACKAGE} depends on no linux-image-* package (apt-cache depends)")


def resolve_packages() -> List[Tuple[str, str]]:
    """[(kernel package, version), (busybox-static, version)]: what both images are made of."""
    pkgs = [kernel_package(), BUSYBOX_PACKAGE]
    return list(zip(pkgs, candidate_versions(pkgs)))


def deb_field(deb: Path, fieldname: str) -> str:
    return run_tool(["dpkg-deb", "-f", str(deb), fieldname], f"dpkg-deb -f {deb.name}").strip()


def _cached_deb(pkg: str, version: str) -> Optional[Path]:
    for deb in sorted(DEBS_DIR.glob(f"{pkg}_*.deb")):
        try:
            if deb_field(deb, "Package") == pkg and deb_field(deb, "Version") == version:
                return deb
        except BuildError:
            deb.unlink()  # a broken download
    return None


def fetch(pkg: str, version: str, say: Callable[[str], None]) -> Path:
    """The .deb of pkg=version in build/hvlab/debs, downloaded with apt-get when missing
    (hold DebsLock while calling this)."""
    DEBS_DIR.mkdir(parents=True, exist_ok=True)
    deb = _cached_deb(pkg, version)
    if deb is None:
        say(f"fetching {pkg} {version} (apt-get download)")
        try:
            run_tool(["apt-get", "download", "-q", f"{pkg}={version}"], "apt-get download",
                     cwd=DEBS_DIR, env=apt_env())
        except BuildError as e:
            raise BuildError(f"cannot fetch package {pkg}={version}: "
                             f"{str(e).split(': ', 1)[-1]}")
        deb = _cached_deb(pkg, version)
        if deb is None:
            raise BuildError(f"cannot fetch package {pkg}={version}: apt-get download left no "
                             f".deb")
    for old in DEBS_DIR.glob(f"{pkg}_*.deb"):
        if old != deb:
            old.unlink()  # other versions, once this one is here
    return deb


# --------------------------------------------------------------------------------------------
# Building


class BuildLock:
    """Concurrent builds serialize on a lock file (flock); waiting is announced once and
    given up after LOCK_WAIT_S."""

    def __init__(self, path: Path, what: str, say: Callable[[str], None]):
        self.path, self.what, self.say = path, what, say

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.f = open(self.path, "w")
        deadline = time.monotonic() + LOCK_WAIT_S
        announced = False
        while True:
            try:
                fcntl.flock(self.f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except BlockingIOError:
                if time.monotonic() > deadline:
                    self.f.close()
                    raise BuildError(f"another {self.what} holds {self.path} for more than "
                                     f"{LOCK_WAIT_S} s")
                if not announced:
                    self.say(f"waiting for another {self.what} to finish")
                    announced = True
                time.sleep(0.5)

    def __exit__(self, *exc):
        self.f.close()


def busybox_root(dirs: Tuple[str, ...], busybox: bytes, applets: List[str]) -> Cpio:
    """The start of an initramfs: these directories (/tmp sticky), /dev/console and /dev/null,
    and a static busybox with a symlink for each applet (made at build time)."""
    cpio = Cpio()
    for d in dirs:
        cpio.dir(d)
    cpio.dir("tmp", 0o1777)
    cpio.chardev("dev/console", 5, 1)
    cpio.chardev("dev/null", 1, 3, 0o666)
    cpio.file("bin/busybox", busybox, 0o755)
    for a in applets:
        if a != "busybox" and "/" not in a:
            cpio.symlink(f"bin/{a}", "busybox")
    return cpio
