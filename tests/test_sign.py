"""`edge sign` and `edge check-config`: signed URLs byte-identical to the oss2 SDK's, accepted by
edge; a config validated and its sources reached without serving."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from datetime import datetime, timezone
from unittest import mock

import oss2
import pytest
import requests
from PIL import Image

from conftest import ROOT, Server, free_port
from test_demo import demo  # noqa: F401  (the fixture: `edge serve` of a fresh demo)
from edge import signing

KEY_ID, SECRET, REGION = "LTAI5tSignTest", "sign-secret", "cn-shanghai"


@pytest.fixture(scope="module")
def private(tmp_path_factory, samples):
    with Server(tmp_path_factory.mktemp("sign"), f"""
[server]
port = {{port}}
workers = 1

[buckets.vault]
source = "file://{samples}"
private = true
domains = ["vault.edge.test"]
access_keys = {{ {KEY_ID} = "{SECRET}" }}
""", name="sign") as srv:
        yield srv


def edge_cli(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge", *arguments], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), cwd=ROOT)


def oss2_url(version: str, endpoint: str, key: str, expires: int, now: float, process: str = "",
             cname: bool = False) -> str:
    """oss2's own sign_url for these inputs, with its clock stopped at `now`."""
    auth = oss2.AuthV4(KEY_ID, SECRET) if version == "v4" else oss2.Auth(KEY_ID, SECRET)
    bucket = oss2.Bucket(auth, endpoint, "vault", region=REGION, is_cname=cname)
    clock = mock.Mock(wraps=oss2.auth.datetime)
    clock.utcnow.return_value = oss2.auth.datetime.utcfromtimestamp(int(now))
    with mock.patch("oss2.auth.time.time", return_value=now), mock.patch("oss2.auth.datetime", clock):
        return bucket.sign_url("GET", key, expires, params={"x-oss-process": process} if process else None)


