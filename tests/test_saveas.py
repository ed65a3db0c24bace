"""saveas: POST ...?x-oss-process with `<process>|sys/saveas,o_,b_`, signed, written atomically."""

import base64
import email.utils
import hashlib
import hmac
import io
import os
import socket
import time

import oss2
import pytest
import requests
from PIL import Image

from conftest import Server
from edge import saveas
from edge.sources import file as file_source
from edge.sources.file import write_atomically

KEY_ID, SECRET = "LTAI5tSaveKey", "save-secret"
OTHER_ID, OTHER_SECRET = "LTAI5tOtherKey", "other-secret"


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.fixture(scope="module")
def saving(tmp_path_factory, samples, nginx):
    folders = {name: tmp_path_factory.mktemp(name) for name in ("photos", "archive", "locked")}
    (folders["photos"] / "photo.jpg").write_bytes((samples / "photo.jpg").read_bytes())
    with Server(tmp_path_factory.mktemp("saveas-server"), f"""
[server]
port = {{port}}
workers = 1
[buckets.photos]
source = "file://{folders['photos']}"
[buckets.photos.access_keys]
{KEY_ID} = "{SECRET}"
{OTHER_ID} = "{OTHER_SECRET}"
[buckets.archive]
source = "file://{folders['archive']}"
[buckets.archive.access_keys]
{KEY_ID} = "{SECRET}"
[buckets.locked]
source = "file://{folders['locked']}"
[buckets.locked.access_keys]
{OTHER_ID} = "{OTHER_SECRET}"
[buckets.web]
source = "{nginx}/"
[buckets.web.access_keys]
{KEY_ID} = "{SECRET}"
""", name="saveas") as srv:
        srv.folders = folders
        yield srv


def sdk(srv, key_id=KEY_ID, secret=SECRET, bucket="photos"):
    return oss2.Bucket(oss2.Auth(key_id, secret), f"http://127.0.0.1:{srv.port}", bucket)


def test_oss2_process_object_saves_into_another_bucket(saving):
    result = sdk(saving).process_object(
        "photo.jpg", f"image/resize,w_100/format,png|sys/saveas,o_{b64('thumbs/p100.png')},b_{b64('archive')}")
    assert result.status == 200
    assert (result.bucket, result.object, result.process_status) == ("archive", "thumbs/p100.png", "OK")
    saved = saving.folders["archive"] / "thumbs" / "p100.png"
    assert result.fileSize == saved.stat().st_size
    assert Image.open(saved).size == (100, 75) and Image.open(saved).format == "PNG"
    assert not [p for p in saved.parent.iterdir() if p.name.endswith(".saving")]


def test_without_b_the_result_stays_in_the_same_bucket(saving):
    result = sdk(saving).process_object("photo.jpg", f"image/resize,w_64|sys/saveas,o_{b64('small.jpg')}")
    assert result.bucket == "photos" and result.fileSize > 0
    assert Image.open(saving.folders["photos"] / "small.jpg").size == (64, 48)
    # And it is an object like any other.
    fetched = requests.get(saving.url("/photos/small.jpg"), timeout=10)
    assert Image.open(io.BytesIO(fetched.content)).size == (64, 48)


def post(saving, body: str, **headers):
    return requests.post(saving.url("/photos/photo.jpg?x-oss-process"), data=body, headers=headers, timeout=30)


def test_unsigned_or_wrongly_signed_is_403(saving):
    response = post(saving, f"x-oss-process=image/resize,w_10|sys/saveas,o_{b64('x.jpg')}")
    assert response.status_code == 403 and "<Code>AccessDenied</Code>" in response.text
    with pytest.raises(oss2.exceptions.ServerError) as raised:
        sdk(saving, secret="wrong").process_object("photo.jpg", f"image/resize,w_10|sys/saveas,o_{b64('x.jpg')}")
    assert raised.value.status == 403 and raised.value.code == "SignatureDoesNotMatch"
    assert not (saving.folders["photos"] / "x.jpg").exists()


