"""The console at /_edge/console: off by default, signed in with an access key of the bucket, and
driven in a real headless Chromium: it builds `resize,w_200/format,webp` with its controls, shows
the rendition with its canonical string, every spelling of it, and a grid of every style."""

from __future__ import annotations

import hashlib
import hmac
import os
import shutil
import time

import pytest
import requests

from browser import Browser
from conftest import ROOT, Server, edge_running, free_port

KEY_ID, SECRET = "LTAI5tConsoleKey", "console-secret"
STYLES = {"thumb": "image/resize,m_fill,w_100,h_100/format,png", "w200": "image/resize,w_200/format,webp",
          "badge": "image/resize,m_fill,w_120,h_120/circle,r_60/format,png", "gray-ish": "image/resize,w_150/contrast,-60"}
CANONICAL = "image/resize,w_200/format,webp"
SCREENS = os.environ.get("EDGE_SCREENSHOTS")  # a folder to keep the screenshots in, besides the test's own


@pytest.fixture(scope="module")
def console_server(tmp_path_factory, samples):
    styles = ", ".join(f'"{name}" = "{process}"' for name, process in STYLES.items())
    with Server(tmp_path_factory.mktemp("console"), f"""
[server]
port = {{port}}
workers = 2

[console]
enabled = true

[buckets.gallery]
source = "file://{samples}"
style_separators = ["@!", "-"]
access_keys = {{ {KEY_ID} = "{SECRET}" }}
styles = {{ {styles} }}

[buckets.vault]
source = "file://{samples}"
private = true
access_keys = {{ {KEY_ID} = "{SECRET}" }}

[buckets.nokeys]
source = "file://{samples}"
""", name="console") as srv:
        yield srv


def signed_in(server: Server, bucket: str = "gallery") -> requests.Session:
    session = requests.Session()
    answer = session.post(server.url("/_edge/console/api/sign-in"),
                          data={"bucket": bucket, "key_id": KEY_ID, "secret": SECRET}, timeout=30)
    assert answer.status_code == 200, answer.text
    return session


def test_the_console_is_off_by_default(server):
    answer = server.get("/_edge/console")
    assert answer.status_code == 404 and b"NoSuchBucket" in answer.content


def test_the_page_is_self_contained(console_server):
    page = console_server.get("/_edge/console")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert "http://" not in page.text and "https://" not in page.text and "//cdn" not in page.text


@pytest.mark.parametrize("form,code", [
    ({"bucket": "gallery", "key_id": KEY_ID, "secret": "wrong"}, "AccessDenied"),
    ({"bucket": "gallery", "key_id": "LTAInobody", "secret": SECRET}, "InvalidAccessKeyId"),
    ({"bucket": "nokeys", "key_id": KEY_ID, "secret": SECRET}, "InvalidAccessKeyId"),
    ({"bucket": "nobucket", "key_id": KEY_ID, "secret": SECRET}, "NoSuchBucket"),
])
def test_sign_in_refuses_a_wrong_key(console_server, form, code):
    answer = requests.post(console_server.url("/_edge/console/api/sign-in"), data=form, timeout=30)
    assert answer.status_code in (403, 404) and f"<Code>{code}</Code>" in answer.text
    assert "Set-Cookie" not in answer.headers


def test_the_api_needs_a_sign_in_to_the_bucket(console_server):
    render = "/_edge/console/api/render?bucket=gallery&key=quadrants.png&process=" + CANONICAL
    assert console_server.get(render).status_code == 403
    assert console_server.get("/_edge/console/api/objects?bucket=gallery").status_code == 403
    session = signed_in(console_server)
    answer = session.get(console_server.url(render), timeout=60).json()
    assert answer["rendition"]["canonical"] == CANONICAL
    # Signed in to gallery, not to vault.
    assert session.get(console_server.url("/_edge/console/api/objects?bucket=vault"), timeout=30).status_code == 403
    # A forged or expired cookie is no sign-in.
    expired = int(time.time()) - 10
    mac = hmac.new(SECRET.encode(), f"edge-console\ngallery\n{KEY_ID}\n{expired}".encode(), hashlib.sha256).hexdigest()
    for cookie in (f"{KEY_ID}:{expired}:{mac}", f"{KEY_ID}:{expired + 10**6}:{mac}", "garbage"):
        answer = requests.get(console_server.url(render), cookies={"edge_console_gallery": cookie}, timeout=30)
        assert answer.status_code == 403, cookie


