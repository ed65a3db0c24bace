"""The rendition store in a bucket ([cache] store): two edge instances share it, a rendition made
by one is served by the other without a render, also after both restart; a store that cannot
be used costs renditions, never answers. docs/storage.md's store example, on a real S3 server."""

import time

import pytest

from conftest import Server, open_image
from s3server import S3Server, served_by, storage_example, wait_logged


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    with S3Server(tmp_path_factory.mktemp("s3-store")) as server:
        server.client().create_bucket(Bucket="renditions")
        yield server


def instance_config(s3, samples, secret=None) -> str:
    example = served_by(storage_example("A rendition store in a bucket"), s3, {"my-renditions": "renditions"})
    if secret is not None:
        example = example.replace(s3.toml(), s3.toml(secret=secret))
    return f"""[server]
port = {{port}}
workers = 1
{example}
[buckets.test]
source = "file://{samples}"
"""


def stored(s3) -> int:
    return s3.client().list_objects_v2(Bucket="renditions", Prefix="edge/").get("KeyCount", 0)


def wait_stored(s3, count: int) -> None:
    deadline = time.monotonic() + 10
    while stored(s3) < count:  # the write to the store goes out in the background
        assert time.monotonic() < deadline, f"{stored(s3)} renditions in the store, not {count}"
        time.sleep(0.05)


def test_two_instances_serve_each_others_renditions_also_after_restarting(tmp_path, s3, samples):
    config = instance_config(s3, samples)
    with (Server(tmp_path, config, "first") as first,
          Server(tmp_path, config, "second") as second):
        made = first.get("/test/photo.jpg", params={"x-oss-process": "image/resize,w_120"})
        assert made.headers["X-Cache"] == "MISS" and open_image(made).size == (120, 90)
        wait_stored(s3, 1)
        shared = second.get("/test/photo.jpg", params={"x-oss-process": "image/resize,w_120"})
        assert shared.headers["X-Cache"] == "HIT-STORE"
        assert shared.content == made.content and shared.headers["ETag"] == made.headers["ETag"]
        assert shared.headers["Content-Type"] == "image/jpeg"
        other = second.get("/test/photo.jpg", params={"x-oss-process": "image/resize,w_130/format,png"})
        assert other.headers["X-Cache"] == "MISS"
        wait_stored(s3, 2)
        back = first.get("/test/photo.jpg", params={"x-oss-process": "image/resize,w_130/format,png"})
        assert back.headers["X-Cache"] == "HIT-STORE" and back.headers["Content-Type"] == "image/png"
        assert first.metric("edge_renders_total") == second.metric("edge_renders_total") == 1
        # The hit was copied into memory: asked again, it does not go to the bucket.
        assert second.get("/test/photo.jpg", params={"x-oss-process": "image/resize,w_120"}).headers["X-Cache"] \
            == "HIT"
    with (Server(tmp_path, config, "first") as first,
          Server(tmp_path, config, "second") as second):
        for srv in (first, second):
            for process, size in (("image/resize,w_120", (120, 90)), ("image/resize,w_130/format,png", (130, 98))):
                answer = srv.get("/test/photo.jpg", params={"x-oss-process": process})
                assert answer.headers["X-Cache"] == "HIT-STORE" and open_image(answer).size == size
            assert srv.metric("edge_renders_total") == 0
            assert srv.metric("edge_cache_lookups_total", level="store", result="hit") == 2


def test_a_store_that_refuses_our_credentials_costs_renditions_not_answers(tmp_path, s3, samples):
    with Server(tmp_path, instance_config(s3, samples, secret="not-the-secret"), "refused") as srv:
        wait_logged(srv, "store: the bucket renditions cannot be used (it refused our credentials")
        for width in (50, 51, 52, 53):
            answer = srv.get("/test/photo.jpg", params={"x-oss-process": f"image/resize,w_{width}"})
            assert answer.status_code == 200 and answer.headers["X-Cache"] == "MISS"
        ready = srv.get("/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "degraded", ready.text
        assert any("store" in problem and "credentials" in problem for problem in ready.json()["problems"])
        assert "Traceback" not in srv.logs()


def test_a_store_that_goes_away_costs_renditions_not_answers(tmp_path, samples):
    s3 = S3Server(tmp_path)
    s3.client().create_bucket(Bucket="renditions")
    with s3, Server(tmp_path, instance_config(s3, samples), "gone") as srv:
        assert srv.get("/test/photo.jpg", params={"x-oss-process": "image/resize,w_70"}).status_code == 200
        s3.stop()
        for width in range(71, 77):
            started = time.monotonic()
            answer = srv.get("/test/photo.jpg", params={"x-oss-process": f"image/resize,w_{width}"})
            assert answer.status_code == 200 and answer.headers["X-Cache"] == "MISS"
            assert time.monotonic() - started < 5
        ready = srv.get("/readyz").json()
        assert ready["status"] == "degraded" and any(p.startswith("store: circuit open") for p in ready["problems"])
        assert "Traceback" not in srv.logs()