@pytest.mark.parametrize("version", ["v1", "v4"])
@pytest.mark.parametrize("key,process", [
    ("photo.jpg", ""),
    ("photo.jpg", "image/resize,w_100/format,webp"),
    ("nested/deep name.jpg", "image/crop,w_50,h_50,g_se"),
    ("写真 +&=.jpg", "style/thumb"),
])
@pytest.mark.parametrize("endpoint,cname", [
    ("http://127.0.0.1:8080", False), ("https://img.example.com", True), ("http://10.0.0.7:9000", True),
    ("http://localhost", True),
])
def test_signed_urls_are_byte_identical_to_oss2(version, key, process, endpoint, cname):
    now = 1_790_000_123.75
    ours = signing.sign_url(endpoint, "vault", key, KEY_ID, SECRET, 900, version=version, process=process,
                            region=REGION, cname=cname, now=now)
    assert ours == oss2_url(version, endpoint, key, 900, now, process, cname)


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_edge_sign_prints_a_url_edge_accepts_and_oss2_would_make(private, version):
    process = "image/resize,w_100/format,webp"
    result = edge_cli("sign", "--config", str(private.config), "--version", version, "--region", REGION,
                      "--expires", "600", "--process", process, "vault", "nested/deep name.jpg")
    assert result.returncode == 0, result.stderr
    url = result.stdout.strip()
    answer = requests.get(url, timeout=30)
    assert answer.status_code == 200, answer.text
    image = Image.open(io.BytesIO(answer.content))
    assert (image.format, image.width) == ("WEBP", 100)
    # The same inputs and expiry give oss2's URL, byte for byte.
    query = dict(part.split("=", 1) for part in url.split("?", 1)[1].split("&"))
    signed_at = int(query["Expires"]) - 600 if version == "v1" else datetime.strptime(
        query["x-oss-date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc).timestamp()
    assert url == oss2_url(version, private.url(""), "nested/deep name.jpg", 600, signed_at, process)
    # Tampering with the process it signed is refused.
    tampered = requests.get(url.replace("w_100", "w_200"), timeout=30)
    assert tampered.status_code == 403 and b"SignatureDoesNotMatch" in tampered.content


def test_edge_sign_through_a_bound_domain_signs_the_bucket_path(private):
    result = edge_cli("sign", "--config", str(private.config), "--version", "v1", "--endpoint",
                      "http://vault.edge.test", "vault", "photo.jpg")
    assert result.returncode == 0, result.stderr
    url = result.stdout.strip()
    assert url.startswith("http://vault.edge.test/photo.jpg?OSSAccessKeyId=")
    answer = requests.get(url.replace("http://vault.edge.test", private.url("")), timeout=30,
                          headers={"Host": "vault.edge.test"})
    assert answer.status_code == 200, answer.text


def test_an_expired_signed_url_is_refused(private):
    url = signing.sign_url(private.url(""), "vault", "photo.jpg", KEY_ID, SECRET, 1, version="v1", now=1_000_000_000)
    answer = requests.get(url, timeout=30)
    assert answer.status_code == 403 and b"expired" in answer.content


@pytest.mark.parametrize("arguments,message", [
    (["nobucket", "photo.jpg"], "no bucket 'nobucket'"),
    (["vault", "photo.jpg", "--key-id", "LTAIother"], "give --key-id, one of: LTAI5tSignTest"),
    (["vault", "photo.jpg", "--expires", "0", "--version", "v1"], "expires must be > 0"),
    (["vault", "photo.jpg", "--expires", "604801"], "expires must be 1..604800"),
    (["vault", "photo.jpg", "--endpoint", "ftp://x"], "is not http(s)://host[:port]"),
    (["vault", ""], "the object key is empty"),
])
def test_edge_sign_refuses_bad_input_with_a_clear_line(private, arguments, message):
    result = edge_cli("sign", "--config", str(private.config), *arguments)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_check_config_reaches_each_source(tmp_path, samples, nginx):
    port = free_port()
    config = tmp_path / "edge.toml"
    config.write_text(f"""
[buckets.local]
source = "file://{samples}"
[buckets.web]
source = "{nginx}/"
[buckets.gone]
source = "http://127.0.0.1:{port}/"
""")
    result = edge_cli("check-config", str(config))
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert f"bucket local: ok (file://{samples})" in lines
    assert f"bucket web: ok ({nginx}/)" in lines
    assert any(line.startswith(f"bucket gone: the upstream http://127.0.0.1:{port}/ cannot be reached")
               for line in lines), lines
    # Nothing was served: the port it would listen on is free.
    config.write_text(config.read_text().replace(f'[buckets.gone]\nsource = "http://127.0.0.1:{port}/"\n', ""))
    result = edge_cli("check-config", str(config))
    assert result.returncode == 0 and result.stdout.splitlines()[-1].endswith(": ok"), result.stdout


@pytest.mark.parametrize("toml,message", [
    ("[server]\nport = 70000\n", "server.port: must be 0..65535"),
    ('[buckets.bk1]\nsource = "file:///nonexistent-edge-folder"\n', "/nonexistent-edge-folder"),
    ('[buckets.bk1]\nsource = "file:///tmp"\nstyles = { s = "image/resize,w_0" }\n', "buckets.bk1.styles.s"),
    ("[server\n", "is not valid TOML"),
])
def test_check_config_names_the_bad_key(tmp_path, toml, message):
    config = tmp_path / "bad.toml"
    config.write_text(toml)
    result = edge_cli("check-config", str(config))
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_the_sign_examples_of_docs_console_md_work_on_the_demo(demo):  # noqa: F811
    base, _, _, env = demo
    lines = [line for line in (ROOT / "docs" / "console.md").read_text().splitlines()
             if line.startswith(".venv/bin/edge sign ")]
    assert len(lines) == 2
    env = dict(env, EDGE_SERVER__PORT=base.rsplit(":", 1)[1])
    for line in lines:
        result = subprocess.run(["bash", "-c", line], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        answer = requests.get(result.stdout.strip(), timeout=30)
        assert answer.status_code == 200, answer.text
        assert Image.open(io.BytesIO(answer.content)).format == ("WEBP" if "webp" in line else "JPEG")
