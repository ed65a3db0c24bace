"""A srcset burst: renditions of one source that queue together are made by one job, from shared
decodes, byte for byte as they are made alone."""

import concurrent.futures
import io
import time

import pytest
from PIL import Image

import plugins.operations  # noqa: F401
import edge.render as render_module
from conftest import process, render
from edge.config import Limits
from edge.pipeline import Pipeline
from edge.batch_messages import ItemFailed, ItemMade
from edge.jobs import RenderBatch, RenderJob
from edge.render import render_batch
from test_pool import SLOW, pool_server

WIDTHS = (320, 640, 960, 1280, 1600, 1920)


@pytest.fixture(scope="module")
def photo(samples):
    """A 4000x3000 photo-like JPEG, stored sideways with EXIF orientation 6 (phones do)."""
    from edge.demo import landscape

    path = samples / "srcset.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    landscape(3000, 4000, seed=3).transpose(Image.Transpose.ROTATE_90).save(path, quality=90, exif=exif)
    return path


def jobs_for(path, processes):
    return [RenderJob(Pipeline.parse(p), Limits(), str(path)) for p in processes]


def run_batch(jobs) -> tuple[dict, dict, list]:
    """render_batch in this process: (its answer, {index: (status, meta or error, body)}, the
    order the items came in)."""
    items, order = {}, []

    def emit(message, body):
        if isinstance(message, ItemMade):
            items[message.index] = ("ok", message.meta, body)
        elif isinstance(message, ItemFailed):
            items[message.index] = ("error", message.error, body)
        else:
            return
        order.append(message.index)

    return render_batch(RenderBatch(tuple(jobs)), None, emit), items, order


# Steps that draw on, mask or recolour an image come first: if one changed a shared decode in
# place, the widths after it would differ from their renders alone.
DRAWING = ["image/watermark,text_d2F0ZXJtYXJr,g_center,size_60/resize,w_320", "image/circle,r_100",
           "image/rounded-corners,r_40/resize,w_320", "image/bright,50/resize,w_320"]
SRCSET = DRAWING + [f"image/resize,w_{w}/quality,q_80" for w in WIDTHS] + [
    "image/resize,w_200/format,webp", "image/crop,w_600,h_600,g_center/format,png", "image/info"]


def test_a_batch_makes_the_same_bytes_as_each_job_alone_with_fewer_decodes(photo, monkeypatch):
    jobs = jobs_for(photo, SRCSET)
    alone = [render(job, None) for job in jobs]
    decodes = counted_decodes(monkeypatch)
    meta, items, _ = run_batch(jobs)
    assert meta["decodes"] == 4
    for index, (alone_meta, alone_body) in enumerate(alone):
        status, item, body = items[index]
        assert status == "ok"
        assert item == alone_meta
        assert body == alone_body
    # 320 -> 1/8 scale, 640 and 960 -> 1/4, 1280..1920 -> 1/2, the crop needs the full size; info decodes nothing.
    assert sorted(decodes) == [(500, 375), (1000, 750), (2000, 1500), (4000, 3000)]
    assert Image.open(io.BytesIO(alone[0][1])).size == (320, 427)  # upright


def counted_decodes(monkeypatch) -> list:
    decodes = []
    original = render_module._decode
    monkeypatch.setattr(render_module, "_decode", lambda im, **kw: decodes.append(im.size) or original(im, **kw))
    return decodes