def test_a_key_the_target_bucket_does_not_hold_may_not_write_there(saving):
    with pytest.raises(oss2.exceptions.AccessDenied):
        sdk(saving).process_object("photo.jpg", f"image/resize,w_10|sys/saveas,o_{b64('x.jpg')},b_{b64('locked')}")
    assert not (saving.folders["locked"] / "x.jpg").exists()


@pytest.mark.parametrize("process, status, code", [
    (f"image/resize,w_10|sys/saveas,o_{b64('x.jpg')},b_{b64('nowhere')}", 400, "InvalidArgument"),
    (f"image/resize,w_10|sys/saveas,o_{b64('x.jpg')},b_{b64('web')}", 501, "NotImplemented"),
    (f"image/resize,w_10|sys/saveas,o_{b64('../../escape.jpg')}", 400, "InvalidObjectName"),
    ("image/resize,w_10|sys/saveas,o_!!!", 400, "InvalidArgument"),
    ("image/resize,w_10|sys/saveas,b_" + b64("archive"), 400, "MissingArgument"),
    ("image/resize,w_10", 400, "MissingArgument"),
    (f"image/resize,w_0|sys/saveas,o_{b64('x.jpg')}", 400, "InvalidArgument"),
])
def test_bad_saveas_requests(saving, process, status, code):
    with pytest.raises(oss2.exceptions.OssError) as raised:
        sdk(saving).process_object("photo.jpg", process)
    assert (raised.value.status, raised.value.code) == (status, code)


def test_saveas_in_a_get_is_400(saving):
    response = requests.get(saving.url("/photos/photo.jpg"), timeout=10,
                            params={"x-oss-process": f"image/resize,w_10|sys/saveas,o_{b64('g.jpg')}"})
    assert response.status_code == 400 and "signed POST" in response.text


def test_a_crash_in_the_middle_of_a_write_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "bucket" / "out.jpg"
    write_atomically(str(target), b"old and whole")

    def crash(fd):
        raise OSError("power cut while flushing")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError):
        write_atomically(str(target), b"new" * 100_000)
    assert target.read_bytes() == b"old and whole"  # the old object, whole
    assert os.listdir(target.parent) == ["out.jpg"]  # no temporary left behind


def test_a_save_removes_the_stale_temporaries_a_killed_server_left_and_nobody_reads_them(saving):
    folder = saving.folders["archive"] / "swept"
    folder.mkdir()
    stale, fresh = folder / ".t.jpg.4242.0badcafe.saving", folder / ".t.jpg.4343.0000beef.saving"
    for path in (stale, fresh):
        path.write_bytes(b"half a jpeg")
    two_hours_ago = time.time() - 2 * file_source.STALE_TEMPORARY_SECONDS
    os.utime(stale, (two_hours_ago, two_hours_ago))
    for bucket, key in (("archive", "swept/" + stale.name), ("archive", "swept/" + fresh.name)):
        response = requests.get(saving.url(f"/{bucket}/{key}"), timeout=10)
        assert response.status_code == 400 and "temporary file of a save" in response.text
    sdk(saving).process_object("photo.jpg", f"image/resize,w_20|sys/saveas,o_{b64('swept/t.jpg')},b_{b64('archive')}")
    assert sorted(p.name for p in folder.iterdir()) == [fresh.name, "t.jpg"]  # the young one may be a save under way


# -- The body: read only for a signed caller, whole, within saveas.BODY_SECONDS ------------------


