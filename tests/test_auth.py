"""OSS signatures as the oss2 SDK makes them (V1 and V4, headers and signed URLs), private buckets,
and source image protection.

In-process (conftest.InProcessServer): the SDKs sign and send real requests to its port; the workers
are real; no `edge serve` process is needed."""

import io
from datetime import datetime, timedelta

import oss2
import pytest
import requests
from PIL import Image

from conftest import InProcessServer, open_image
from test_bad_input import assert_error

KEY_ID, SECRET = "LTAI5tTestKeyId", "test-secret"
REGION = "cn-hangzhou"


@pytest.fixture(scope="module")
def guarded(samples):
    """Bucket `vault` (private, also bound to Host vault.edge.test) and `guarded` (source image
    protection on .jpg); both hold the access key KEY_ID and the style `thumb`."""
    buckets = ""
    for name, extra in (("vault", 'private = true\ndomains = ["vault.edge.test"]'),
                        ("guarded", "")):
        buckets += f"""
[buckets.{name}]
source = "file://{samples}"
{extra}

[buckets.{name}.styles]
thumb = "image/resize,m_fill,w_100,h_100/format,png"

[buckets.{name}.access_keys]
{KEY_ID} = "{SECRET}"
"""
    with InProcessServer(f"""
[server]
port = {{port}}
workers = 1
{buckets}
[buckets.guarded.protection]
enabled = true
suffixes = [".JPG"]
""") as srv:
        yield srv


def sdk(server, version="v1", secret=SECRET, key_id=KEY_ID, bucket="vault"):
    auth = oss2.AuthV4(key_id, secret) if version == "v4" else oss2.Auth(key_id, secret)
    return oss2.Bucket(auth, f"http://127.0.0.1:{server.port}", bucket, region=REGION)


def size_of(body: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(body)).size


# -- signed requests ------------------------------------------------------------------


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_oss2_signed_requests_get_everything_from_a_private_bucket(guarded, samples, version):
    bucket = sdk(guarded, version)
    assert bucket.get_object("photo.jpg").read() == (samples / "photo.jpg").read_bytes()
    assert size_of(bucket.get_object("photo.jpg", process="image/resize,w_100").read()) == (100, 75)
    assert size_of(bucket.get_object("photo.jpg", process="style/thumb").read()) == (100, 100)
    assert size_of(bucket.get_object("photo.jpg@!thumb").read()) == (100, 100)  # signed as sent
    assert size_of(bucket.get_object("nested/deep name.jpg").read()) == (120, 80)
    assert bucket.head_object("photo.jpg").content_length == (samples / "photo.jpg").stat().st_size


def test_oss2_signed_request_through_a_bound_domain(guarded):
    # As behind a CNAME: Host vault.edge.test, path /<key>; oss2 still signs /<bucket>/<key>.
    bucket = oss2.Bucket(oss2.Auth(KEY_ID, SECRET), f"http://vault.edge.test:{guarded.port}", "vault",
                         is_cname=True, proxies={"http": f"http://127.0.0.1:{guarded.port}"})
    assert size_of(bucket.get_object("photo.jpg", process="image/resize,w_60").read()) == (60, 45)


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_oss2_signed_urls(guarded, version):
    bucket = sdk(guarded, version)
    url = bucket.sign_url("GET", "photo.jpg", 60, params={"x-oss-process": "image/resize,w_100"})
    assert open_image(requests.get(url, timeout=10)).size == (100, 75)
    # A key with a folder: sign_url encodes its '/' as %2F.
    url = bucket.sign_url("GET", "nested/deep name.jpg", 60)
    assert open_image(requests.get(url, timeout=10)).size == (120, 80)


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_the_alibabacloud_oss_v2_sdk(guarded, version):
    import alibabacloud_oss_v2 as oss
    config = oss.config.load_default()
    config.credentials_provider = oss.credentials.StaticCredentialsProvider(KEY_ID, SECRET)
    config.region, config.endpoint = REGION, f"http://127.0.0.1:{guarded.port}"
    config.use_path_style, config.signature_version = True, version
    client = oss.Client(config)
    asked = oss.GetObjectRequest(bucket="vault", key="photo.jpg", process="image/resize,w_100")
    assert size_of(client.get_object(asked).body.read()) == (100, 75)
    assert open_image(requests.get(client.presign(asked).url, timeout=10)).size == (100, 75)


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_a_tampered_signed_url_is_refused(guarded, version):
    url = sdk(guarded, version).sign_url("GET", "photo.jpg", 60, params={"x-oss-process": "image/resize,w_100"})
    assert_error(requests.get(url.replace("w_100", "w_900"), timeout=10), 403, "SignatureDoesNotMatch")
    assert_error(requests.get(url.replace("photo.jpg", "small.jpg"), timeout=10), 403, "SignatureDoesNotMatch")


