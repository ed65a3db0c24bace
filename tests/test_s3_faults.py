"""An S3 source that fails: refused credentials, a missing bucket, the server stopped under load
and started again. Answers are 502/503/504 with Retry-After and the OSS XML error, never a 500
or the bucket's own body; /readyz names the bucket; edge recovers by itself."""

import io
import math
import re
import socket
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
import requests
from PIL import Image

from conftest import ROOT, Server
from s3server import S3Server, wait_logged

XML_CODE = re.compile(r"<Code>(\w+)</Code>")


def jpeg(colour) -> bytes:
    body = io.BytesIO()
    Image.new("RGB", (300, 200), colour).save(body, "JPEG")
    return body.getvalue()


def test_refused_credentials_and_a_missing_bucket(tmp_path):
    with S3Server(tmp_path) as s3:
        s3.client().create_bucket(Bucket="originals")
        s3.client().put_object(Bucket="originals", Key="photo.jpg", Body=jpeg((200, 0, 0)))
        with Server(tmp_path, f"""
[server]
port = {{port}}
workers = 1
[buckets.refused]
source = "s3://originals"
[buckets.refused.s3]
{s3.toml(secret="not-the-secret")}
[buckets.nobucket]
source = "s3://no-such-bucket/x"
[buckets.nobucket.s3]
{s3.toml()}
""", name="refused") as srv:
            wait_logged(srv, f"the S3 bucket originals at {s3.url} refused our credentials")
            wait_logged(srv, f"the S3 bucket no-such-bucket at {s3.url} does not exist")
            ready = srv.get("/readyz")
            assert ready.status_code == 503
            problems = ready.json()["problems"]
            assert any(p.startswith("bucket refused: the S3 bucket originals") and "credentials" in p
                       for p in problems), problems
            assert any(p.startswith("bucket nobucket: the S3 bucket no-such-bucket") for p in problems), problems
            for path in ("/refused/photo.jpg?x-oss-process=image/resize,w_10", "/refused/photo.jpg",
                         "/nobucket/photo.jpg?x-oss-process=image/resize,w_10"):
                answer = requests.get(srv.url(path), timeout=30)
                assert answer.status_code == 502 and answer.headers["Retry-After"] == "2", answer.text
                assert XML_CODE.search(answer.text)[1] == "SourceUnavailable"
                assert "InvalidAccessKeyId" not in answer.text or "refused our credentials" in answer.text
            assert "Traceback" not in srv.logs()
            checked = subprocess.run([sys.executable, "-m", "edge", "check-config", str(srv.config)], cwd=ROOT,
                                     capture_output=True, text=True, timeout=60)
            assert checked.returncode == 1, checked.stdout + checked.stderr
            assert f"bucket refused: the S3 bucket originals at {s3.url} refused our credentials" in checked.stdout
            assert f"bucket nobucket: the S3 bucket no-such-bucket at {s3.url} does not exist" in checked.stdout


def test_a_bucket_that_never_answers_is_a_gateway_timeout_within_fetch_timeout(tmp_path):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)  # accepts connections (the kernel does), never answers a byte
    endpoint = f"http://127.0.0.1:{silent.getsockname()[1]}"
    srv = Server(tmp_path, f"""
[server]
port = {{port}}
workers = 1
[limits]
connect_timeout = 1
read_timeout = 1
fetch_timeout = 2
[buckets.silent]
source = "s3://originals"
[buckets.silent.s3]
endpoint_url = "{endpoint}"
addressing_style = "path"
access_key_id = "AKIAEXAMPLE"
secret_access_key = "secret"
""", name="silent")  # up at once: the start-up look at the bucket runs in the background
    try:
        for path in ("/silent/photo.jpg?x-oss-process=image/resize,w_10", "/silent/photo.jpg"):
            started = time.monotonic()
            answer = requests.get(srv.url(path), timeout=30)
            assert answer.status_code == 504 and XML_CODE.search(answer.text)[1] == "SourceTimeout", answer.text
            assert answer.headers["Retry-After"] == "2" and time.monotonic() - started < 4
        wait_logged(srv, f"the S3 bucket originals at {endpoint} did not answer")  # the start-up look
    finally:
        srv.stop()
        silent.close()


@pytest.mark.slow
def test_the_s3_server_stopped_under_load_and_back(tmp_path):
    s3 = S3Server(tmp_path)

    def fill() -> None:
        s3.client().create_bucket(Bucket="originals")
        for i in range(4):
            s3.client().put_object(Bucket="originals", Key=f"p{i}.jpg", Body=jpeg((60 * i, 100, 50)))

    fill()
    srv = Server(tmp_path, f"""
[server]
port = {{port}}
workers = 2
[cache]
revalidate_seconds = 0.5
[limits]
connect_timeout = 1
read_timeout = 2
fetch_timeout = 5
[buckets.pics]
source = "s3://originals"
[buckets.pics.s3]
{s3.toml()}
""", name="outage")
    answers: Counter = Counter()
    bad: list[str] = []
    stop = threading.Event()
    refill = {"from": math.inf, "to": math.inf}  # the server back but its objects not all put again

    def missing_while_refilled(answer: requests.Response, asked: float) -> bool:
        """A 404 NoSuchKey or NoSuchBucket is the truth while the restarted server is filled again,
        and is believed for revalidate_seconds (0.5) after it was last asked."""
        return answer.status_code == 404 and refill["from"] <= time.monotonic() and asked <= refill["to"] + 1

    def load(worker: int) -> None:
        width = 20 + worker
        while not stop.is_set():
            width += 8  # a new rendition each time: each one needs the original
            asked = time.monotonic()
            try:
                answer = requests.get(srv.url(f"/pics/p{width % 4}.jpg"),
                                      params={"x-oss-process": f"image/resize,w_{width % 280 + 10}"}, timeout=30)
            except requests.RequestException as exc:
                bad.append(f"no answer: {exc}")
                continue
            answers[answer.status_code] += 1
            if answer.status_code != 200 and not missing_while_refilled(answer, asked):
                code = XML_CODE.search(answer.text)
                if answer.status_code not in (502, 503, 504) or "Retry-After" not in answer.headers or not code:
                    bad.append(f"{answer.status_code} {answer.headers} {answer.text[:200]}")
            time.sleep(0.02)

    threads = [threading.Thread(target=load, args=(n,)) for n in range(6)]
    try:
        for thread in threads:
            thread.start()
        time.sleep(2)
        assert answers[200] > 0, answers
        s3.stop()
        time.sleep(5)
        during = dict(answers)
        assert sum(n for status, n in during.items() if status in (502, 503, 504)) > 0, during
        ready = srv.get("/readyz")
        assert ready.status_code == 503 and "bucket pics" in ready.text, ready.text
        refill["from"] = time.monotonic()
        s3.start()  # the same port; its buckets start empty
        fill()
        refill["to"] = time.monotonic()
        before = answers[200]
        deadline = time.monotonic() + 15
        while answers[200] < before + 20:
            assert time.monotonic() < deadline, f"edge did not recover: {dict(answers)}"
            time.sleep(0.2)
        assert srv.get("/readyz").status_code == 200
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
        logs = srv.logs()
        srv.stop()
        s3.stop()
    assert not bad, bad[:5]
    assert 500 not in answers and "Traceback" not in logs
    print(f"answers: {dict(answers)}")