def _raw_post(saving, body: bytes, *, length: int | None = None, sign: bool = True, md5: str | None = None,
              pieces: int = 1, then_close: bool = False, wait: float = 30) -> tuple[bytes, float]:
    """POST /photos/photo.jpg?x-oss-process over a raw socket, V1-signed as oss2 signs it (the body is
    not signed, only a Content-MD5 if sent): (what came back before the server closed, seconds)."""
    date = email.utils.formatdate(usegmt=True)
    kind = "application/x-www-form-urlencoded"
    head = ["POST /photos/photo.jpg?x-oss-process HTTP/1.1", "Host: 127.0.0.1", f"Date: {date}",
            f"Content-Type: {kind}", f"Content-Length: {len(body) if length is None else length}"]
    if md5 is not None:
        head.append(f"Content-MD5: {md5}")
    if sign:
        to_sign = f"POST\n{md5 or ''}\n{kind}\n{date}\n/photos/photo.jpg?x-oss-process"
        signature = base64.b64encode(hmac.new(SECRET.encode(), to_sign.encode(), hashlib.sha1).digest()).decode()
        head.append(f"Authorization: OSS {KEY_ID}:{signature}")
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", saving.port), timeout=wait) as sock:
        sock.sendall("\r\n".join(head + ["", ""]).encode())
        step = -(-len(body) // pieces) if body else 1
        for start in range(0, len(body), step):
            time.sleep(0.3)
            sock.sendall(body[start:start + step])
        if then_close:
            time.sleep(0.3)
            return b"", time.monotonic() - started
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
                if b"\r\n\r\n" in answer and len(answer.partition(b"\r\n\r\n")[2]) >= _length(answer):
                    break
        except socket.timeout:
            pass
    return answer, time.monotonic() - started


def _length(answer: bytes) -> int:
    for line in answer.partition(b"\r\n\r\n")[0].split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            return int(value)
    return 0


def _form(key: str) -> bytes:
    return f"x-oss-process=image/resize,w_10|sys/saveas,o_{b64(key)}".encode()


def test_an_unsigned_saveas_is_refused_before_its_body_is_read(saving):
    # Content-Length: 10 and no body: the answer must not wait for it (issue 16.8).
    answer, seconds = _raw_post(saving, b"", length=10, sign=False, wait=5)
    assert answer.startswith(b"HTTP/1.1 403 ") and b"<Code>AccessDenied</Code>" in answer
    assert seconds < 2


@pytest.mark.slow
def test_a_body_that_never_comes_is_answered_at_the_body_deadline(saving):
    answer, seconds = _raw_post(saving, b"", length=10, wait=saveas.BODY_SECONDS + 5)
    assert answer.startswith(b"HTTP/1.1 400 ") and b"<Code>RequestTimeout</Code>" in answer
    assert saveas.BODY_SECONDS <= seconds < saveas.BODY_SECONDS + 2


def test_a_body_that_arrives_in_pieces_is_read_whole(saving):
    answer, _ = _raw_post(saving, _form("pieces.jpg"), pieces=3)
    assert answer.startswith(b"HTTP/1.1 200 "), answer
    assert Image.open(saving.folders["photos"] / "pieces.jpg").size == (10, 8)


@pytest.mark.parametrize("sent", [b"", b"x-oss-process=image/res"])
def test_a_client_that_hangs_up_in_the_middle_of_its_body_is_not_an_error_of_ours(saving, sent):
    before = saving.metric("edge_requests_total", dialect="saveas", status="499")
    _raw_post(saving, sent, length=200, then_close=True)
    deadline = time.monotonic() + 5
    while saving.metric("edge_requests_total", dialect="saveas", status="499") == before:
        assert time.monotonic() < deadline, saving.logs()[-2000:]
        time.sleep(0.1)
    assert saving.metric("edge_requests_total", status="500") == 0
    assert "Traceback" not in saving.logs() and " ERROR " not in saving.logs()


@pytest.mark.parametrize("matching, status", [(True, b"200"), (False, b"400")])
def test_a_signed_content_md5_binds_the_body(saving, matching, status):
    body = _form("md5.jpg")
    md5 = base64.b64encode(hashlib.md5(body if matching else b"another body").digest()).decode()
    answer, _ = _raw_post(saving, body, md5=md5)
    assert answer.startswith(b"HTTP/1.1 " + status + b" "), answer
    assert matching or b"<Code>InvalidDigest</Code>" in answer
