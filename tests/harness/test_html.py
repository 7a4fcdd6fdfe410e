"""summary.html (scripts/benchlib/html.py, issue 20 item 5): one self-contained page beside
summary.md, every plot embedded, everything escaped, and rendered by headless Chromium (Debian's
`chromium`) into a screenshot that shows a table and a plot."""

import base64
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from benchlib import html, records
from harnesslib import built, tiny_results  # noqa: F401

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def chromium(tmp_path, *args):
    argv = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
            f"--user-data-dir={tmp_path / 'profile'}", *map(str, args)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=180)


def test_summary_html_is_self_contained(tiny_results):
    out, _ = tiny_results
    page = (out / "summary.html").read_text()
    plots = sorted((out / "plots").glob("*.png"))
    uris = re.findall(r'<img alt="[^"]*" src="([^"]+)"', page)
    assert plots and len(uris) == len(plots)
    for uri in uris:
        assert uri.startswith("data:image/png;base64,")
        assert base64.b64decode(uri.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    # Nothing to fetch: no other src, no stylesheet or script from elsewhere.
    assert not re.search(r'(src|href)="(?!data:)', page)
    for heading in ("Host", "Runs", "Shootdown latency", "Environment",
                    "Detection and confidence"):
        assert f">{heading}" in page, heading
    assert page.count("<table>") >= 4 and "tlbstorm-tcg-direct-v2-o1-r0" in page


def test_conformance_table_and_escaping():
    rec = records.Record("conformance", {"record": "conformance", "check": "flush<one>",
                                         "form": "a&b", "outcome": "fail",
                                         "detail": "<script>alert(1)</script>"},
                         records.Shape({}))
    lines = html.conformance_section([{"id": "run\"1", "_records": [rec]}])
    text = "\n".join(lines)
    assert "<h2>Conformance</h2>" in text and "<script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "flush&lt;one&gt;" in text
    assert "a&amp;b" in text and "run&quot;1" in text
    assert html.conformance_section([{"id": "r", "_records": []}]) == []
    md = "# T <x>\n\n| a | b |\n|---|---|\n| **<i>** | `c&d` |\n\n![p](plots/none.png)\n"
    body = "\n".join(html.markdown_to_html(md, Path("/nonexistent")))
    assert "<h1>T &lt;x&gt;</h1>" in body and "<strong>&lt;i&gt;</strong>" in body
    assert "<code>c&amp;d</code>" in body and "(plot plots/none.png missing)" in body


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian's `chromium`: "
                    "scripts/deps installs it); summary.html is not rendered")
def test_chromium_renders_a_table_and_a_plot(tiny_results, tmp_path):
    out, _ = tiny_results
    url = (out / "summary.html").resolve().as_uri()
    shot = tmp_path / "summary.png"
    p = chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,2000", url)
    assert p.returncode == 0 and shot.is_file(), p.stderr[-2000:]
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 50_000, len(png)
    assert struct.unpack(">II", png[16:24]) == (1200, 2000)
    dom = chromium(tmp_path, "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "<table>" in dom.stdout and "<td>" in dom.stdout
    assert re.search(r'<img [^>]*src="data:image/png;base64,', dom.stdout)