def test_render_answers_every_spelling_and_refuses_bad_input(console_server):
    session = signed_in(console_server)
    api = console_server.url("/_edge/console/api/render")
    # quadrants.png: photo.jpg's renditions are left for the browser to make.
    answer = session.get(api, params={"bucket": "gallery", "key": "quadrants.png", "process": CANONICAL}, timeout=60).json()
    spellings = {row["syntax"]: row for row in answer["rendition"]["spellings"]}
    assert {"new API", "style", "style, separator @!", "style, separator -", "legacy @"} <= {
        syntax for syntax, row in spellings.items() if row["same"]}, spellings
    assert spellings["style, separator -"]["path"] == "quadrants.png-w200"
    assert spellings["legacy @"]["path"] == "quadrants.png@200w_1l.webp"
    # imageMogr2's thumbnail always enlarges one side: the nearest spelling differs, and says how.
    assert not spellings["imageMogr2"]["same"] and spellings["imageMogr2"]["canonical"].endswith("limit_0/format,webp")
    # Every spelling marked the same answers the very bytes of the rendition.
    rendition = requests.get(console_server.url(answer["rendition"]["url"]), timeout=60)
    assert rendition.headers["ETag"] == answer["rendition"]["etag"]
    for row in spellings.values():
        if row["same"]:
            assert requests.get(console_server.url(row["url"]), timeout=60).content == rendition.content, row
    for params, code in (({"process": "image/resize,w_abc"}, "InvalidArgument"), ({"key": ""}, "MissingArgument"),
                         ({"key": "missing.jpg"}, "NoSuchKey"), ({"bucket": "nobucket"}, "NoSuchBucket")):
        query = {"bucket": "gallery", "key": "quadrants.png", "process": CANONICAL, **params}
        bad = session.get(api, params=query, timeout=60)
        assert bad.status_code in (400, 403, 404) and f"<Code>{code}</Code>" in bad.text, bad.text


def test_urls_of_a_private_bucket_are_signed(console_server):
    session = signed_in(console_server, "vault")
    answer = session.get(console_server.url("/_edge/console/api/render"), timeout=60,
                         params={"bucket": "vault", "key": "photo.jpg", "process": CANONICAL}).json()
    url = answer["rendition"]["url"]
    assert "x-oss-signature=" in url and requests.get(url, timeout=60).status_code == 200
    assert requests.get(console_server.url(f"/vault/photo.jpg?x-oss-process={CANONICAL}"), timeout=30).status_code == 403
    assert requests.get(answer["original"]["url"], timeout=60).status_code == 200


