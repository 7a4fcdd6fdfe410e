"""Property tests (hypothesis) of the harness's parsers of untrusted input: benchmark matrices
(scripts/benchlib/matrix.py) and Hyper-V serial captures (scripts/benchlib/importer.py). No QEMU.

  - any matrix file, text or bytes, TOML or JSON, either loads or raises MatrixError with one
    line naming the field or the syntax; never another exception;
  - a valid matrix, written out as TOML or JSON, loads back to the same fields and expands to
    exactly the configurations its lists cross to, minus its exclusions (and minus Linux guests
    on ISO firmware), each once;
  - any capture, bytes or lines of records, either imports or raises ImportError_ with one
    line; never another exception.

Examples are derandomized and capped (SETTINGS), so that a run is quick and repeatable; a
failure prints the smallest input hypothesis found, which then belongs in @example."""

import itertools
import json
import math
import random
import re
import tempfile
from pathlib import Path
from unittest import mock

from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

import test_report as synth
from benchlib import importer
from benchlib import matrix as mx

# Hypothesis's caches go to build/, not .hypothesis/ in the tree; database=None: no example
# database at all, so that every run tests the same inputs.
set_hypothesis_home_dir(str(synth.ROOT / "build" / "hypothesis"))
SETTINGS = settings(max_examples=200, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# What a MatrixError names: a field, or the file's syntax or shape.
MATRIX_MESSAGE = re.compile(r"field ['\"]|not valid (TOML|JSON)|not UTF-8|a matrix is a table"
                            r"|cannot read")


def one_line(message: str) -> bool:
    return bool(message) and not any(c in message for c in "\n\r\x0b\x0c\x1c\x1d\x1e\x85"
                                     "\u2028\u2029")


# ---- writing matrices: JSON, and TOML (no writer in the standard library) ----

def toml_string(s: str) -> str:
    """A TOML basic string: JSON's escapes are TOML's, except that TOML wants DEL escaped too and
    has no surrogates (ensure_ascii=False keeps non-ASCII characters as they are)."""
    return json.dumps(s, ensure_ascii=False).replace("\x7f", "\\u007f")


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return toml_string(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) \
            else repr(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{toml_string(k)} = {toml_value(x)}" for k, x in v.items()) + "}"
    return str(v)


def toml_text(data: dict) -> str:
    return "".join(f"{toml_string(k)} = {toml_value(v)}\n" for k, v in data.items())


def load(text, suffix: str):
    """load_matrix() on a file holding text (str or bytes)."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"m{suffix}"
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return mx.load_matrix(path)


def loads_or_matrix_error(text, suffix: str):
    try:
        m = load(text, suffix)
    except mx.MatrixError as e:
        assert one_line(str(e)), repr(str(e))
        assert MATRIX_MESSAGE.search(str(e)), repr(str(e))
        event(f"refused: {MATRIX_MESSAGE.search(str(e)).group(0)}")
        return None
    event("loaded")
    return m


# ---- any file ----

SCALARS = (st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats()
           | st.text(max_size=12) | st.sampled_from(["tcg", "kvm", "bios", "uefi", "remap", "gen2",
                                                     "ipi", "tiny", "", "direct", "linux"]))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)
KEYS = st.sampled_from(sorted(mx.FIELDS)) | st.text(max_size=10)


@SETTINGS
@given(text=st.text(max_size=300), suffix=st.sampled_from([".toml", ".json"]))
@example(text="[" * 5000, suffix=".json")
@example(text="a = " + "[" * 5000, suffix=".toml")
def test_any_text_loads_or_raises_matrix_error(text, suffix):
    loads_or_matrix_error(text, suffix)


@SETTINGS
@given(data=st.binary(max_size=200), suffix=st.sampled_from([".toml", ".json"]))
@example(data=b'name = "\xff"\n', suffix=".toml")
def test_any_bytes_load_or_raise_matrix_error(data, suffix):
    loads_or_matrix_error(data, suffix)


@SETTINGS
@given(data=st.dictionaries(KEYS, VALUES, max_size=8), as_json=st.booleans())
@example(data={"profile": []}, as_json=True)
@example(data={"a\nb": 1}, as_json=True)
@example(data={"exclude": [{"platform\n": "tcg"}]}, as_json=True)
def test_any_fields_load_or_raise_matrix_error(data, as_json):
    """Tables of known and unknown fields with values of every type, nested."""
    if as_json:
        text = json.dumps(data)
    else:  # TOML has no null, and its integers are 64-bit
        data = json.loads(json.dumps(data), parse_constant=float,
                          object_hook=lambda d: {k: v for k, v in d.items() if v is not None})
        text = toml_text(data)
    loads_or_matrix_error(text, ".json" if as_json else ".toml")


# ---- valid matrices ----

@st.composite
def valid_matrices(draw):
    def some(values, **kw):
        return draw(st.lists(st.sampled_from(values), min_size=1, max_size=len(values),
                             unique=True, **kw))

    firmware = some(mx.FIRMWARES)
    profiles = [""] + [p for p, (_, allowed) in mx.tlbrun.PROFILES.items()
                       if set(firmware) <= set(allowed)]
    m = {"name": draw(st.from_regex(mx.NAME_RE, fullmatch=True)),
         "platforms": some(list(mx.PLATFORMS)), "guests": some(mx.GUESTS), "firmware": firmware,
         "vcpus": draw(st.lists(st.integers(1, 512), min_size=1, max_size=3, unique=True)),
         "overcommit": draw(st.lists(st.sampled_from([1, 1.5, 2, 4, 64]), min_size=1, max_size=3,
                                     unique=True)),
         "backends": draw(st.lists(st.from_regex(mx.BACKEND_RE, fullmatch=True), min_size=1,
                                   max_size=3, unique=True)),
         "workloads": some(mx.WORKLOADS),
         "pages": draw(st.lists(st.integers(1, mx.MAX_PAGES), min_size=1, max_size=3, unique=True)),
         "iterations": draw(st.integers(1, 1000000)), "warmup": draw(st.integers(0, 1000000)),
         "repetitions": draw(st.integers(1, 3)), "timeout": draw(st.integers(10, 7200)),
         "memory": draw(st.integers(64, 65536)),
         "extra_cmdline": draw(st.from_regex(r"[a-z_=0-9 ,]{0,20}", fullmatch=True)),
         "profile": draw(st.sampled_from(profiles))}
    axes = {"guest": m["guests"], "platform": m["platforms"], "firmware": m["firmware"],
            "vcpus": m["vcpus"], "overcommit": m["overcommit"]}
    keys = st.lists(st.sampled_from(mx.EXCLUDE_KEYS), min_size=1, max_size=3, unique=True)
    m["exclude"] = [{k: draw(st.sampled_from(axes[k]) | st.lists(st.sampled_from(axes[k]),
                                                                 min_size=1))
                     for k in draw(keys)} for _ in range(draw(st.integers(0, 2)))]
    return m


def expected_configurations(m: dict) -> list:
    """The crossing, as expand() documents it, computed without it."""
    out = []
    for rep, platform, guest, fw, vcpus, oc in itertools.product(
            range(m["repetitions"]), m["platforms"], m["guests"], m["firmware"], m["vcpus"],
            m["overcommit"]):
        c = {"guest": guest, "platform": platform, "firmware": fw, "vcpus": vcpus,
             "overcommit": oc}
        excluded = any(all(c[k] in (v if isinstance(v, list) else [v]) for k, v in e.items())
                       for e in m["exclude"])
        if not excluded and not (guest == "linux" and fw != "direct"):
            out.append((guest, platform, fw, vcpus, float(oc), rep))
    return out


@SETTINGS
@given(m=valid_matrices(), as_json=st.booleans())
def test_valid_matrix_round_trips(m, as_json):
    text = json.dumps(m) if as_json else toml_text(m)
    got = load(text, ".json" if as_json else ".toml")
    for k in ("platforms", "guests", "firmware", "vcpus", "backends", "workloads", "pages",
              "iterations", "warmup", "repetitions", "timeout", "memory", "profile"):
        assert getattr(got, k) == m[k], k
    assert got.name == m["name"] and got.overcommit == [float(x) for x in m["overcommit"]]
    assert got.extra_cmdline == m["extra_cmdline"].strip()
    want = expected_configurations(m)
    assert len(want) <= (m["repetitions"] * len(m["platforms"]) * len(m["guests"])
                         * len(m["firmware"]) * len(m["vcpus"]) * len(m["overcommit"]))
    try:
        plan = mx.expand(got, available_cpus=[0, 1])
    except mx.MatrixError as e:
        assert not want and one_line(str(e))
        return
    seen = [(c["guest"], c["platform"], c["firmware"], c["vcpus"], c["overcommit"], c["rep"])
            for c in plan]
    assert sorted(seen) == sorted(want) and len(set(seen)) == len(seen)
    assert len({c["id"] for c in plan}) == len(plan)


# ---- Hyper-V captures ----

BASE_RECORDS = synth.tlbstorm_records(random.Random(7), "hvlab", 2)[:6]
VERDICT = "tlbstorm: verdict pass (exit 0)"
HOST = {"hostname": "h", "host_cpu": None, "host_cpus_online": 2, "host_cpus_available": 2,
        "host_hypervisor_flag": False, "host_kernel": "6.1", "host_os": None, "kvm_device": False,
        "qemu_version": None, "tlbstorm_revision": None, "python": "3", "started": "now"}


@st.composite
def record_lines(draw):
    """A record line: a real record, maybe broken (a field dropped or given another value),
    JSON of anything, or not JSON at all."""
    kind = draw(st.integers(0, 3))
    if kind == 0:
        rec = json.loads(json.dumps(draw(st.sampled_from(BASE_RECORDS))))
        key = draw(st.sampled_from(sorted(rec)))
        if draw(st.booleans()):
            del rec[key]
        else:
            rec[key] = draw(VALUES)
        return "TLBSTORM " + json.dumps(rec)
    if kind == 1:
        return "TLBSTORM " + json.dumps(draw(st.dictionaries(KEYS, VALUES, max_size=4)))
    if kind == 2:
        return "TLBSTORM " + draw(st.text(max_size=40))
    return draw(st.text(max_size=40) | st.sampled_from([VERDICT, "tlbstorm: verdict fail (exit 3)",
                                                       "\x1b[2J\x1b[HGNU GRUB", "TLBSTORM-PAUSE"]))


def captures():
    good = st.lists(st.sampled_from([json.dumps(r) for r in BASE_RECORDS]), min_size=1,
                    max_size=6).map(lambda rs: "".join(f"TLBSTORM {r}\r\n" for r in rs))
    lines = st.lists(record_lines(), max_size=8).map("\r\n".join)
    return (st.binary(max_size=300) | (lines | (good.map(lambda t: t + VERDICT))
                                       | st.tuples(good, lines).map("".join))
            .map(lambda t: t.encode("utf-8", "surrogatepass")))


def imports_or_import_error(data: bytes, generation: int, vcpus):
    with tempfile.TemporaryDirectory() as d, \
            mock.patch.object(importer, "host_environment", lambda: dict(HOST)):
        capture = Path(d) / "capture.log"
        capture.write_bytes(data)
        try:
            run = importer.import_hyperv(capture, Path(d) / "out", generation, vcpus, 1024)
        except importer.ImportError_ as e:
            assert one_line(str(e)), repr(str(e))
            return None, "refused: " + str(e).removeprefix(f"{capture}: ")[:20]
        assert run["config"]["platform"] == f"hyperv-gen{generation}"
        return run, "imported"


@SETTINGS
@given(data=captures(), generation=st.sampled_from([1, 2, 3]),
       vcpus=st.none() | st.integers(1, 4))
@example(data=b"TLBSTORM " + b"[" * 5000 + b"\n", generation=2, vcpus=None)
@example(data=b'TLBSTORM {"record": "boot", "a\\nb": 1}\n', generation=1, vcpus=None)
def test_any_capture_imports_or_raises_import_error(data, generation, vcpus):
    event(imports_or_import_error(data, generation, vcpus)[1])


def test_a_real_capture_imports():
    """The generator's valid captures do reach a successful import (the property above is not
    only ever exercising refusals)."""
    text = "".join(f"TLBSTORM {json.dumps(r)}\r\n" for r in BASE_RECORDS) + VERDICT
    run, _ = imports_or_import_error(text.encode(), 2, None)
    assert run is not None and run["outcome"] == "pass"
