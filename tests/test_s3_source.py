"""Originals in a private S3 bucket: a real S3-protocol server (moto's, its own process) reached
by edge's aiobotocore client over HTTP, with every dialect, signed requests, pass-through, saveas,
one download per original and revalidation."""

import base64
import io
import os
import time
from concurrent.futures import ThreadPoolExecutor

import oss2
import pytest
import requests
from PIL import Image

from conftest import Server, open_image, write_samples
from s3server import S3Server

KEY_ID, SECRET = "LTAI5tS3Key", "s3-secret"
WEBP = "image/webp,*/*"


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    with S3Server(tmp_path_factory.mktemp("s3")) as server:
        client = server.client()
        client.create_bucket(Bucket="originals")
        client.create_bucket(Bucket="saved")
        folder = tmp_path_factory.mktemp("s3-samples")
        write_samples(folder)
        for path in folder.rglob("*"):
            if path.is_file():
                client.put_object(Bucket="originals", Key=f"photos/{path.relative_to(folder)}", Body=path.read_bytes(),
                                  ContentType="image/png" if path.suffix == ".png" else "image/jpeg")
        server.samples = folder
        yield server


@pytest.fixture(scope="module")
def edge(tmp_path_factory, s3):
    with Server(tmp_path_factory.mktemp("s3-edge"), f"""
[server]
port = {{port}}
workers = 2
[cache]
revalidate_seconds = 1
[limits]
source_bytes = 300000
[buckets.pics]
source = "s3://originals/photos"
legacy_api = true
[buckets.pics.s3]
{s3.toml()}
[buckets.pics.styles]
thumb = "image/resize,m_fill,w_100,h_100"
[buckets.vault]
source = "s3://originals/photos/"
private = true
[buckets.vault.s3]
{s3.toml()}
[buckets.vault.access_keys]
{KEY_ID} = "{SECRET}"
[buckets.saved]
source = "s3://saved/out"
[buckets.saved.s3]
{s3.toml()}
[buckets.saved.access_keys]
{KEY_ID} = "{SECRET}"
""", name="s3-edge") as srv:
        yield srv


def put_photo(s3, key: str, colour: tuple[int, int, int], size=(400, 300)) -> None:
    body = io.BytesIO()
    Image.new("RGB", size, colour).save(body, "JPEG", quality=90)
    s3.client().put_object(Bucket="originals", Key=f"photos/{key}", Body=body.getvalue(), ContentType="image/jpeg")


def size_of(body: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(body)).size


def test_the_oss2_sdk_styles_legacy_and_format_auto_through_edge(edge):
    bucket = oss2.Bucket(oss2.AnonymousAuth(), f"http://127.0.0.1:{edge.port}", "pics")
    assert size_of(bucket.get_object("photo.jpg", process="image/resize,w_100").read()) == (100, 75)
    assert open_image(edge.get("/pics/photo.jpg@!thumb")).size == (100, 100)
    assert open_image(edge.get("/pics/photo.jpg", params={"x-oss-process": "style/thumb"})).size == (100, 100)
    legacy = edge.get("/pics/photo.jpg@200w.png")
    assert legacy.headers["Content-Type"] == "image/png" and open_image(legacy).size == (200, 150)
    auto = edge.get("/pics/nested/deep name.jpg", params={"x-oss-process": "image/resize,w_60/format,auto"},
                    headers={"Accept": WEBP})
    assert auto.headers["Content-Type"] == "image/webp" and open_image(auto).size == (60, 40)


def test_signed_requests_to_a_private_bucket(edge, s3):
    bucket = oss2.Bucket(oss2.Auth(KEY_ID, SECRET), f"http://127.0.0.1:{edge.port}", "vault")
    assert bucket.get_object("photo.jpg").read() == (s3.samples / "photo.jpg").read_bytes()
    assert size_of(bucket.get_object("photo.jpg", process="image/resize,w_80").read()) == (80, 60)
    url = bucket.sign_url("GET", "quadrants.png", 60, params={"x-oss-process": "image/resize,w_30"})
    assert open_image(requests.get(url, timeout=30)).size == (30, 20)
    unsigned = edge.get("/vault/photo.jpg")
    assert unsigned.status_code == 403 and "<Code>AccessDenied</Code>" in unsigned.text
    # The S3 server itself refuses anyone without its key: the originals are private there.
    assert requests.get(f"{s3.url}/originals/photos/photo.jpg", timeout=10).status_code == 403


