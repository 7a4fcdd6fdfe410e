"""Shared helpers for the end-to-end boot tests (run: /usr/bin/python3 -m pytest tests/boot)."""

import json
import os
import re
from pathlib import Path

import pytest

import tlbrun  # scripts/tlbrun/ (pytest.ini: pythonpath = scripts)

ROOT = Path(__file__).resolve().parents[2]

LOG_DIR = ROOT / "build" / "logs" / "boot-tests"
SCHEMA = ROOT / "docs" / "records.schema.json"
_validator = None


def schema_errors(records):
    """Every record checked against docs/records.schema.json: a list of readable problems."""
    global _validator
    if _validator is None:
        import jsonschema  # Debian's python3-jsonschema (scripts/deps installs it)
        schema = json.loads(SCHEMA.read_text())
        _validator = jsonschema.Draft202012Validator(schema)
    problems = []
    for rec in records:
        for err in _validator.iter_errors(rec):
            where = "/".join(str(p) for p in err.absolute_path)
            problems.append(f"{rec.get('record')} record, at '{where}': {err.message}")
    return problems


def pytest_configure(config):
    config.addinivalue_line("markers", "boot: boots the kernel under QEMU (needs `make`)")
    config.addinivalue_line("markers", "kvm: needs a usable /dev/kvm (skipped otherwise)")
    config.addinivalue_line("markers", "hyperv: runs in the Hyper-V lab (skipped where it cannot be built)")
    config.addinivalue_line("markers", "detection: shows the oracle's detection power (negative controls)")
    for marker, (env, target, what) in LONG_SUITES.items():
        config.addinivalue_line("markers", f"{marker}: {what} (`make {target}`; {env}=1), skipped otherwise")


# Suites too slow (or, in the lab, too exposed to its failures) for `make check`, each with a make
# target of its own that sets its variable; `make check` runs a representative cut of each.
LONG_SUITES = {
    "detection_full": ("TLBSTORM_DETECTION_FULL", "detection-tests", "the whole detection matrix"),
    "overcommit_full": ("TLBSTORM_OVERCOMMIT_FULL", "overcommit-tests",
                        "the lab at 2x overcommit and above, many boots"),
}


def pytest_collection_modifyitems(config, items):
    for marker, (env, target, what) in LONG_SUITES.items():
        if os.environ.get(env) == "1":
            continue
        skip = pytest.mark.skip(reason=f"{what}: runs with `make {target}`")
        for item in items:
            if marker in item.keywords:
                item.add_marker(skip)


def _log_name(nodeid: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid.split("::", 1)[-1]).strip("_") + ".log"


def describe(res: "tlbrun.RunResult", tail: int = 25) -> str:
    """A failure message: the summary, warnings, QEMU's stderr and the end of the serial log."""
    parts = [res.summary or f"status {res.status}"]
    if res.error:
        parts.append(f"error: {res.error}")
    parts += [f"warning: {w}" for w in res.warnings]
    if res.qemu_stderr.strip():
        parts.append("QEMU stderr:\n" + res.qemu_stderr.rstrip())
    if res.lines:
        parts.append("serial (last lines):\n  " + "\n  ".join(res.lines[-tail:]))
    parts.append("argv: " + " ".join(res.qemu_argv))
    return "\n".join(parts)


def run_boot(log_name: str, **overrides) -> "tlbrun.RunResult":
    """Boot one configuration quietly (TCG unless accel is given) and return the RunResult.
    The serial log goes to build/logs/boot-tests/<log_name>; build/logs/last.log is left alone."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    settings = dict(accel="tcg", quiet=True, timeout=60, update_last_log=False,
                    log=str(LOG_DIR / log_name))
    settings.update(overrides)
    res = tlbrun.run(tlbrun.RunConfig(**settings))
    # Every boot doubles as a check of the record contract.
    # A record cut off by the timeout is the timeout's symptom (the runner warns of it), and the
    # test's own assertion on the status says so better than the schema would.
    bad = res.bad_records[:-1] if res.timed_out else res.bad_records
    problems = schema_errors(res.records) + [f"unparseable record line: {b}" for b in bad]
    assert not problems, "records break docs/records.schema.json:\n  " + "\n  ".join(problems[:10])
    return res


@pytest.fixture
def boot(request):
    """boot(**RunConfig fields) -> RunResult, logged under the test's name."""
    count = [0]

    def _boot(**overrides):
        count[0] += 1
        name = _log_name(request.node.nodeid)
        if count[0] > 1:
            name = name[:-4] + f"-{count[0]}.log"
        return run_boot(name, **overrides)
    return _boot


@pytest.fixture(scope="session")
def built():
    """The kernel images exist (else fail with the hint to run make)."""
    missing = [p for p in (ROOT / tlbrun.DEFAULT_ELF, ROOT / tlbrun.DEFAULT_ISO) if not p.is_file()]
    if missing:
        pytest.fail(f"{', '.join(str(p) for p in missing)} missing: run `make` first",
                    pytrace=False)


@pytest.fixture(scope="session")
def kvm_usable():
    ok, reason = tlbrun.probe_kvm()
    if not ok:
        pytest.skip(f"KVM not usable: {reason}")
