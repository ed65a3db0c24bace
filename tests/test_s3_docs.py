"""docs/storage.md's examples are true: each loads as a config, its requests go where the doc
says (virtual-hosted or path-style), and the MinIO one serves renditions from a real S3 server."""

import asyncio

import pytest

from conftest import Server, open_image, write_samples
from edge import config as config_module
from edge.sources.s3 import S3Source, s3_client
from s3server import S3Server, served_by, storage_example

DOC = (config_module.__file__.rsplit("/edge/", 1)[0]) + "/docs/storage.md"


@pytest.mark.parametrize("heading, address", [
    ("AWS S3", "https://my-photos.s3.eu-west-1.amazonaws.com/originals/"),
    ("Alibaba Cloud OSS", "https://my-photos.s3.oss-cn-hangzhou.aliyuncs.com/originals/"),
    ("MinIO (and other self-hosted servers)", "http://minio.internal:9000/photos/originals/"),
])
def test_each_example_loads_and_addresses_its_bucket_as_the_doc_says(tmp_path, monkeypatch, heading, address):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFROMENVIRONMENT")  # the AWS example's chain
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "from-the-environment")
    path = tmp_path / "edge.toml"
    path.write_text(storage_example(heading))
    bucket = config_module.load(str(path), environ={}).buckets["photos"]
    source = S3Source(bucket.source, bucket.s3, config_module.Limits(), 10)

    async def url() -> str:
        async with s3_client(bucket.s3, config_module.Limits()) as client:
            return await client.generate_presigned_url(
                "get_object", Params={"Bucket": source.bucket, "Key": source.prefix + "cat.jpg"}, ExpiresIn=60)

    assert asyncio.run(url()).startswith(address + "cat.jpg?")
    assert address.replace("https://", "").replace("http://", "").split("/")[0] in open(DOC).read()


def test_the_store_example_loads(tmp_path):
    path = tmp_path / "edge.toml"
    path.write_text(storage_example("A rendition store in a bucket"))
    cache = config_module.load(str(path), environ={}).cache
    assert cache.store == "s3://my-renditions/edge" and cache.s3.addressing_style == "virtual"


def test_the_minio_example_serves_renditions_from_a_real_s3_server(tmp_path):
    with S3Server(tmp_path) as s3:
        client = s3.client()
        client.create_bucket(Bucket="photos")
        write_samples(tmp_path / "samples")
        client.put_object(Bucket="photos", Key="originals/cat.jpg",
                          Body=(tmp_path / "samples" / "photo.jpg").read_bytes())
        example = served_by(storage_example("MinIO (and other self-hosted servers)"), s3, {})
        with Server(tmp_path, "[server]\nport = {port}\nworkers = 1\n" + example, name="minio-example") as srv:
            answer = srv.get("/photos/cat.jpg", params={"x-oss-process": "image/resize,w_100"})
            assert open_image(answer).size == (100, 75)
            assert srv.get("/readyz").json()["status"] == "ready"
