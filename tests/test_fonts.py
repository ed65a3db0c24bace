"""A server without the watermark fonts (an operator who skipped ./setup.sh's font packages):
text watermarks answer an OSS XML error naming the Debian package, `edge serve` warns once at
start-up, `/readyz` lists the missing packages and stays ready. With the fonts installed (as
./setup.sh leaves a machine), nothing is listed."""

from __future__ import annotations

import base64
import os

import pytest
import requests

from conftest import ROOT, edge_running, free_port
from edge import fonts


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.fixture(scope="module")
def fontless(tmp_path_factory, samples):
    """`edge serve` whose processes (server and workers) look for fonts in an empty folder."""
    tmp = tmp_path_factory.mktemp("fontless")
    (tmp / "empty").mkdir()
    # Imported by every Python process started with this PYTHONPATH, the workers included.
    (tmp / "sitecustomize.py").write_text(f"import edge.fonts\nedge.fonts.FONT_DIRS = ({str(tmp / 'empty')!r},)\n")
    port = free_port()
    config = tmp / "edge.toml"
    config.write_text(f'[server]\nport = {port}\nworkers = 1\n[buckets.test]\nsource = "file://{samples}"\n')
    log = tmp / "edge.log"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp), str(ROOT)]))
    with edge_running(["serve", "--config", str(config)], port, log, env):
        yield f"http://127.0.0.1:{port}", log


def test_a_text_watermark_without_its_font_names_the_package(fontless):
    base, _ = fontless
    process = f"image/watermark,text_{b64('你好 edge')},type_{b64('fangzhengkaiti')}"
    response = requests.get(f"{base}/test/photo.jpg", params={"x-oss-process": process}, timeout=60)
    assert response.status_code == 500
    assert response.headers["Content-Type"].startswith("application/xml")
    assert "<Code>InternalError</Code>" in response.text
    assert "the font fangzhengkaiti is not installed" in response.text
    assert "Debian package fonts-arphic-ukai" in response.text and "./setup.sh" in response.text
    assert response.headers["x-oss-request-id"] in response.text


def test_everything_else_still_works_without_fonts(fontless):
    base, _ = fontless
    logo = b64("alpha.png")
    for process in ("image/resize,w_100/format,webp", f"image/watermark,image_{logo}"):
        response = requests.get(f"{base}/test/photo.jpg", params={"x-oss-process": process}, timeout=60)
        assert response.status_code == 200, response.text


def test_start_up_warns_once_per_missing_package(fontless):
    _, log = fontless
    warnings = [line for line in log.read_text().splitlines() if line.startswith("edge: warning:")]
    packages = sorted({package for _, package in fonts.FONTS.values()})
    assert len(warnings) == len(packages)
    for package in packages:
        assert sum(package in line for line in warnings) == 1, warnings


def test_readyz_lists_missing_fonts_and_stays_ready(fontless):
    base, _ = fontless
    response = requests.get(base + "/readyz", timeout=10)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready" and body["problems"] == []
    assert any("fonts-wqy-zenhei" in warning and "wqy-zenhei" in warning for warning in body["warnings"])


def test_with_the_fonts_installed_nothing_is_missing(server):
    assert fonts.problems() == [], "run ./setup.sh: it installs the watermark fonts"
    assert server.get("/readyz").json()["warnings"] == []