async def test_the_console_in_chromium_builds_a_rendition_and_shows_every_style(console_server, tmp_path):
    browser = await Browser.start(tmp_path)
    shots = []
    try:
        await browser.goto(console_server.url("/_edge/console"))
        await browser.wait_for("document.body.dataset.ready === '1'")
        # gallery needs a sign-in with one of its access keys.
        assert await browser.wait_for("getComputedStyle(document.getElementById('signin')).display !== 'none'")
        await browser.type("#key-id", KEY_ID)
        await browser.type("#secret", SECRET)
        await browser.click("#signin button")
        await browser.wait_for("document.querySelectorAll('#keys option').length > 0")
        await browser.type("#key", "photo.jpg")
        # resize,w_200 then format,webp, with the controls the registry describes.
        await browser.choose("#add-op", "resize")
        await browser.click("#add-step")
        await browser.type('.step[data-op="resize"] [data-param="w"]', "200")
        await browser.choose("#add-op", "format")
        await browser.click("#add-step")
        await browser.choose('.step[data-op="format"] [data-param="target"]', "webp")
        assert await browser.evaluate("document.getElementById('process').value") == CANONICAL
        await browser.wait_for(f"document.getElementById('canonical').textContent === {CANONICAL!r}")
        width = await browser.wait_for("(() => { const i = document.getElementById('rendition'); "
                                       "return i.complete && i.naturalWidth; })()")
        assert width == 200
        assert await browser.wait_for("(() => { const i = document.getElementById('original'); "
                                      "return i.complete && i.naturalWidth; })()") == 400
        etag = await browser.evaluate("document.getElementById('etag').textContent")
        http = console_server.get(f"/gallery/photo.jpg?x-oss-process={CANONICAL}")
        assert etag == http.headers["ETag"] and http.headers["Content-Type"] == "image/webp"
        # The w200 style's preview (same canonical string) may have made it already.
        assert await browser.evaluate("document.getElementById('cache').textContent") in ("MISS", "HIT", "COALESCED")
        assert " ms (" in await browser.evaluate("document.getElementById('time').textContent")
        assert (await browser.evaluate("document.getElementById('size').textContent")).endswith(("B", "KiB"))
        same = await browser.evaluate("[...document.querySelectorAll('#spellings tr')]"
                                      ".filter(r => r.cells[2].classList.contains('same')).map(r => r.cells[0].textContent)")
        assert {"new API", "style", "style, separator @!", "style, separator -", "legacy @"} <= set(same), same
        # The style grid: every configured style, each image shown.
        names = await browser.wait_for(
            "(() => { const cards = [...document.querySelectorAll('#styles .style-card')]; "
            "return cards.length && cards.every(c => c.querySelector('img').complete && "
            "c.querySelector('img').naturalWidth > 0) && cards.map(c => c.dataset.style); })()")
        assert sorted(names) == sorted(STYLES)
        sizes = await browser.evaluate("Object.fromEntries([...document.querySelectorAll('#styles .style-card')]"
                                       ".map(c => [c.dataset.style, c.querySelector('img').naturalWidth]))")
        assert (sizes["thumb"], sizes["w200"], sizes["gray-ish"]) == (100, 200, 150) and 0 < sizes["badge"] <= 120
        # Nothing came from another host.
        hosts = await browser.evaluate("[...new Set(performance.getEntriesByType('resource')"
                                       ".map(e => new URL(e.name).host))]")
        assert hosts == [f"127.0.0.1:{console_server.port}"], hosts
        shots.append(await browser.screenshot(tmp_path / "console-rendition.png"))
        # A bad value: the OSS error is shown, naming the parameter.
        await browser.type('.step[data-op="resize"] [data-param="w"]', "99999")
        message = await browser.wait_for("document.getElementById('error').textContent")
        assert message.startswith("InvalidArgument: resize: w must be") and "16384" in message, message
        assert await browser.evaluate("document.getElementById('canonical').textContent") == "–"
        shots.append(await browser.screenshot(tmp_path / "console-error.png"))
    finally:
        await browser.close()
    if SCREENS:
        for shot in shots:
            shutil.copy(shot, SCREENS)


PLUGIN = '''
from dataclasses import dataclass

from PIL import ImageOps

from edge.params import integer
from edge.pipeline import Operation, operation


@operation("posterize")
@dataclass(frozen=True)
class Posterize(Operation):
    """posterize,b_<bits>: keep `b` bits of each channel."""

    b: int = integer(1, 8, default=4)

    def apply(self, frames, ctx):
        return frames.map(lambda im: ImageOps.posterize(im.convert("RGB"), self.b))
'''


async def test_a_new_operation_appears_in_the_console_by_itself(tmp_path, samples):
    # An operation from a plugin module, named in server.plugins: the console offers it with its
    # declared parameter, and what it builds renders.
    (tmp_path / "console_posterize.py").write_text(PLUGIN)
    port = free_port()
    config = tmp_path / "edge.toml"
    config.write_text(f"""
[server]
port = {port}
workers = 1
plugins = ["plugins.dialects", "plugins.operations", "console_posterize"]
[console]
enabled = true
sign_in = false
[buckets.plugged]
source = "file://{samples}"
""")
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_")}
    env["PYTHONPATH"] = os.pathsep.join((str(ROOT), str(tmp_path)))
    with edge_running(["serve", "--config", str(config)], port, tmp_path / "edge.log", env):
        base = f"http://127.0.0.1:{port}"
        described = {op["name"]: op for op in requests.get(base + "/_edge/console/api/operations", timeout=30).json()}
        assert described["posterize"]["parameters"] == [{
            "name": "b", "key": "b", "type": "int", "low": 1, "high": 8, "options": [], "aliases": {},
            "required": False, "default": 4, "what": ""}]
        browser = await Browser.start(tmp_path)
        try:
            await browser.goto(base + "/_edge/console")
            await browser.wait_for("document.querySelectorAll('#keys option').length > 0")
            await browser.type("#key", "photo.jpg")
            await browser.choose("#add-op", "posterize")
            await browser.click("#add-step")
            await browser.type('.step[data-op="posterize"] [data-param="b"]', "2")
            await browser.wait_for("document.getElementById('canonical').textContent === 'image/posterize,b_2'")
            assert await browser.wait_for("(() => { const i = document.getElementById('rendition'); "
                                          "return i.complete && i.naturalWidth; })()") == 400
            shot = await browser.screenshot(tmp_path / "console-plugin.png")
        finally:
            await browser.close()
        if SCREENS:
            shutil.copy(shot, SCREENS)
