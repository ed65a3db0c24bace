"""The demo, as a newcomer meets it: `edge serve` with no config and a fresh home folder makes
the demo bucket and prints a URL for every feature. Every printed URL answers 200 with the
content type it promises, the printed curl line (upscale API) and oss2 line (saveas) run as
printed, and the answers are what they say (a WebP is a WebP of the asked size...)."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess

import pillow_heif
import pytest
import requests
from PIL import Image

from conftest import ROOT, edge_running, free_port

URL = re.compile(r"http://127\.0\.0\.1:\d+/\S*")
pillow_heif.register_heif_opener()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """`edge serve --port <free>` with HOME in a new folder: (base URL, printed banner, home)."""
    home = tmp_path_factory.mktemp("home")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_") and k != "XDG_CACHE_HOME"}
    env.update(HOME=str(home), PYTHONPATH=str(ROOT))
    log = home / "edge.log"
    with edge_running(["serve", "--port", str(port)], port, log, env, cwd=home):
        yield f"http://127.0.0.1:{port}", log.read_text(), home, env


def printed_commands(banner: str) -> dict[str, str]:
    """The printed command lines by their program: {"curl": ..., "python": ...}."""
    commands = {}
    for line in banner.splitlines():
        words = line.split()
        if words and words[0] == "curl":
            commands["curl"] = line.strip()
        elif words and os.path.basename(words[0]).startswith("python"):
            commands["python"] = line.strip()
    return commands


def printed_urls(banner: str) -> list[str]:
    """Every URL of the banner outside the command lines, in order."""
    commands = printed_commands(banner).values()
    urls = []
    for line in banner.splitlines():
        if line.strip() not in commands:
            urls += [url for url in URL.findall(line) if url not in urls]
    return urls


def expected_type(url: str) -> str:
    """The content type the URL promises, read from the URL as a newcomer would."""
    path = url.split("/", 3)[3]
    if path in ("healthz", "readyz") or re.search(r"image/(info|average-hue)$", path):
        return "application/json"
    if path == "metrics":
        return "text/plain"
    if path == "_edge/console":
        return "text/html"
    if path.startswith("j2h/"):
        return "image/heic"
    for pattern, kind in ((r"format[,/](\w+)$", None), (r"@[^?]*\.(\w+)$", None), (r"f_(\w+)", None),
                          (r"(thumb)$", "png"), (r"style/thumb$", "png")):
        found = re.search(pattern, path)
        if found:
            kind = kind or found[1]
            return {"jpg": "image/jpeg", "auto": "image/avif"}.get(kind, f"image/{kind}")
    if path.endswith(".mp4"):
        return "video/mp4"
    if re.search(r"\.jpg(\?|$)", path):
        return "image/jpeg"
    if path.endswith(".webp") or "animated" in path:
        return "image/webp"
    raise AssertionError(f"no rule says what {url} answers")


def test_the_banner_shows_every_feature(demo):
    _, banner, _, _ = demo
    urls = " ".join(printed_urls(banner))
    for feature in ("x-oss-process=image/resize", "style/thumb", "photo.jpg@!thumb", "photo.jpg-thumb",
                    "photo.jpg_thumb", "photo.jpg/thumb", "photo.jpg!thumb", "@200w_200h_1e_1c", "imageMogr2/",
                    "watermark,image_", "watermark,text_", "format,auto", "image/info", "video/snapshot",
                    "/j2h/", "/g2w/", "/metrics", "/healthz", "/readyz"):
        assert feature in urls, feature
    assert set(printed_commands(banner)) == {"curl", "python"}
    assert "3d0c5cb04a3a4795aa2f8341f84c4984" in banner and "LTAI5tExampleKeyId" in banner
    assert "warning" not in banner, "with ./setup.sh's fonts installed, start-up warns of nothing"


def test_the_printed_saveas_line_saves(demo):
    base, banner, home, env = demo
    line = printed_commands(banner)["python"]
    result = subprocess.run(["bash", "-c", line], cwd=home, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    saved = requests.get(f"{base}/demo/photo-300.webp", timeout=30)
    assert saved.status_code == 200 and saved.headers["Content-Type"] == "image/webp"
    assert Image.open(io.BytesIO(saved.content)).size[0] == 300


def test_the_printed_upscale_line_upscales(demo):
    _, banner, home, env = demo
    line = printed_commands(banner)["curl"]
    result = subprocess.run(["bash", "-c", line], cwd=home, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["status"] == 200 and answer["data"]["state"] == 1, answer
    image = requests.get(answer["data"]["image"], timeout=30)
    assert image.status_code == 200 and image.headers["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(image.content)).size == (1024, 1024)  # the 512 px logo, x2


def test_every_printed_url_answers_what_it_promises(demo):
    base, banner, home, env = demo
    subprocess.run(["bash", "-c", printed_commands(banner)["python"]], cwd=home, env=env, check=True, timeout=60)
    urls = printed_urls(banner)
    assert len(urls) >= 30
    failures, report = [], []
    for url in urls:
        accept = "image/avif,image/webp,*/*" if "format,auto" in url else "*/*"
        response = requests.get(url, headers={"Accept": accept}, timeout=60)
        kind = response.headers.get("Content-Type", "").split(";")[0]
        report.append(f"{response.status_code} {kind:16} {len(response.content):8} {url}")
        if response.status_code != 200 or kind != expected_type(url):
            failures.append(report[-1] + f"  (expected 200 {expected_type(url)})\n{response.text[:300]}")
        elif kind.startswith("image/"):
            Image.open(io.BytesIO(response.content)).load()  # a whole, readable image
    print("\n".join(report))
    assert not failures, "\n".join(failures)


def test_the_answers_are_the_renditions_asked(demo):
    base, _, _, _ = demo

    def image(path: str) -> Image.Image:
        response = requests.get(base + path, timeout=60)
        assert response.status_code == 200, response.text
        return Image.open(io.BytesIO(response.content))

    assert image("/demo/photo.jpg-thumb").size == (100, 100)
    assert image("/demo/photo.jpg/thumb").format == "PNG"
    assert image("/demo/photo.jpg@200w_200h_1e_1c.webp").size == (200, 200)
    assert image("/demo/portrait.jpg?x-oss-process=image/resize,h_300/rotate,90").size == (300, 200)
    animated = image("/demo/animated.gif?x-oss-process=image/resize,w_160/format,webp")
    assert animated.format == "WEBP" and animated.n_frames == 12
    assert image("/demo/clip.mp4?x-oss-process=video/snapshot,t_1000,f_jpg,w_320").size == (320, 180)
    assert image("/j2h/photo-w600-h400.heic?BucketName=demo&AppCode=3d0c5cb04a3a4795aa2f8341f84c4984").size == (600, 400)


def test_the_demo_serves_the_console_without_a_sign_in(demo):
    base, _, _, _ = demo
    buckets = requests.get(f"{base}/_edge/console/api/buckets", timeout=30).json()
    assert [(b["name"], b["signed_in"]) for b in buckets] == [("demo", True)]
    answer = requests.get(f"{base}/_edge/console/api/render", timeout=60, params={
        "bucket": "demo", "key": "photo.jpg", "process": "image/resize,w_200/format,webp"}).json()
    spellings = {row["syntax"]: row["same"] for row in answer["rendition"]["spellings"]}
    assert spellings["style, separator -"] and spellings["legacy @"]  # the demo's w200-webp style
    styles = requests.get(f"{base}/_edge/console/api/styles", params={"bucket": "demo", "key": "photo.jpg"},
                          timeout=30).json()
    assert {style["name"] for style in styles} == set(buckets[0]["styles"])
    for style in styles:
        assert requests.get(base + style["url"], timeout=60).status_code == 200