def test_a_worker_reuses_the_decodes_of_its_last_source_for_a_moment(photo, samples, monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(render_module.time, "monotonic", lambda: clock[0])
    source = ("test", "srcset.jpg", '"v1"')

    def one(width, source=source, path=photo):
        job = RenderJob(Pipeline.parse(f"image/resize,w_{width}/quality,q_80"), Limits(), str(path), original=source)
        return run_batch([job])[1][0][2]

    alone = {w: render(RenderJob(Pipeline.parse(f"image/resize,w_{w}/quality,q_80"), Limits(), str(photo)), None)[1]
             for w in (1920, 1600, 320)}
    decodes = counted_decodes(monkeypatch)
    assert one(1920) == alone[1920]
    assert one(1600) == alone[1600] and decodes == [(4000, 3000)]  # 3000 wide upright: the full decode, once
    one(300, ("test", "photo.jpg", '"v1"'), samples / "photo.jpg")  # another source in between
    assert one(1600) == alone[1600] and len(decodes) == 3
    clock[0] += render_module.KEEP_SECONDS  # too late: decoded anew
    assert one(1600) == alone[1600] and len(decodes) == 4
    assert one(1600, ("test", "srcset.jpg", '"v2"')) == alone[1600] and len(decodes) == 5  # a new ETag
    monkeypatch.setattr(render_module._Kept, "BYTES", 40 * 2**20)  # under one 4000x3000 decode
    one(1920)
    one(1920)
    assert len(decodes) == 7
    assert one(320) == alone[320]


def rss_mib(pid: int) -> float:
    status = open(f"/proc/{pid}/status").read()
    return int(status.split("VmRSS:")[1].split()[0]) / 1024


def test_an_idle_worker_drops_its_kept_decodes_and_gives_the_memory_back(tmp_path, samples, photo):
    with pool_server(tmp_path, samples, workers=1, job_timeout=60) as srv:
        [worker] = srv.worker_pids()
        decodes = srv.metric("edge_decodes_total")
        for width in (1920, 1600):  # the second reuses the first's full-size decode
            assert process(srv, "srcset.jpg", f"image/resize,w_{width}/quality,q_80").status_code == 200
        assert srv.metric("edge_decodes_total") - decodes == 1
        busy = rss_mib(worker)
        time.sleep(render_module.KEEP_SECONDS + 1.5)
        idle = rss_mib(worker)
        assert busy - idle > 30, (busy, idle)  # the 3000x4000 decode alone is 46 MiB
        answer = process(srv, "srcset.jpg", "image/resize,w_1600/quality,q_80")
        assert answer.status_code == 200 and srv.metric("edge_decodes_total") - decodes == 2  # decoded anew
        assert srv.worker_pids() == [worker]


def test_one_bad_job_fails_alone_in_its_batch(photo):
    jobs = jobs_for(photo, ["image/resize,w_300", "image/rotate,90/info/resize,w_10", "image/resize,w_100"])
    _, items, _ = run_batch(jobs)
    statuses = [items[i][0] for i in range(3)]
    assert statuses == ["ok", "error", "ok"]
    assert items[1][1].code == "InvalidArgument"


def burst(srv, key, widths, blocker=True):
    """Keep the only worker busy with a slow job, then ask for `widths` of `key` at once."""
    with concurrent.futures.ThreadPoolExecutor(len(widths) + 1) as executor:
        slow = executor.submit(process, srv, "big.png", SLOW) if blocker else None
        time.sleep(0.5)
        answers = list(executor.map(lambda w: process(srv, key, f"image/resize,w_{w}/quality,q_80"), widths))
        if slow is not None:
            assert slow.result().status_code == 200
    return answers


def test_a_queued_srcset_runs_as_one_job_and_answers_what_each_url_makes_alone(tmp_path, samples, photo):
    with pool_server(tmp_path, samples, workers=1, queue=16, job_timeout=60) as srv:
        before = srv.metric("edge_jobs_total", job="render")
        renders, decodes = srv.metric("edge_renders_total"), srv.metric("edge_decodes_total")
        answers = burst(srv, "srcset.jpg", WIDTHS)
        assert all(a.status_code == 200 for a in answers)
        assert srv.metric("edge_jobs_total", job="render") - before <= 3  # the slow job, the batch (+1 if early)
        # The slow job's decode, and one per scale for the six widths of the upright 3000x4000:
        # 1/8 (320), 1/4 (640), 1/2 (960, 1280), 1/1 (1600, 1920).
        assert srv.metric("edge_renders_total") - renders == 1 + len(WIDTHS)
        assert srv.metric("edge_decodes_total") - decodes == 1 + 4
        for width, answer in zip(WIDTHS, answers):
            alone = render(RenderJob(Pipeline.parse(f"image/resize,w_{width}/quality,q_80"), Limits(),
                                     str(photo)), None)[1]
            assert answer.content == alone
            assert Image.open(io.BytesIO(answer.content)).width == width


def test_every_job_in_a_waiting_batch_holds_a_place_in_the_queue(tmp_path, samples, photo):
    with pool_server(tmp_path, samples, workers=1, queue=2, job_timeout=60) as srv:
        answers = burst(srv, "srcset.jpg", WIDTHS)
        codes = sorted(a.status_code for a in answers)
        assert codes == [200, 200, 503, 503, 503, 503], codes


def test_more_than_a_batch_of_one_source_splits_and_gives_every_place_back(tmp_path, samples, photo):
    with pool_server(tmp_path, samples, workers=1, queue=32, job_timeout=60) as srv:
        widths = list(range(100, 100 + 20 * 10, 10))  # 20 renditions: batches of at most 8
        assert all(a.status_code == 200 for a in burst(srv, "srcset.jpg", widths))
        # Every place came back: a full queue's worth of waiting work is still accepted.
        assert all(a.status_code == 200 for a in burst(srv, "srcset.jpg", [w + 1 for w in widths]))
        assert srv.metric("edge_jobs_total", job="render") <= 2 + 2 * 5


def test_a_batch_that_waits_past_the_queue_timeout_fails_whole_and_gives_every_place_back(tmp_path, samples, photo):
    with pool_server(tmp_path, samples, workers=1, queue=3, queue_timeout=1, job_timeout=60) as srv:
        # The slow job (~3 s) holds the only worker: the three widths wait as one batch, past 1 s.
        # Twice: had the first batch kept its three places, the second would be refused at once.
        for waits in (1, 2):
            answers = burst(srv, "srcset.jpg", WIDTHS[:3])
            assert [a.status_code for a in answers] == [503, 503, 503]
            assert all("queue_timeout (1 s)" in a.text and a.headers["Retry-After"] == "1" for a in answers)
            assert srv.metric("edge_queue_timeouts_total") == waits  # one batch, one wait
        assert srv.metric("edge_queue_rejections_total") == 0
        assert [a.status_code for a in burst(srv, "srcset.jpg", WIDTHS[:3], blocker=False)] == [200, 200, 200]
