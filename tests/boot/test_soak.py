"""`make soak`'s cut for `make check`: scripts/soak under TCG with a small target reaches it with
the oracle clean and detection shown, and reports per backend; a platform that cannot run is
skipped with its reason; bad options are usage errors. (The full soak, 10^6 per backend on every
platform, is `make soak`, docs/soak.md.)"""

import json
import subprocess
import sys

import pytest

from conftest import ROOT

pytestmark = [pytest.mark.boot]
SOAK = [sys.executable, str(ROOT / "scripts" / "soak")]


def test_tcg_cut(built, tmp_path):
    p = subprocess.run(SOAK + ["--platforms", "tcg", "--target", "30000", "--chunk", "6000",
                               "--minutes", "5", "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr[-2000:]
    rep = json.loads((tmp_path / "report.json").read_text())
    (t,) = rep["backends"]
    assert (t["platform"], t["backend"], t["error"], t["violations"]) == ("tcg", "ipi", None, 0), t
    assert t["reached"] and t["shootdowns"] >= 30000 and t["boots"] == 2, t
    assert t["checks"] > t["shootdowns"] and t["shown"], t
    assert "| tcg | ipi | 2 | " in p.stdout and "target reached" in p.stdout, p.stdout


def test_usage(tmp_path):
    p = subprocess.run(SOAK + ["--platforms", "tcg,vax", "--out", str(tmp_path)], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 2 and "unknown platform 'vax'" in p.stderr, p.stderr
