"""video/snapshot on H.264 videos made here with PyAV: exact frames, keyframes, sizes, formats, bad input."""

from fractions import Fraction

import av
import pytest
from PIL import Image

from conftest import Server, open_image, process

FPS, SECONDS, GOP = 10, 3, 10


def red_of(index: int) -> int:
    return 20 + index * 7  # frame i is painted (20 + 7i, 128, 60): the snapshot tells which frame it is


def write_video(path, container_format: str) -> None:
    with av.open(str(path), mode="w", format=container_format) as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 320, 180, "yuv420p"
        stream.codec_context.gop_size = GOP  # keyframes at 0 s, 1 s, 2 s ...
        stream.codec_context.options = {"bf": "0", "sc_threshold": "0", "keyint_min": str(GOP)}
        for index in range(FPS * SECONDS):
            image = Image.new("RGB", (320, 180), (red_of(index), 128, 60))
            frame = av.VideoFrame.from_image(image)
            frame.pts, frame.time_base = index, Fraction(1, FPS)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def which_frame(response) -> int:
    red = open_image(response).convert("RGB").getpixel((10, 10))[0]
    return round((red - 20) / 7)


@pytest.fixture(scope="module")
def videos(tmp_path_factory, nginx, samples):
    folder = tmp_path_factory.mktemp("videos")
    write_video(folder / "clip.mp4", "mp4")
    write_video(folder / "clip.mov", "mov")
    (folder / "broken.mp4").write_bytes((folder / "clip.mp4").read_bytes()[:300])
    (folder / "noise.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 20)
    write_video(samples / "web.mp4", "mp4")  # served by nginx too
    srv = Server(tmp_path_factory.mktemp("video-server"), f"""
[server]
port = {{port}}
workers = 2
job_timeout = 20
[buckets.media]
source = "file://{folder}"
[buckets.web]
source = "{nginx}/"
""", name="video")
    srv.folder = folder
    yield srv
    srv.stop()


def snap(srv, key, params, bucket="media"):
    return process(srv, key, f"video/snapshot,{params}", bucket=bucket)


@pytest.mark.parametrize("t, frame", [(0, 0), (1500, 15), (1450, 14), (2950, 29), (999, 9)])
def test_the_exact_frame_at_t(videos, t, frame):
    assert which_frame(snap(videos, "clip.mp4", f"t_{t},f_png")) == frame


def keyframes(path) -> list[int]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [round(p.pts * p.time_base * FPS) for p in container.demux(stream) if p.is_keyframe and p.pts is not None]


@pytest.mark.parametrize("t, keyframe", [(1500, 10), (999, 0), (2950, 20), (2000, 20)])
def test_fast_takes_the_keyframe_at_or_before_t(videos, t, keyframe):
    assert keyframes(videos.folder / "clip.mp4") == [0, 10, 20]
    assert which_frame(snap(videos, "clip.mp4", f"t_{t},m_fast,f_png")) == keyframe


@pytest.mark.parametrize("params, size", [
    ("t_100", (320, 180)), ("t_100,w_160", (160, 90)), ("t_100,h_90", (160, 90)), ("t_100,w_100,h_100", (100, 100)),
])
def test_sizes(videos, params, size):
    assert open_image(snap(videos, "clip.mp4", params)).size == size


def test_formats_and_containers(videos):
    jpg = snap(videos, "clip.mp4", "t_500,f_jpg")
    png = snap(videos, "clip.mov", "t_500,f_png")
    assert jpg.headers["Content-Type"] == "image/jpeg" and jpg.content[:3] == b"\xff\xd8\xff"
    assert png.headers["Content-Type"] == "image/png" and which_frame(png) == 5


def test_a_video_from_an_http_source(videos):
    assert which_frame(snap(videos, "web.mp4", "t_1200,f_png", bucket="web")) == 12


def test_the_same_snapshot_spelled_twice_is_one_rendition(videos):
    a = snap(videos, "clip.mp4", "t_700,w_160,f_jpg,m_fast")
    b = snap(videos, "clip.mp4", "m_fast,f_jpeg,w_160,t_700")
    assert b.headers["X-Cache"] == "HIT" and a.content == b.content


@pytest.mark.parametrize("key, params, status, words", [
    ("clip.mp4", "t_5000", 400, "past the end"),
    ("clip.mp4", "t_100,w_800", 400, "larger than the video"),
    ("clip.mp4", "t_100,f_gif", 400, "f_gif"),
    ("clip.mp4", "t_100,m_slow", 400, "m_slow"),
    ("clip.mp4", "t_-1", 400, "t must be"),
    ("broken.mp4", "t_100", 400, "not a readable video"),
    ("noise.mp4", "t_100", 400, "not a readable video"),
    ("missing.mp4", "t_100", 404, "NoSuchKey"),
])
def test_bad_input(videos, key, params, status, words):
    response = snap(videos, key, params)
    assert response.status_code == status and words in response.text
    assert which_frame(snap(videos, "clip.mp4", "t_300,f_png")) == 3  # the pool is fine


def test_video_actions_do_not_mix_with_image_ones(videos):
    response = process(videos, "clip.mp4", "video/snapshot,t_1/resize,w_10", bucket="media")
    assert response.status_code == 400
    assert process(videos, "clip.mp4", "image/snapshot,t_1", bucket="media").status_code == 400
