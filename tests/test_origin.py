"""Addressing, sources and pass-through of originals (Range, conditionals, HEAD), and the oss2 SDK."""

import hashlib

import oss2
import pytest
import requests

from conftest import open_image, process


def test_path_style_serves_the_original_with_validators(server, samples):
    response = server.get("/test/photo.jpg")
    assert response.status_code == 200
    assert response.content == (samples / "photo.jpg").read_bytes()
    assert response.headers["Content-Type"] == "image/jpeg"
    assert response.headers["ETag"] and response.headers["Last-Modified"]
    assert response.headers["Cache-Control"] == "public, max-age=600"
    assert len(response.headers["x-oss-request-id"]) == 24


def test_no_answer_names_our_software_versions(server):
    answers = [server.get("/test/photo.jpg"), process(server, "photo.jpg", "image/resize,w_20"),
               server.get("/test/nope.jpg"), process(server, "photo.jpg", "image/resize,w_0"),
               server.get("/healthz"), server.get("/metrics")]
    assert [a.status_code for a in answers] == [200, 200, 404, 400, 200, 200]
    for answer in answers:
        assert answer.headers["Server"] == "edge"


def test_keys_with_folders_and_spaces(server):
    assert open_image(server.get("/test/nested/deep%20name.jpg")).size == (120, 80)
    assert open_image(process(server, "nested/deep name.jpg", "image/resize,w_60")).size == (60, 40)


def test_range_request_on_an_original(server, samples):
    response = server.get("/test/photo.jpg", headers={"Range": "bytes=0-9"})
    assert response.status_code == 206
    assert response.content == (samples / "photo.jpg").read_bytes()[:10]
    assert response.headers["Content-Range"].startswith("bytes 0-9/")
    assert server.get("/test/photo.jpg", headers={"Range": "bytes=999999-"}).status_code == 416


def test_conditional_requests_on_an_original(server):
    first = server.get("/test/photo.jpg")
    assert server.get("/test/photo.jpg", headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    assert server.get("/test/photo.jpg",
                      headers={"If-Modified-Since": first.headers["Last-Modified"]}).status_code == 304
    assert server.get("/test/photo.jpg", headers={"If-None-Match": '"other"'}).status_code == 200


def test_head_of_an_original_and_of_a_rendition(server):
    head = requests.head(server.url("/test/photo.jpg"), timeout=10)
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["Content-Length"]) == len(server.get("/test/photo.jpg").content)
    url = server.url("/test/photo.jpg?x-oss-process=image/resize,w_33")
    head = requests.head(url, timeout=10)
    body = requests.get(url, timeout=10)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["ETag"] == body.headers["ETag"]
    assert int(head.headers["Content-Length"]) == len(body.content)


