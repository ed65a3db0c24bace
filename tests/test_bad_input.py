"""Bad input of every kind is a clear 4xx OSS error, and the next normal request still works.

In-process (conftest.InProcessServer): the workers are real; no `edge serve` process is needed."""

import pytest
import requests

from conftest import InProcessServer, main_toml, open_image, process


@pytest.fixture(scope="module")
def server(samples):
    """In place of conftest's `server` here: its config less the nginx bucket, served in-process."""
    with InProcessServer(main_toml(samples)) as srv:
        yield srv


def assert_error(response, status, code, *words):
    assert response.status_code == status, response.text[:300]
    assert response.headers["Content-Type"].startswith("application/xml")
    assert f"<Code>{code}</Code>" in response.text
    assert "<RequestId>" in response.text and response.headers["x-oss-request-id"] in response.text
    for word in words:
        assert word in response.text


@pytest.mark.parametrize("proc, code, words", [
    ("image/sharpenn,100", "InvalidArgument", "unknown image action"),
    ("image/resize,w_100,foo_1", "InvalidArgument", "unknown parameter foo"),
    ("image/resize,w_99999", "InvalidArgument", "w must be in"),
    ("image/resize,h_0", "InvalidArgument", "h must be in"),
    ("image/crop,g_up", "InvalidArgument", "g_up"),
    ("image/rotate,-90", "InvalidArgument", "rotate"),
    ("image/resize", "MissingArgument", "resize"),
    ("image/resize,w_", "InvalidArgument", "w must be an integer"),
    ("style", "InvalidArgument", "unsupported process type"),
    ("", "InvalidArgument", "x-oss-process is empty"),
    ("image/resize,w_10/format,exe", "InvalidArgument", "format: exe"),
    ("image/resize,m_fixed,w_16384,h_16384,limit_0", "ImageTooLarge", "16384x16384"),
])
def test_bad_process_parameters(server, proc, code, words):
    assert_error(process(server, "photo.jpg", proc), 400, code, words)
    assert open_image(process(server, "photo.jpg", "image/resize,w_10")).size == (10, 8)


def test_crop_start_outside_the_image(server):
    assert_error(process(server, "quadrants.png", "image/crop,x_400,y_10"), 400, "BadRequest", "outside")


def test_rotate_of_a_source_over_4096(server):
    # 4000x4000 is allowed; the manual caps rotation at sides of 4096.
    response = process(server, "big.png", "image/resize,p_200,limit_0/rotate,90")
    assert_error(response, 400, "ImageTooLarge")


def test_missing_key_and_bucket(server):
    assert_error(server.get("/test/nope.jpg"), 404, "NoSuchKey")
    assert_error(process(server, "nope.jpg", "image/resize,w_10"), 404, "NoSuchKey")
    assert_error(server.get("/nobucket/photo.jpg"), 404, "NoSuchBucket", "nobucket")
    assert_error(server.get("/"), 404, "NoSuchBucket")
    assert_error(server.get("/test/"), 400, "InvalidArgument", "no object key")
    assert_error(server.get("/test/nested"), 404, "NoSuchKey")  # a folder is not an object


@pytest.mark.parametrize("raw_path, status", [
    ("/test/../../../../etc/passwd", 400),
    ("/test/%2e%2e/%2e%2e/etc/passwd", 400),
    ("/test/nested/..%2F..%2F..%2Fetc%2Fpasswd", 400),
    ("/test/nested%2F..%2F..%2Fphoto.jpg", 400),
    ("/test/photo.jpg%00.png", 400),
    ("/test/nested//deep%20name.jpg", 400),
    ("/test/escape.jpg", 404),               # a symlink that leads out of the folder
    ("/test/..%5C..%5Cetc%5Cpasswd", 400),
])
def test_keys_never_escape_the_folder(server, raw_path, status):
    # Sent raw, so no client normalises the dots away first.
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.request("GET", raw_path + "?x-oss-process=image/resize,w_10")
    response = connection.getresponse()
    body = response.read().decode()
    assert response.status == status, body
    assert response.status != 200 and "root:" not in body
    assert "<Error>" in body
    connection.request("GET", raw_path)
    response = connection.getresponse()
    assert response.status != 200 and "root:" not in response.read().decode()
    connection.close()


@pytest.mark.parametrize("key, code, words", [
    ("truncated.jpg", "BadRequest", "corrupt or truncated"),
    ("empty.jpg", "BadRequest", "empty"),
    ("text.jpg", "BadRequest", "not an image"),
    ("garbage.png", "BadRequest", ""),
    ("huge-header.png", "ImageTooLarge", "100000x100000"),
])
def test_hostile_sources(server, key, code, words):
    assert_error(process(server, key, "image/resize,w_10"), 400, code, words)
    assert open_image(process(server, "photo.jpg", "image/resize,w_11")).size == (11, 8)


def test_methods_other_than_get_and_head(server):
    assert_error(requests.put(server.url("/test/photo.jpg"), data=b"x", timeout=10), 405, "MethodNotAllowed")
    assert_error(requests.delete(server.url("/test/photo.jpg"), timeout=10), 405, "MethodNotAllowed")


def test_every_answer_has_a_request_id(server):
    for path in ("/healthz", "/readyz", "/metrics", "/test/photo.jpg", "/test/nope.jpg"):
        assert len(server.get(path).headers["x-oss-request-id"]) == 24


def test_a_folder_that_leads_outside_is_refused_even_after_it_was_swapped_for_a_symlink(tmp_path, monkeypatch):
    import asyncio
    import os

    import edge.sources.file as file_source
    from edge.errors import NoSuchKey

    bucket, outside = tmp_path / "bucket", tmp_path / "outside"
    (bucket / "album").mkdir(parents=True)
    outside.mkdir()
    for folder in (bucket / "album", outside):
        (folder / "a.jpg").write_bytes(b"jpeg")
    os.symlink(outside, bucket / "linked")
    source = file_source.FileSource(str(bucket))
    clock = [1000.0]
    monkeypatch.setattr(file_source.time, "monotonic", lambda: clock[0])

    assert asyncio.run(source.stat("album/a.jpg")).path == str(bucket / "album" / "a.jpg")
    with pytest.raises(NoSuchKey):
        asyncio.run(source.stat("linked/a.jpg"))
    (bucket / "album").rename(tmp_path / "moved")
    os.symlink(outside, bucket / "album")
    clock[0] += file_source._FOLDER_SECONDS + 0.01  # the folder's resolved path is reused no longer
    with pytest.raises(NoSuchKey):
        asyncio.run(source.stat("album/a.jpg"))
