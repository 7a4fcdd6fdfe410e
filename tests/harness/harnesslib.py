"""Shared pieces of the harness tests (scripts/bench): tiny matrices run under TCG.

Not a conftest.py: tests/boot has one, and pytest imports every conftest.py as the module
`conftest`, so a second one would shadow the helpers the boot tests import from theirs. The test
modules import the fixtures from here."""

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "scripts" / "bench"

# Small enough that one boot takes about a second under TCG on a 2-core host.
TINY = """
name = "tiny"
platforms = ["tcg"]
guests = ["tlbstorm"]
vcpus = [2, 3]
backends = ["ipi"]
workloads = ["remap", "protect"]
pages = [1, 16]
iterations = 60
warmup = 5
repetitions = 2
timeout = 120
"""


def bench(*args, timeout=900):
    """scripts/bench as a user runs it: -> CompletedProcess (text)."""
    return subprocess.run(["/usr/bin/python3", str(BENCH), *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def built():
    elf = ROOT / "build" / "tlbstorm.elf"
    if not elf.is_file():
        pytest.fail(f"{elf} missing: run `make` first", pytrace=False)


@pytest.fixture
def tiny_matrix(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    return path


@pytest.fixture(scope="session")
def tiny_results(tmp_path_factory, built):
    """One complete run of the tiny matrix, shared by the tests that only read it."""
    d = tmp_path_factory.mktemp("tiny")
    matrix = d / "tiny.toml"
    matrix.write_text(TINY)
    out = d / "results"
    p = bench("run", matrix, "--out", out)
    assert p.returncode == 0, p.stdout + p.stderr
    return out, p