def test_rendition_headers_and_304(server):
    response = process(server, "photo.jpg", "image/resize,w_120")
    assert response.headers["Content-Type"] == "image/jpeg"
    etag = response.headers["ETag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert response.headers["Cache-Control"] == "public, max-age=600"
    assert response.headers["Last-Modified"] == server.get("/test/photo.jpg").headers["Last-Modified"]
    again = process(server, "photo.jpg", "image/resize,w_120")
    assert again.headers["X-Cache"] == "HIT" and again.content == response.content
    not_modified = server.get("/test/photo.jpg", params={"x-oss-process": "image/resize,w_120"},
                              headers={"If-None-Match": etag})
    assert not_modified.status_code == 304 and not_modified.headers["ETag"] == etag
    other = process(server, "photo.jpg", "image/resize,w_121")
    assert other.headers["ETag"] != etag


def test_same_rendition_in_other_spellings_is_one_cache_entry(server):
    first = process(server, "photo.jpg", "image/resize,w_77,h_77/format,png")
    second = process(server, "photo.jpg", "image/format,png/resize,h_77,w_77,m_lfit")
    assert second.headers["X-Cache"] == "HIT"
    assert second.content == first.content and second.headers["ETag"] == first.headers["ETag"]


def test_domain_bound_bucket(server):
    # Host img.edge.test is bound to bucket "test": the path is the key.
    response = server.get("/photo.jpg", params={"x-oss-process": "image/resize,w_50"},
                          headers={"Host": "img.edge.test"})
    assert open_image(response).size == (50, 38)
    assert server.get("/photo.jpg", headers={"Host": f"IMG.edge.test:{server.port}"}).status_code == 200


def test_nginx_upstream_and_folder_give_identical_bytes(server):
    assert server.get("/web/photo.jpg").content == server.get("/test/photo.jpg").content
    for proc in ("image/resize,w_150/format,webp", "image/crop,w_50,h_50,g_center/rotate,90"):
        via_http = process(server, "quadrants.png", proc, bucket="web")
        via_folder = process(server, "quadrants.png", proc, bucket="test")
        assert via_http.status_code == 200
        assert hashlib.sha256(via_http.content).digest() == hashlib.sha256(via_folder.content).digest()


def test_nginx_upstream_pass_through_supports_range_and_conditionals(server, samples):
    ranged = server.get("/web/photo.jpg", headers={"Range": "bytes=10-19"})
    assert ranged.status_code == 206 and ranged.content == (samples / "photo.jpg").read_bytes()[10:20]
    etag = server.get("/web/photo.jpg").headers["ETag"]
    assert server.get("/web/photo.jpg", headers={"If-None-Match": etag}).status_code == 304


def test_nginx_upstream_missing_key_is_no_such_key(server):
    response = process(server, "missing.jpg", "image/resize,w_10", bucket="web")
    assert response.status_code == 404 and "<Code>NoSuchKey</Code>" in response.text
    assert server.get("/web/missing.jpg").status_code == 404


def test_unreachable_upstream_is_our_own_502(tmp_path):
    from conftest import Server, free_port

    dead = free_port()
    with Server(tmp_path, f"""
[server]
port = {{port}}
workers = 1
[limits]
connect_timeout = 1
[buckets.gone]
source = "http://127.0.0.1:{dead}/"
""", name="dead-upstream") as srv:
        for path in ("/gone/a.jpg", "/gone/a.jpg?x-oss-process=image/resize,w_5"):
            response = srv.get(path)
            assert response.status_code == 502
            assert "<Code>SourceUnavailable</Code>" in response.text
            assert "Traceback" not in response.text
        assert srv.get("/readyz").status_code == 503


@pytest.mark.parametrize("cname", [True, False])
def test_oss2_sdk_gets_a_processed_image(server, tmp_path, cname):
    if cname:
        # A custom domain bound to the bucket, as behind a CNAME; the proxy setting only
        # carries the connection to 127.0.0.1: the request still says Host: img.edge.test.
        bucket = oss2.Bucket(oss2.AnonymousAuth(), f"http://img.edge.test:{server.port}", "test", is_cname=True,
                             proxies={"http": f"http://127.0.0.1:{server.port}"})
    else:
        bucket = oss2.Bucket(oss2.AnonymousAuth(), f"http://127.0.0.1:{server.port}", "test")
    result = bucket.get_object("photo.jpg", process="image/resize,w_100")
    from PIL import Image
    import io

    im = Image.open(io.BytesIO(result.read()))
    assert im.size == (100, 75)
    assert result.request_id
    target = tmp_path / "out.jpg"
    bucket.get_object_to_file("photo.jpg", str(target), process="image/resize,m_fixed,w_100,h_100")
    assert Image.open(target).size == (100, 100)
    with pytest.raises(oss2.exceptions.NoSuchKey):
        bucket.get_object("nope.jpg", process="image/resize,w_100")


def test_pipes_chain_process_strings_up_to_four(server):
    piped = process(server, "photo.jpg", "image/resize,w_200|image/rotate,90|image/format,png")
    joined = process(server, "photo.jpg", "image/resize,w_200/rotate,90/format,png")
    assert piped.status_code == 200 and piped.content == joined.content
    assert piped.headers["ETag"] == joined.headers["ETag"] and joined.headers["X-Cache"] == "HIT"
    four = process(server, "photo.jpg", "|".join(["image/resize,w_100"] * 4))
    assert four.status_code == 200
    five = process(server, "photo.jpg", "|".join(["image/resize,w_100"] * 5))
    assert five.status_code == 400 and "<Code>TooManyPipe</Code>" in five.text
    mixed = process(server, "photo.jpg", "image/resize,w_100|video/snapshot,t_1")
    assert mixed.status_code == 400