def test_originals_pass_through_with_range_and_conditionals(edge, s3):
    whole = edge.get("/pics/photo.jpg")
    data = (s3.samples / "photo.jpg").read_bytes()
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["Content-Type"] == "image/jpeg" and whole.headers["ETag"].startswith('"')
    part = edge.get("/pics/photo.jpg", headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and part.content == data[:100]
    assert part.headers["Content-Range"] == f"bytes 0-99/{len(data)}"
    again = edge.get("/pics/photo.jpg", headers={"If-None-Match": whole.headers["ETag"]})
    assert again.status_code == 304 and again.content == b""
    head = requests.head(edge.url("/pics/photo.jpg"), timeout=10)
    assert head.status_code == 200 and int(head.headers["Content-Length"]) == len(data)
    failed = edge.get("/pics/photo.jpg", headers={"If-Match": '"not-it"'})
    assert failed.status_code == 412 and "<Code>PreconditionFailed</Code>" in failed.text
    beyond = edge.get("/pics/photo.jpg", headers={"Range": f"bytes={len(data) + 10}-"})
    assert beyond.status_code == 416 and "<Code>InvalidRange</Code>" in beyond.text


@pytest.mark.parametrize("path", ["/pics/missing.jpg", "/pics/missing.jpg?x-oss-process=image/resize,w_10",
                                  "/pics/missing.jpg@!thumb"])
def test_a_missing_object_is_no_such_key(edge, path):
    response = edge.get(path)
    assert response.status_code == 404 and "<Code>NoSuchKey</Code>" in response.text


def test_an_original_over_the_size_limit_is_refused(edge, s3):
    noise = Image.frombytes("RGB", (600, 600), os.urandom(600 * 600 * 3))
    body = io.BytesIO()
    noise.save(body, "PNG")
    assert len(body.getvalue()) > 300_000
    s3.client().put_object(Bucket="originals", Key="photos/huge.png", Body=body.getvalue(), ContentType="image/png")
    response = edge.get("/pics/huge.png", params={"x-oss-process": "image/resize,w_10"})
    assert response.status_code == 400 and "<Code>ImageTooLarge</Code>" in response.text


def test_six_widths_at_once_download_the_original_once(edge, s3):
    put_photo(s3, "srcset.jpg", (200, 40, 40))
    fetched = edge.metric("edge_source_reads_total", how="fetched")
    renders = edge.metric("edge_renders_total")
    widths = [80, 120, 160, 200, 240, 320]
    with ThreadPoolExecutor(len(widths)) as pool:
        answers = list(pool.map(lambda w: edge.get("/pics/srcset.jpg", params={"x-oss-process": f"image/resize,w_{w}"}),
                                widths))
    assert [open_image(a).size[0] for a in answers] == widths
    assert len(s3.requests("GET", "/originals/photos/srcset.jpg")) == 1  # counted at the S3 server
    assert edge.metric("edge_source_reads_total", how="fetched") - fetched == 1
    assert edge.metric("edge_renders_total") - renders == len(widths)
    # More widths a moment later come from the originals kept (cache.originals_bytes), not the bucket.
    assert open_image(edge.get("/pics/srcset.jpg", params={"x-oss-process": "image/resize,w_64"})).size[0] == 64
    assert len(s3.requests("GET", "/originals/photos/srcset.jpg")) == 1


def test_a_replaced_original_changes_its_rendition_within_revalidate_seconds(edge, s3):
    put_photo(s3, "replaced.jpg", (250, 0, 0))
    asked = {"x-oss-process": "image/resize,w_50"}
    first = edge.get("/pics/replaced.jpg", params=asked)
    assert open_image(first).getpixel((25, 20))[0] > 200
    time.sleep(1.5)  # past revalidate_seconds: the next look is a conditional HEAD, answered 304
    assert edge.get("/pics/replaced.jpg", params=asked).headers["ETag"] == first.headers["ETag"]
    path = "/originals/photos/replaced.jpg"
    assert [r[2:] for r in s3.requests("HEAD", path)][-1] == ["304", "cond"]
    assert len(s3.requests("GET", path)) == 1
    put_photo(s3, "replaced.jpg", (0, 0, 250))
    deadline = time.monotonic() + 3
    while (answer := edge.get("/pics/replaced.jpg", params=asked)).headers["ETag"] == first.headers["ETag"]:
        assert time.monotonic() < deadline, "the rendition did not change within revalidate_seconds"
        time.sleep(0.2)
    assert open_image(answer).getpixel((25, 20))[2] > 200
    assert len(s3.requests("GET", path)) == 2


def test_saveas_into_an_s3_bucket(edge, s3):
    bucket = oss2.Bucket(oss2.Auth(KEY_ID, SECRET), f"http://127.0.0.1:{edge.port}", "vault")
    target = base64.urlsafe_b64encode(b"thumbs/photo-100.png").decode().rstrip("=")
    name = base64.urlsafe_b64encode(b"saved").decode().rstrip("=")
    result = bucket.process_object("photo.jpg", f"image/resize,w_100/format,png|sys/saveas,o_{target},b_{name}")
    assert result.status == 200
    stored = s3.client().get_object(Bucket="saved", Key="out/thumbs/photo-100.png")
    assert stored["ContentType"] == "image/png" and size_of(stored["Body"].read()) == (100, 75)
    # Readable through edge as an object of that bucket.
    assert open_image(edge.get("/saved/thumbs/photo-100.png")).size == (100, 75)


def test_saveas_refuses_a_key_with_dot_segments(edge):
    bucket = oss2.Bucket(oss2.Auth(KEY_ID, SECRET), f"http://127.0.0.1:{edge.port}", "vault")
    target = base64.urlsafe_b64encode(b"a/../b.png").decode().rstrip("=")
    name = base64.urlsafe_b64encode(b"saved").decode().rstrip("=")
    with pytest.raises(oss2.exceptions.OssError) as refused:
        bucket.process_object("photo.jpg", f"image/resize,w_10|sys/saveas,o_{target},b_{name}")
    assert refused.value.status == 400 and refused.value.code == "InvalidObjectName"


def test_readyz_and_metrics_with_a_reachable_bucket(edge):
    ready = edge.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert edge.metric("edge_source_bytes_total") > 0


def test_throttling_and_5xx_are_retried_a_bounded_number_of_times(edge, s3):
    put_photo(s3, "flaky.jpg", (0, 200, 0))
    path = "/originals/photos/flaky.jpg"
    s3.fail("originals", "photos/flaky.jpg", 503, "SlowDown", times=2)
    answer = edge.get("/pics/flaky.jpg", params={"x-oss-process": "image/resize,w_40"})
    assert open_image(answer).size == (40, 30)
    assert [line[2] for line in s3.requests("GET", path)] == ["503", "503", "200"]
    put_photo(s3, "broken.jpg", (0, 0, 200))
    s3.fail("originals", "photos/broken.jpg", 500, "InternalError", times=10)
    answer = edge.get("/pics/broken.jpg", params={"x-oss-process": "image/resize,w_40"})
    assert answer.status_code == 502 and answer.headers["Retry-After"] == "2"
    assert "<Code>SourceUnavailable</Code>" in answer.text and "injected" not in answer.text
    assert "answered 500 InternalError" in answer.text
    assert len(s3.requests("GET", "/originals/photos/broken.jpg")) == 3  # ATTEMPTS tries, then our 502


def test_credentials_from_the_aws_environment(tmp_path, s3, monkeypatch):
    from s3server import ACCESS_KEY_ID, SECRET_ACCESS_KEY

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)  # the edge process inherits them
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
    with Server(tmp_path, f"""
[server]
port = {{port}}
workers = 1
[buckets.pics]
source = "s3://originals/photos"
[buckets.pics.s3]
endpoint_url = "{s3.url}"
addressing_style = "path"
""", name="env-keys") as srv:
        assert open_image(srv.get("/pics/photo.jpg", params={"x-oss-process": "image/resize,w_40"})).size == (40, 30)
        assert srv.get("/readyz").status_code == 200