def test_an_expired_v1_url_is_refused(guarded):
    url = sdk(guarded).sign_url("GET", "photo.jpg", -60)
    assert_error(requests.get(url, timeout=10), 403, "AccessDenied", "expired")
    later = sdk(guarded).sign_url("GET", "photo.jpg", 60)
    expires = later.split("Expires=")[1].split("&")[0]
    longer = later.replace(f"Expires={expires}", f"Expires={int(expires) + 3600}")
    assert_error(requests.get(longer, timeout=10), 403, "SignatureDoesNotMatch")


def test_an_expired_v4_url_is_refused(guarded, monkeypatch):
    class AnHourAgo(datetime):
        @classmethod
        def utcnow(cls):
            return datetime.utcnow() - timedelta(hours=1)

    monkeypatch.setattr(oss2.auth, "datetime", AnHourAgo)
    url = sdk(guarded, "v4").sign_url("GET", "photo.jpg", 60)
    assert_error(requests.get(url, timeout=10), 403, "AccessDenied", "expired")


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_a_wrong_secret_or_key_id_is_refused(guarded, version):
    with pytest.raises(oss2.exceptions.SignatureDoesNotMatch):
        sdk(guarded, version, secret="not-the-secret").get_object("photo.jpg")
    with pytest.raises(oss2.exceptions.ServerError) as raised:
        sdk(guarded, version, key_id="LTAI5tNobody").get_object("photo.jpg")
    assert raised.value.status == 403 and raised.value.code == "InvalidAccessKeyId"


def test_a_header_signed_request_from_an_hour_ago_is_refused(guarded, monkeypatch):
    stale = (datetime.utcnow() - timedelta(hours=1)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    monkeypatch.setattr(oss2.utils, "http_date", lambda *args: stale)
    with pytest.raises(oss2.exceptions.ServerError) as raised:
        sdk(guarded).get_object("photo.jpg")
    assert raised.value.status == 403 and raised.value.code == "RequestTimeTooSkewed"


def test_signature_version_2_is_refused_clearly(guarded):
    bucket = oss2.Bucket(oss2.AuthV2(KEY_ID, SECRET), f"http://127.0.0.1:{guarded.port}", "vault")
    with pytest.raises(oss2.exceptions.AccessDenied) as raised:
        bucket.get_object("photo.jpg")
    assert "version 2" in raised.value.message


# -- private buckets and source image protection --------------------------------------


@pytest.mark.parametrize("path", ["/vault/photo.jpg", "/vault/photo.jpg?x-oss-process=image/resize,w_10",
                                  "/vault/photo.jpg?x-oss-process=style/thumb", "/vault/photo.jpg@!thumb",
                                  "/vault/missing.jpg"])
def test_an_unsigned_request_to_a_private_bucket_is_refused(guarded, path):
    assert_error(guarded.get(path), 403, "AccessDenied", "private")


@pytest.mark.parametrize("path", ["/guarded/photo.jpg", "/guarded/photo.jpg?x-oss-process=image/resize,w_10",
                                  "/guarded/photo.jpg?x-oss-process=style/thumb/rotate,90",
                                  "/guarded/photo.jpg@100w", "/guarded/photo.jpg?imageMogr2/format/png"])
def test_protection_refuses_anonymous_originals_and_free_processing(guarded, path):
    assert_error(guarded.get(path), 403, "AccessDenied", "protection")


@pytest.mark.parametrize("path", ["/guarded/photo.jpg?x-oss-process=style/thumb", "/guarded/photo.jpg@!thumb"])
def test_protection_lets_styles_through(guarded, path):
    assert open_image(guarded.get(path)).size == (100, 100)


def test_protection_covers_only_its_suffixes(guarded, samples):
    assert guarded.get("/guarded/quadrants.png").content == (samples / "quadrants.png").read_bytes()
    assert open_image(guarded.get("/guarded/quadrants.png?x-oss-process=image/resize,w_30")).size == (30, 20)


def test_signed_requests_pass_protection(guarded, samples):
    bucket = sdk(guarded, bucket="guarded")
    assert bucket.get_object("photo.jpg").read() == (samples / "photo.jpg").read_bytes()
    assert size_of(bucket.get_object("photo.jpg", process="image/resize,w_10").read()) == (10, 8)
    url = bucket.sign_url("GET", "photo.jpg@100w", 60)
    assert open_image(requests.get(url, timeout=10)).size == (100, 75)


# -- what a shared cache may keep -------------------------------------------------------


@pytest.mark.parametrize("process", [None, "image/resize,w_100"])
def test_answers_that_needed_a_signature_are_private(guarded, process):
    bucket = sdk(guarded, "v1")
    params = {"x-oss-process": process} if process else None
    url = bucket.sign_url("GET", "photo.jpg", 60, params=params)
    signed = requests.get(url, timeout=10)
    assert signed.status_code == 200 and signed.headers["Cache-Control"] == "private"
    anonymous = requests.get(guarded.url("/guarded/photo.jpg@!thumb"), timeout=10)
    assert anonymous.status_code == 200 and anonymous.headers["Cache-Control"].startswith("public")
