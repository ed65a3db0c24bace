"""The photo upscale API of seed 002: `POST /tasks/visual/scale` against real servers.

Images are generated here and either uploaded or served by `ImageHost`, a small HTTP
server on 127.0.0.1 that the main server's config allows explicitly. A second
ImageHost on 127.0.0.2 (loopback, never allowed) only counts connections: the SSRF
tests show it receives none. No test connects anywhere else.
"""

from __future__ import annotations

import base64
import collections
import concurrent.futures
import http.server
import io
import threading
import time
import urllib.parse

import cv2
import numpy as np
import onnx
import pillow_heif
import pytest
import requests
from onnx import TensorProto, helper, numpy_helper
from PIL import Image, ImageDraw, ImageFilter

from conftest import Server
from edge import config as config_module
from edge.upscale.addresses import AddressPolicy
from edge.upscale.deadline import Deadline
from edge.upscale.errors import DownloadFailed, EnhanceFailed, LinkExpired
from edge.upscale.faces import find_faces
from edge.upscale.fetch import Downloads
from edge.upscale.links import ResultLinks
from edge.upscale.onnx_model import OnnxUpscaler
from edge.upscale.rules import MAX_BYTES
from edge.upscale.tasks import Task

pillow_heif.register_heif_opener()

APPCODE = "c0ffee00c0ffee00c0ffee00c0ffee00"
OTHER = "0ther0ther0ther0ther0ther0ther00"
BURST = "b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0"
PATH = "/tasks/visual/scale"
DATA_KEYS = {"state", "progress", "task_id", "image", "return_type", "type", "created_at", "completed_at"}


# -- pictures ---------------------------------------------------------------

