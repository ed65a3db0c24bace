"""The source limits of SPEC.md: bytes (folder and upstream, while streaming) and sides, from the header."""

import pytest

from conftest import Server, _png_claiming, open_image, process


@pytest.fixture(scope="module")
def strict(tmp_path_factory, samples, nginx):
    """A server whose source limit is 10 kB, on the same folder and nginx upstream."""
    with Server(tmp_path_factory.mktemp("strict"), f"""
[server]
port = {{port}}
workers = 1
[limits]
source_bytes = 10000
source_side = 1000
[buckets.test]
source = "file://{samples}"
[buckets.web]
source = "{nginx}/"
""", name="strict") as srv:
        (samples / "wide.png").write_bytes(_png_claiming(1001, 10))
        yield srv


@pytest.mark.parametrize("bucket", ["test", "web"])
def test_a_source_over_the_byte_limit_is_refused(strict, samples, bucket):
    assert (samples / "photo.jpg").stat().st_size > 10000
    response = process(strict, "photo.jpg", "image/resize,w_10", bucket=bucket)
    assert response.status_code == 400
    assert "<Code>ImageTooLarge</Code>" in response.text and "10000" in response.text
    # A small source still works, and originals pass through whatever their size.
    assert open_image(process(strict, "nested/deep name.jpg", "image/resize,w_10", bucket=bucket)).size[0] == 10
    assert strict.get(f"/{bucket}/photo.jpg").status_code == 200


def test_an_upstream_that_lies_about_its_length_is_cut_while_streaming(strict, tmp_path):
    """An upstream without Content-Length sends more than the limit: refused without buffering it all."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Endless(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.end_headers()
            for _ in range(1000):  # 1000 x 1 kB, far over the 10 kB limit
                try:
                    self.wfile.write(b"\xff" * 1024)
                except (BrokenPipeError, ConnectionResetError):
                    return

        def do_HEAD(self):
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    upstream = ThreadingHTTPServer(("127.0.0.1", 0), Endless)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    srv = Server(tmp_path, f"""
[server]
port = {{port}}
workers = 1
[limits]
source_bytes = 10000
[buckets.endless]
source = "http://127.0.0.1:{upstream.server_address[1]}/"
""", name="endless")
    try:
        response = process(srv, "big.jpg", "image/resize,w_10", bucket="endless")
        assert response.status_code == 400 and "<Code>ImageTooLarge</Code>" in response.text
    finally:
        srv.stop()
        upstream.shutdown()


def test_a_source_side_over_the_limit_is_refused_from_the_header(strict):
    response = process(strict, "wide.png", "image/resize,w_10")
    assert response.status_code == 400
    assert "<Code>ImageTooLarge</Code>" in response.text and "1001x10" in response.text


def test_the_worker_reads_a_file_whole_up_to_the_limit_and_refuses_past_it(tmp_path):
    # The server checks the size when it stats the object; the worker checks again as it reads,
    # as the file may have grown since.
    from edge.errors import ImageTooLarge
    from edge.streams import read_limited

    path = tmp_path / "grown.jpg"
    path.write_bytes(b"x" * 1000)
    assert read_limited(str(path), 1000) == b"x" * 1000
    with pytest.raises(ImageTooLarge, match="larger than 999 bytes"):
        read_limited(str(path), 999)