def scene(width: int, height: int, seed: int = 3) -> Image.Image:
    """A photo-like test picture: gradient sky, shapes, thin lines, text and a fine texture."""
    rng = np.random.default_rng(seed)
    im = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(im)
    for y in range(height):
        draw.line([(0, y), (width, y)], fill=(60 + y * 120 // height, 90 + y * 80 // height, 180 - y * 60 // height))
    for _ in range(40):
        x, y, r = int(rng.integers(0, width)), int(rng.integers(0, height)), int(rng.integers(10, 80))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            draw.ellipse([x - r, y - r, x + r, y + r], fill=colour)
        else:
            draw.rectangle([x - r, y - r // 2, x + r, y + r // 2], fill=colour)
    for _ in range(30):
        draw.line([tuple(int(v) for v in rng.integers(0, width, 2)), tuple(int(v) for v in rng.integers(0, height, 2))],
                  fill=(20, 20, 20), width=int(rng.integers(1, 4)))
    for _ in range(8):
        corner = (int(rng.integers(0, max(1, width - 200))), int(rng.integers(0, max(1, height - 30))))
        draw.text(corner, "Edge upscale 0123", fill=(255, 255, 255), font_size=int(rng.integers(14, 40)))
    texture = cv2.GaussianBlur((rng.normal(0, 1, (height, width)) * 40).astype(np.float32), (0, 0), 2.0)
    return Image.fromarray(np.clip(np.asarray(im, np.float32) + texture[..., None], 0, 255).astype(np.uint8))


def face(side: int) -> Image.Image:
    """A drawn frontal face that OpenCV's Haar cascade recognises."""
    im = Image.new("RGB", (side, side), (90, 110, 140))
    draw = ImageDraw.Draw(im)
    s = side / 200
    draw.ellipse([40 * s, 20 * s, 160 * s, 185 * s], fill=(225, 180, 150))
    draw.rectangle([40 * s, 10 * s, 160 * s, 45 * s], fill=(60, 40, 30))
    for x in (62, 112):
        draw.rectangle([x * s, 62 * s, (x + 28) * s, 68 * s], fill=(70, 50, 40))
        draw.ellipse([x * s, 75 * s, (x + 28) * s, 92 * s], fill=(250, 250, 250))
        draw.ellipse([(x + 8) * s, 76 * s, (x + 20) * s, 90 * s], fill=(40, 30, 30))
    draw.polygon([(100 * s, 90 * s), (90 * s, 130 * s), (110 * s, 130 * s)], fill=(200, 150, 125))
    draw.ellipse([75 * s, 142 * s, 125 * s, 158 * s], fill=(150, 60, 60))
    return im.filter(ImageFilter.GaussianBlur(2 * s))


def noisy(width: int, height: int, sigma: float, seed: int = 1) -> tuple[Image.Image, Image.Image]:
    """(clean scene, the same with Gaussian noise of `sigma` levels)."""
    clean = scene(width, height)
    noise = np.random.default_rng(seed).normal(0, sigma, (height, width, 3))
    return clean, Image.fromarray(np.clip(np.asarray(clean) + noise, 0, 255).astype(np.uint8))


def encoded(im: Image.Image, fmt: str = "PNG", **options) -> bytes:
    out = io.BytesIO()
    im.save(out, fmt, **options)
    return out.getvalue()


def psnr(reference: Image.Image, other: Image.Image) -> float:
    a, b = (np.asarray(im.convert("RGB"), np.float64) for im in (reference, other))
    return float(10 * np.log10(255 ** 2 / np.mean((a - b) ** 2)))


def ssim(reference: Image.Image, other: Image.Image) -> float:
    """Mean SSIM of the luminance (Wang et al. 2004: 11x11 Gaussian window, sigma 1.5)."""
    a, b = (cv2.cvtColor(np.asarray(im.convert("RGB")), cv2.COLOR_RGB2GRAY).astype(np.float64)
            for im in (reference, other))
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(x):
        return cv2.GaussianBlur(x, (11, 11), 1.5)

    mu_a, mu_b = blur(a), blur(b)
    var_a, var_b, cov = blur(a * a) - mu_a ** 2, blur(b * b) - mu_b ** 2, blur(a * b) - mu_a * mu_b
    index = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return float(np.mean(index))


def sr_model(path, channels: int = 3, answer_channels: int | None = None, side: int | None = None):
    """A tiny x2 super-resolution ONNX model (a 1x1 convolution then DepthToSpace: nearest-neighbour
    enlargement), built with the onnx helper API; `answer_channels` != `channels` breaks its contract."""
    answer_channels = answer_channels or channels
    weights = np.zeros((answer_channels * 4, channels, 1, 1), np.float32)
    for c in range(min(channels, answer_channels)):
        weights[c * 4:(c + 1) * 4, c] = 1
    size = side or "height", side or "width"
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["z"]),
         helper.make_node("DepthToSpace", ["z"], ["y"], blocksize=2, mode="CRD")],
        "x2", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, channels, *size])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, answer_channels, None, None])],
        [numpy_helper.from_array(weights, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


# -- servers ----------------------------------------------------------------

class ImageHost:
    """An HTTP server on `host` in a thread: /img/<name> from `files`, /redirect/<n>/<name> (n hops),
    /to?url=<u> (one redirect to u), /big-declared, /big-streamed, /stall. Counts connections."""

    def __init__(self, host: str) -> None:
        self.files: dict[str, bytes] = {}
        self.connections = 0
        self.paths: collections.Counter = collections.Counter()
        self.released = threading.Event()
        host_self = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                host_self.paths[self.path] += 1
                parts = self.path.split("?")[0].split("/")[1:]
                if parts[0] == "img" and parts[1] in host_self.files:
                    self._send(host_self.files[parts[1]])
                elif parts[0] == "redirect":
                    hops = int(parts[1])
                    self._redirect(f"/redirect/{hops - 1}/{parts[2]}" if hops > 1 else f"/img/{parts[2]}")
                elif parts[0] == "to":
                    self._redirect(urllib.parse.unquote(self.path.split("url=", 1)[1]))
                elif parts[0] == "big-declared":
                    self.send_response(200)
                    self.send_header("Content-Length", str(MAX_BYTES + 1))
                    self.end_headers()
                    self.wfile.write(b"\0" * 1024)
                elif parts[0] == "big-streamed":  # no length: HTTP/1.0, delimited by closing
                    self.send_response(200)
                    self.end_headers()
                    chunk = b"\0" * (1 << 20)
                    for _ in range(MAX_BYTES // len(chunk) + 2):
                        self.wfile.write(chunk)
                elif parts[0] == "stall":
                    self.send_response(200)
                    self.send_header("Content-Length", "1000")
                    self.end_headers()
                    host_self.released.wait(15)
                else:
                    self.send_error(404)

            def _send(self, body: bytes):
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _redirect(self, location: str):
                self.send_response(302)
                self.send_header("Location", location)
                self.end_headers()

        class CountingServer(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def verify_request(self, request, client_address):
                host_self.connections += 1
                return True

            def handle_error(self, request, client_address):
                pass  # the API hangs up on oversized bodies on purpose

        self.server = CountingServer((host, 0), Handler)
        self.base = f"http://{host}:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def host():
    images = ImageHost("127.0.0.1")
    images.files["photo.png"] = encoded(scene(300, 200))
    images.files["photo.jpg"] = encoded(scene(300, 200), "JPEG", quality=92)
    yield images
    images.stop()


@pytest.fixture(scope="module")
def inside():
    """A server on 127.0.0.2 that no config allows: the SSRF tests show it is never connected to."""
    images = ImageHost("127.0.0.2")
    images.files["photo.png"] = encoded(scene(300, 200))
    yield images
    images.stop()


def upscale_server(tmp_path_factory, name: str, upscale: str, server: str = "workers = 2") -> Server:
    return Server(tmp_path_factory.mktemp(name), f"""
[server]
port = {{port}}
{server}

[upscale]
{upscale}
""", name=name)


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    """The built-in enhancer; image_url may reach 127.0.0.1 (the test ImageHost) and nothing else inside."""
    with upscale_server(tmp_path_factory, "upscale", f"""
appcodes = ["{APPCODE}", "{OTHER}"]
qps = 1000
allow_networks = ["127.0.0.1/32"]
""") as srv:
        yield srv


@pytest.fixture(scope="module")
def strict(tmp_path_factory):
    """Every default: QPS 2 per AppCode, no network allowed (so no loopback either)."""
    with upscale_server(tmp_path_factory, "upscale-strict", f'appcodes = ["{APPCODE}", "{BURST}"]') as srv:
        yield srv


@pytest.fixture(scope="module")
def model_api(tmp_path_factory):
    path = sr_model(tmp_path_factory.mktemp("model") / "x2.onnx")
    with upscale_server(tmp_path_factory, "upscale-model", f'appcodes = ["{APPCODE}"]\nqps = 1000\n'
                                                            f'onnx_model = "{path}"') as srv:
        yield srv


@pytest.fixture(scope="module")
def tight(tmp_path_factory):
    """One worker and no queue, a 2 s task limit, and a model that breaks its contract (3 channels
    in, 2 out): the -1, -8 and 500 situations."""
    path = sr_model(tmp_path_factory.mktemp("broken") / "broken.onnx", answer_channels=2)
    with upscale_server(tmp_path_factory, "upscale-tight", f'appcodes = ["{APPCODE}"]\nqps = 1000\n'
                         f'timeout = 2\nonnx_model = "{path}"', server="workers = 1\nqueue = 0") as srv:
        yield srv


def post(server: Server, appcode: str | None = APPCODE, files: dict | None = None, **fields) -> requests.Response:
    """A POST as the seed's clients send it: form fields (multipart when there is a file)."""
    headers = {"Authorization": f"APPCODE {appcode}"} if appcode is not None else {}
    return requests.post(server.url(PATH), headers=headers, data=fields, files=files, timeout=60)


def upload(server: Server, image: bytes, **fields) -> requests.Response:
    return post(server, files={"image_file": ("image", image)}, **fields)


def task_of(response: requests.Response, state: int) -> dict:
    """The `data` of an HTTP 200 task answer, checked for the seed's shape and `state`."""
    assert response.status_code == 200, response.text[:300]
    body = response.json()
    assert body["status"] == 200 and set(body) == {"status", "message", "data"}
    data = body["data"]
    assert set(data) == DATA_KEYS and data["state"] == state, body
    assert data["progress"] == (100 if state == 1 else 0)
    assert data["created_at"] <= data["completed_at"] <= time.time() + 1
    return data


def refused(response: requests.Response, status: int) -> str:
    """The message of a refusal answer: HTTP `status`, the same JSON status, data null."""
    assert response.status_code == status, response.text[:300]
    body = response.json()
    assert body["status"] == status and body["data"] is None and body["message"]
    assert response.headers["x-oss-request-id"]
    return body["message"]


def result_image(data: dict) -> Image.Image:
    """The result of a task answer: its base64, or what its link serves."""
    if data["return_type"] == 2:
        raw = base64.b64decode(data["image"])
    else:
        raw = requests.get(data["image"], timeout=30).content
    return Image.open(io.BytesIO(raw))


def wait_idle(server: Server) -> None:
    deadline = time.monotonic() + 30
    while server.metric("edge_busy_workers") or server.metric("edge_live_workers") < 1:
        assert time.monotonic() < deadline, "the worker stayed busy"
        time.sleep(0.05)


# -- state 1, the answer's shape, result links --------------------------------

def test_an_upload_comes_back_restored_4x_as_a_link_that_we_serve(api):
    before = api.metric("edge_requests_total", dialect="upscale", status="200")
    response = upload(api, encoded(scene(300, 200)), type="clean")
    data = task_of(response, 1)
    assert api.metric("edge_requests_total", dialect="upscale", status="200") == before + 1
    assert api.metric("edge_request_seconds_count", kind="upscale") >= 1
    assert response.json()["message"] == "success" and response.headers["x-oss-request-id"]
    assert data["type"] == "clean" and data["return_type"] == 1 and isinstance(data["created_at"], int)
    link = requests.get(data["image"], timeout=30)
    assert link.status_code == 200 and link.headers["Content-Type"] == "image/jpeg"
    assert Image.open(io.BytesIO(link.content)).size == (1200, 800)  # long side 300: x4
    expires = int(data["image"].split("expires=")[1].split("&")[0])
    assert expires == data["completed_at"] + 3600
    assert 3500 < int(link.headers["Cache-Control"].split("max-age=")[1]) <= 3600


def test_return_type_2_answers_base64_from_json_form_and_multipart_bodies(api):
    picture = encoded(scene(120, 80))
    as_base64 = base64.b64encode(picture).decode()
    answers = [
        requests.post(api.url(PATH), headers={"Authorization": f"APPCODE {APPCODE}"}, timeout=60,
                      json={"type": "face", "image_base64": as_base64, "return_type": 2, "scale_factor": None}),
        post(api, type="face", image_base64="data:image/png;base64," + as_base64, return_type="2"),
        upload(api, picture, type="face", return_type="2", scale_factor=""),
    ]
    for response in answers:
        data = task_of(response, 1)
        assert data["type"] == "face" and data["return_type"] == 2
        assert result_image(data).size == (480, 320)


def test_an_image_url_is_downloaded_and_a_task_can_be_asked_again_by_its_appcode_only(api, host):
    data = task_of(post(api, type="clean", image_url=f"{host.base}/img/photo.jpg", scale_factor="2"), 1)
    assert result_image(data).size == (600, 400)
    again = requests.get(api.url(f"{PATH}/{data['task_id']}"), headers={"Authorization": f"APPCODE {APPCODE}"})
    assert task_of(again, 1) == data
    other = requests.get(api.url(f"{PATH}/{data['task_id']}"), headers={"Authorization": f"APPCODE {OTHER}"})
    refused(other, 404)
    refused(requests.get(api.url(f"{PATH}/no-such-task"), headers={"Authorization": f"APPCODE {APPCODE}"}), 404)
    refused(requests.get(api.url(f"{PATH}/{data['task_id']}")), 401)


def test_a_link_with_a_changed_expiry_or_signature_is_403_and_other_paths_404(api):
    data = task_of(upload(api, encoded(scene(60, 40)), type="clean"), 1)
    link = data["image"]
    expires = link.split("expires=")[1].split("&")[0]
    refused(requests.get(link.replace(f"expires={expires}", f"expires={int(expires) + 1}")), 403)
    refused(requests.get(link[:-4] + "0000"), 403)
    refused(requests.get(api.url(f"{PATH}/{data['task_id']}/image")), 403)
    refused(requests.get(api.url(PATH)), 404)
    refused(requests.delete(api.url(f"{PATH}/{data['task_id']}")), 404)


def test_a_link_expires_one_hour_after_the_task_finished():
    links = ResultLinks()
    fresh, old = Task(APPCODE, "clean", 1), Task(APPCODE, "clean", 1)
    fresh.succeed(b"x", "image/jpeg", "")
    old.succeed(b"x", "image/jpeg", "")
    old.completed_at -= 3601
    for task in (fresh, old):
        query = dict(part.split("=") for part in links.url("http://h", task).split("?")[1].split("&"))
        if task is fresh:
            links.verify(task.task_id, query["expires"], query["signature"])
        else:
            with pytest.raises(LinkExpired, match="expired"):
                links.verify(task.task_id, query["expires"], query["signature"])


def test_transparency_and_exif_orientation_are_kept(api):
    rgba = Image.new("RGBA", (100, 50), (0, 0, 0, 0))
    ImageDraw.Draw(rgba).ellipse([25, 0, 75, 50], fill=(200, 30, 30, 255))
    out = result_image(task_of(upload(api, encoded(rgba), type="clean", return_type="2"), 1))
    assert out.format == "PNG" and out.mode == "RGBA" and out.size == (400, 200)
    assert out.getpixel((0, 0))[3] == 0 and out.getpixel((200, 100))[3] == 255
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: shown rotated 90 degrees clockwise
    sideways = encoded(scene(200, 100), "JPEG", exif=exif)
    assert result_image(task_of(upload(api, sideways, type="clean", return_type="2"), 1)).size == (400, 800)


# -- the scale factor rule ----------------------------------------------------

@pytest.mark.parametrize("size, factor", [
    ((10, 6), 4), ((500, 300), 4), ((501, 300), 2), ((300, 501), 2), ((1000, 40), 2), ((1001, 40), 1),
    ((4096, 16), 1), ((16, 4096), 1),
])
def test_the_automatic_factor_follows_the_long_side(api, size, factor):
    data = task_of(upload(api, encoded(Image.new("RGB", size, (90, 140, 200))), type="clean", return_type="2"), 1)
    assert result_image(data).size == (size[0] * factor, size[1] * factor)


@pytest.mark.parametrize("size, asked, factor", [
    ((300, 200), "1", 1), ((500, 200), "2", 2), ((1000, 200), "2", 2), ((1100, 200), "2", 1),
    ((500, 200), "4", 4), ((501, 200), "4", 1), ((4096, 20), "1", 1),
])
def test_an_asked_factor_applies_only_within_its_long_side_range(api, size, asked, factor):
    response = upload(api, encoded(Image.new("RGB", size, (90, 140, 200))), type="clean", scale_factor=asked,
                      return_type="2")
    assert result_image(task_of(response, 1)).size == (size[0] * factor, size[1] * factor)
    message = response.json()["message"]
    assert message == "success" if factor == int(asked) else f"scale_factor {asked} was not applied" in message


# -- refusals: 400, 401, 413, 429, 500 ------------------------------------------

@pytest.mark.parametrize("fields, why", [
    ({"image_url": "http://127.0.0.1/x.png"}, "type is required"),
    ({"type": "blur", "image_url": "http://127.0.0.1/x.png"}, "type must be clean or face"),
    ({"type": "clean", "scale_factor": "3", "image_url": "http://127.0.0.1/x.png"}, "scale_factor"),
    ({"type": "clean", "return_type": "3", "image_url": "http://127.0.0.1/x.png"}, "return_type"),
    ({"type": "clean"}, "exactly one image"),
    ({"type": "clean", "image_url": "http://127.0.0.1/x.png", "image_base64": "aGk="}, "exactly one image"),
    ({"type": "clean", "image_url": "http://127.0.0.1/" + "a" * 496}, "at most 512"),
    ({"type": "clean", "image_url": "ftp://127.0.0.1/x.png"}, "http:// or https://"),
    ({"type": "clean", "image_url": "file:///etc/passwd"}, "http:// or https://"),
])
def test_missing_or_wrong_parameters_are_400(api, fields, why):
    assert why in refused(post(api, **fields), 400)


def test_a_url_of_exactly_512_characters_is_accepted(api, host):
    url = f"{host.base}/img/photo.png?pad="
    url += "a" * (512 - len(url))
    task_of(post(api, type="clean", image_url=url), 1)


def test_unreadable_bodies_are_400(api):
    auth = {"Authorization": f"APPCODE {APPCODE}"}
    plain = requests.post(api.url(PATH), data=b"type=clean", headers={**auth, "Content-Type": "text/plain"})
    assert "multipart/form-data" in refused(plain, 400)
    broken = b'--zz\r\nContent-Disposition: form-data; name="type"\r\n\r\nclean\r\n--zz\r\nbroken'
    refused(requests.post(api.url(PATH), data=broken,
                          headers={**auth, "Content-Type": "multipart/form-data; boundary=zz"}), 400)
    refused(requests.post(api.url(PATH), data=b"{not json", headers={**auth, "Content-Type": "application/json"}), 400)


@pytest.mark.parametrize("authorization", [None, "", "APPCODE", "APPCODE wrong", f"Basic {APPCODE}"])
def test_a_missing_or_unknown_appcode_is_401(strict, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}
    response = requests.post(strict.url(PATH), headers=headers, data={"type": "clean", "image_url": "http://a.b/c"})
    assert "AppCode" in refused(response, 401)


def test_uploads_over_15_mb_are_413_and_15_mb_itself_is_accepted(api):
    exactly = task_of(upload(api, b"\0" * MAX_BYTES, type="clean"), -7)  # accepted, then found not an image
    assert exactly["image"] == ""
    assert "15 MB" in refused(upload(api, b"\0" * (MAX_BYTES + 1), type="clean"), 413)
    too_big = base64.b64encode(b"\0" * (MAX_BYTES + 3)).decode()
    refused(post(api, type="clean", image_base64=too_big), 413)


def test_a_burst_over_the_qps_limit_is_429_and_a_second_later_calls_pass_again(strict):
    def call(_):
        return post(strict, appcode=BURST, type="clean")  # no image: an admitted call is 400

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = [r.status_code for r in pool.map(call, range(8))]
    assert statuses.count(429) >= 5 and statuses.count(400) <= 3, statuses
    limited = call(0)
    assert "slow down" in refused(limited, 429) and limited.headers["Retry-After"] == "1"
    time.sleep(1.1)
    refused(call(0), 400)


def test_a_full_worker_pool_is_500_with_retry_after(tight):
    wait_idle(tight)
    slow = encoded(noisy(3000, 3000, 12)[1], "JPEG", quality=90)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        first = pool.submit(upload, tight, slow, type="clean")
        deadline = time.monotonic() + 20
        while not tight.metric("edge_busy_workers"):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        busy = upload(tight, encoded(scene(60, 40)), type="clean")
        assert refused(busy, 500) and busy.headers["Retry-After"]
        task_of(first.result(), -8)
    wait_idle(tight)


# -- failure states ----------------------------------------------------------------

def test_an_upload_that_cannot_be_used_is_state_minus_2(api):
    for response, why in ((post(api, type="clean", image_base64="not base64!"), "not valid base64"),
                          (upload(api, b"", type="face"), "empty")):
        assert task_of(response, -2)["image"] == ""
        assert why in response.json()["message"]


@pytest.mark.parametrize("path, why", [
    ("/img/missing.png", "HTTP 404"),
    ("/redirect/4/photo.png", "more than 3"),
])
def test_a_url_that_cannot_be_downloaded_is_state_minus_3(api, host, path, why):
    response = post(api, type="clean", image_url=host.base + path)
    task_of(response, -3)
    assert why in response.json()["message"]


def test_redirects_within_the_limit_are_followed(api, host):
    task_of(post(api, type="clean", image_url=f"{host.base}/redirect/3/photo.png"), 1)


def test_a_download_past_10_seconds_is_state_minus_3(api, host):
    started = time.monotonic()
    response = post(api, type="clean", image_url=f"{host.base}/stall")
    task_of(response, -3)
    assert "10 s" in response.json()["message"] and 9.5 < time.monotonic() - started < 15


@pytest.mark.parametrize("path", ["/big-declared", "/big-streamed"])
def test_a_url_over_15_mb_is_state_minus_5(api, host, path):
    response = post(api, type="clean", image_url=host.base + path)
    task_of(response, -5)
    assert "15 MB" in response.json()["message"]


def animated(fmt: str) -> bytes:
    frames = [Image.new("RGB", (40, 30), (i * 60, 90, 200)) for i in range(3)]
    return encoded(frames[0], fmt, save_all=True, append_images=frames[1:], duration=50)


@pytest.mark.parametrize("image, why", [
    (animated("GIF"), "GIF"),
    (animated("PNG"), "animation"),
    (animated("WEBP"), "animation"),
    (b"this is not an image" * 10, "not an image"),
    (encoded(scene(200, 100), "JPEG")[:3000], "corrupt or truncated"),
    (encoded(Image.new("RGB", (4097, 8))), "at most 4096x4096"),
    (encoded(Image.new("RGB", (8, 4097))), "at most 4096x4096"),
    (encoded(Image.new("RGB", (9, 9))), "at least 10"),
    (encoded(Image.new("RGB", (64, 64)), "HEIF"), "HEIF is not supported"),
])
def test_an_image_the_seed_does_not_accept_is_state_minus_7(api, image, why):
    response = upload(api, image, type="clean")
    task_of(response, -7)
    assert why in response.json()["message"]


def test_other_accepted_formats_work(api):
    picture = scene(64, 48)
    for fmt in ("BMP", "TIFF", "WEBP"):
        assert result_image(task_of(upload(api, encoded(picture, fmt), type="clean", return_type="2"), 1)).size \
            == (256, 192)


def test_a_model_that_fails_is_state_minus_1(tight):
    wait_idle(tight)
    response = upload(tight, encoded(scene(60, 40)), type="clean")
    task_of(response, -1)
    assert "broken.onnx" in response.json()["message"]


def test_a_task_past_its_time_limit_is_state_minus_8(tight):
    wait_idle(tight)
    started = time.monotonic()
    response = upload(tight, encoded(noisy(3000, 3000, 12)[1], "JPEG", quality=90), type="clean")
    task_of(response, -8)
    assert "longer than 2 s" in response.json()["message"] and time.monotonic() - started < 10
    wait_idle(tight)


# -- SSRF -----------------------------------------------------------------------------

def test_loopback_is_refused_unless_the_config_allows_it_and_nothing_is_connected(strict, host):
    before = host.connections
    for url in (f"{host.base}/img/photo.png", f"http://localhost:{host.base.rsplit(':', 1)[1]}/img/photo.png"):
        response = post(strict, type="clean", image_url=url)
        task_of(response, -3)
        assert "may not reach" in response.json()["message"]
    assert host.connections == before


@pytest.mark.parametrize("url", [
    "http://10.0.0.1/x.png", "http://10.255.1.2:8080/x.png", "http://169.254.169.254/latest/meta-data/",
    "http://100.100.100.200/latest/meta-data/", "http://192.168.1.1/x.png", "http://172.16.0.1/x.png",
    "http://0.0.0.0/x.png", "http://[::1]/x.png", "http://[fd00::1]/x.png", "http://[fe80::1]/x.png",
    "http://224.0.0.1/x.png", "http://240.0.0.1/x.png", "http://127.0.0.2/x.png",
])
def test_private_link_local_metadata_and_reserved_addresses_are_refused_before_connecting(api, url):
    started = time.monotonic()
    response = post(api, type="clean", image_url=url)
    task_of(response, -3)
    assert "may not reach" in response.json()["message"] and time.monotonic() - started < 2


@pytest.mark.parametrize("host_name", ["2130706434", "127.2", "0x7f000002"])
def test_legacy_numeric_forms_of_a_refused_address_are_refused(api, inside, host_name):
    port = inside.base.rsplit(":", 1)[1]
    task_of(post(api, type="clean", image_url=f"http://{host_name}:{port}/img/photo.png"), -3)
    assert inside.connections == 0


def test_an_ipv4_mapped_loopback_address_is_refused(api, inside):
    port = inside.base.rsplit(":", 1)[1]
    response = post(api, type="clean", image_url=f"http://[::ffff:127.0.0.2]:{port}/img/photo.png")
    task_of(response, -3)
    assert inside.connections == 0


def test_a_redirect_to_a_refused_address_is_refused_before_connecting(api, host, inside):
    for target in (f"{inside.base}/img/photo.png", f"http://[::1]:{inside.base.rsplit(':', 1)[1]}/x",
                   "http://169.254.169.254/latest/meta-data/", "file:///etc/passwd"):
        response = post(api, type="clean", image_url=f"{host.base}/to?url={target}")
        task_of(response, -3)
        assert "may not reach" in response.json()["message"] or "not an http(s) URL" in response.json()["message"]
    assert inside.connections == 0


class FlippingResolver:
    """A DNS that answers `first` once, then `later`: what a rebinding attacker's name server does."""

    def __init__(self, first: str, later: str) -> None:
        self.answers, self.calls = [first, later], 0

    async def resolve(self, host, port=0, family=0):
        address = self.answers[min(self.calls, 1)]
        self.calls += 1
        return [{"hostname": host, "host": address, "port": port, "family": 2, "proto": 0, "flags": 0}]

    async def close(self):
        pass


async def test_the_address_checked_is_the_address_connected_to(host, inside):
    """DNS rebinding: the name resolves once per download and that checked answer is used to connect,
    so a second, different answer can never slip in between the check and the connection."""
    resolver = FlippingResolver("127.0.0.1", "127.0.0.2")
    downloads = Downloads(AddressPolicy(("127.0.0.1/32",)), resolver)
    await downloads.open()
    try:
        port = host.base.rsplit(":", 1)[1]
        assert await downloads.get(f"http://rebind.test:{port}/img/photo.png") == host.files["photo.png"]
        assert resolver.calls == 1
        with pytest.raises(DownloadFailed, match="may not reach"):
            await downloads.get(f"http://rebind.test:{port}/img/photo.png")
        assert resolver.calls == 2
    finally:
        await downloads.close()
    assert inside.connections == 0


# -- the enhancer ------------------------------------------------------------------------

@pytest.mark.parametrize("factor", [2, 4])
def test_the_enhancer_beats_plain_bicubic_on_a_downscaled_image(api, factor):
    original = scene(800, 600)
    small = original.resize((800 // factor, 600 // factor), Image.Resampling.BICUBIC)
    restored = result_image(task_of(upload(api, encoded(small), type="clean", scale_factor=str(factor),
                                           return_type="2"), 1)).convert("RGB")
    bicubic = small.resize(original.size, Image.Resampling.BICUBIC)
    ours = psnr(original, restored), ssim(original, restored)
    theirs = psnr(original, bicubic), ssim(original, bicubic)
    print(f"x{factor}: enhancer PSNR {ours[0]:.2f} dB SSIM {ours[1]:.4f}; bicubic PSNR {theirs[0]:.2f} dB "
          f"SSIM {theirs[1]:.4f}")
    assert ours[0] > theirs[0] + 0.3 and ours[1] > theirs[1]


def test_a_noisy_photo_is_denoised(api):
    clean, grainy = noisy(400, 300, 12)
    restored = result_image(task_of(upload(api, encoded(grainy), type="clean", scale_factor="1", return_type="2"), 1))
    print(f"denoise: noisy PSNR {psnr(clean, grainy):.2f} dB, restored {psnr(clean, restored):.2f} dB")
    assert psnr(clean, restored) > psnr(clean, grainy) + 1.5


def test_faces_are_found_with_the_cascade_that_ships_with_opencv():
    picture = Image.new("RGB", (600, 400), (120, 140, 100))
    picture.paste(face(200), (200, 100))
    [(x, y, w, h)] = find_faces(np.asarray(picture))
    assert 180 <= x <= 260 and 80 <= y <= 160 and 120 <= w <= 220


def test_type_face_treats_the_face_more_gently_and_leaves_the_rest_as_clean(api):
    picture = Image.new("RGB", (300, 200), (120, 140, 100))
    picture.paste(face(120), (90, 40))
    ImageDraw.Draw(picture).rectangle([10, 150, 60, 190], fill=(20, 20, 20))
    # A fine skin texture, too faint to count as noise: `clean` sharpens it, `face` smooths it.
    grain = np.random.default_rng(2).normal(0, 3, (200, 300, 3))
    picture = Image.fromarray(np.clip(np.asarray(picture) + grain, 0, 255).astype(np.uint8))
    results = {kind: np.asarray(result_image(task_of(upload(api, encoded(picture), type=kind, scale_factor="2",
                                                            return_type="2"), 1)))
               for kind in ("clean", "face")}  # 600x400
    cheek = np.s_[210:260, 210:260]   # inside the face
    corner = np.s_[300:400, 0:120]    # far from it
    assert np.array_equal(results["clean"][corner], results["face"][corner])

    def detail(image):
        return float(np.abs(cv2.Laplacian(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), cv2.CV_32F)).mean())

    assert detail(results["face"][cheek]) < 0.75 * detail(results["clean"][cheek])


# -- the ONNX model path --------------------------------------------------------------

def test_a_configured_onnx_model_does_the_enlarging(model_api):
    # 8 px blocks of random colours (not noisy, so no denoising), with a touch of transparency
    # so that the answer is a lossless PNG: the model's nearest-neighbour x2 shows exactly.
    blocks = np.random.default_rng(5).integers(0, 256, (4, 5, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)
    picture = Image.fromarray(blocks).convert("RGBA")
    picture.putpixel((0, 0), (*blocks[0, 0], 254))
    out = result_image(task_of(upload(model_api, encoded(picture), type="clean", scale_factor="2",
                                      return_type="2"), 1))
    assert out.size == (80, 64) and out.mode == "RGBA"
    assert np.array_equal(np.asarray(out)[:, :, :3], blocks.repeat(2, 0).repeat(2, 1))
    automatic = result_image(task_of(upload(model_api, encoded(picture), type="face", return_type="2"), 1))
    assert automatic.size == (160, 128)  # x4 from a x2 model: the model, then Lanczos


def test_a_fixed_size_model_is_fed_tiles_and_a_luma_model_gets_lanczos_colour(tmp_path):
    picture = np.random.default_rng(0).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    nearest = picture.repeat(2, axis=0).repeat(2, axis=1)
    tiled = OnnxUpscaler(str(sr_model(tmp_path / "fixed.onnx", side=40)))
    assert tiled.window == (40, 40)
    assert np.array_equal(tiled.enlarge(picture, 2, Deadline(30)), nearest)
    grey = picture[:, :, :1].repeat(3, axis=2)  # no colour, so the luma model decides every pixel
    luma = OnnxUpscaler(str(sr_model(tmp_path / "luma.onnx", channels=1))).enlarge(grey, 2, Deadline(30))
    assert np.abs(luma.astype(int) - grey.repeat(2, axis=0).repeat(2, axis=1)).max() <= 1
    with pytest.raises(EnhanceFailed, match=r"must be \[1, 3"):
        OnnxUpscaler(str(sr_model(tmp_path / "bad.onnx", answer_channels=2))).enlarge(picture, 2, Deadline(30))


# -- configuration ----------------------------------------------------------------------

@pytest.mark.parametrize("table, key", [
    ({"allow_networks": ["10.0.0.0/33"]}, "upscale.allow_networks"),
    ({"qps": 0}, "upscale.qps"),
    ({"onnx_model": "/no/such/model.onnx"}, "upscale.onnx_model"),
    ({"public_url": "img.example.com"}, "upscale.public_url"),
    ({"result_bytes": 1024}, "upscale.result_bytes"),
    ({"colour": "red"}, "upscale.colour"),
])
def test_a_bad_upscale_setting_stops_start_up_naming_the_key(table, key):
    with pytest.raises(config_module.ConfigError, match=key.replace(".", r"\.")):
        config_module.load(None, environ={}, overrides={"upscale": table})


def test_the_defaults_are_the_seeds():
    settings = config_module.load(None, environ={}).upscale
    assert (settings.qps, settings.timeout, settings.allow_networks, settings.task_retention) == (2, 30, (), 3600)
