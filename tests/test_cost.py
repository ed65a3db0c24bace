"""Bounded cost per request: a short URL that asks for a long render is refused before any decode,
a URL that timed out is answered at once for a while, and one job's trouble stays its own."""

import concurrent.futures
import io
import os
import signal
import time

import pytest
from PIL import Image

import plugins.operations  # noqa: F401  (registers the operations for Pipeline.parse)
from conftest import process, write_samples
from edge import cost
from edge.config import Limits
from edge.errors import InvalidArgument
from edge.jobs import RenderBatch, RenderJob
from edge.pipeline import Pipeline
from edge.render import render_batch
from test_pool import SLOW, kill_once_busy, pool_server

ROTATE_130 = "image/" + "/".join(["rotate,1"] * 130)  # 1,231 characters
GIF_KILLER = "image/resize,w_4096,limit_0/rotate,33/blur,r_50,s_50/format,webp"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """The usual samples, a copy of big.png to keep a worker busy, and a 480x270 animated GIF of 30 frames."""
    folder = tmp_path_factory.mktemp("cost")
    write_samples(folder)
    (folder / "busy.png").write_bytes((folder / "big.png").read_bytes())
    frames = [Image.new("RGB", (480, 270), (i * 8, 100, 200 - i * 6)) for i in range(30)]
    frames[0].save(folder / "clip.gif", save_all=True, append_images=frames[1:], duration=40, loop=0)
    return folder


def timed(srv, key, process_string):
    started = time.monotonic()
    answer = process(srv, key, process_string)
    return answer, time.monotonic() - started


def test_too_many_actions_are_refused_while_parsing_naming_the_limit():
    with pytest.raises(InvalidArgument, match=r"130 processing actions; a process may have at most 20"):
        Pipeline.parse(ROTATE_130)
    # Whole-image settings are not counted: the last one wins, they add no work.
    Pipeline.parse("image/" + "/".join(["format,png", "quality,q_80"] * 30 + ["resize,w_10"] * 20))


def test_the_estimate_names_the_step_that_goes_over_the_budget():
    source = cost.Source("GIF", (480, 270), (480, 270), frames=30)
    with pytest.raises(InvalidArgument, match=r"with rotate,33 the rendition of 30 frames of a 480x270 image"):
        cost.check(Pipeline.parse(GIF_KILLER), source, "webp", Limits())
    # A photo's ordinary thumbnail, decoded at 1/8 by the JPEG draft, is far under it.
    thumb = cost.check(Pipeline.parse("image/resize,w_300"), cost.Source("JPEG", (4000, 3000), (500, 375), 1),
                       "jpg", Limits())
    assert 20 < thumb < 100


def test_the_estimate_counts_the_quality_and_effort_asked_of_heic_avif_and_webp(tmp_path):
    # At JPEG-scale 100 these encoders measured 1.4-2.2x their cost at the default, and libaom at speed
    # 6 ([compression] effort "small") about 3x (benchmarks/cost.py): under a 250 ms budget a 1000x1000 PNG
    # fits as a default AVIF (about 180 ms) but neither at Q_100 nor with effort "small".
    picture = io.BytesIO()
    Image.linear_gradient("L").resize((1000, 1000)).convert("RGB").save(picture, "PNG")
    limits = Limits(work_budget_ms=250)

    def render(process_string, effort="fast"):
        made = []
        job = RenderJob(Pipeline.parse(process_string), limits, effort=effort)
        render_batch(RenderBatch((job,)), picture.getvalue(), lambda message, body: made.append(message))
        return made[-1].status

    assert render("image/format,avif") == render("image/format,avif/quality,Q_90") == "ok"
    with pytest.raises(InvalidArgument, match=r"with format,avif .* about 0\.4 s of CPU"):
        render("image/format,avif/quality,Q_100")
    with pytest.raises(InvalidArgument, match=r"with format,avif .* about 0\.5 s of CPU"):
        render("image/format,avif", "small")
    heic = [cost.encode_ns("heic", quality) for quality in (100, 90, 85, 20)]
    assert heic[0] > heic[1] > heic[2] == heic[3]
    assert cost.encode_ns("jpg", 100) == cost.encode_ns("jpg", 85)


def test_killer_urls_answer_400_at_once_and_ordinary_misses_beside_them_all_get_200(tmp_path, folder):
    with pool_server(tmp_path, folder, workers=2, job_timeout=30) as srv:
        with concurrent.futures.ThreadPoolExecutor(12) as executor:
            killers = [executor.submit(timed, srv, key, killer)
                       for key, killer in [("photo.jpg", ROTATE_130), ("clip.gif", GIF_KILLER)] * 2]
            ordinary = [executor.submit(timed, srv, "photo.jpg", f"image/resize,w_{w}") for w in range(100, 108)]
            for future in killers:
                answer, seconds = future.result()
                assert answer.status_code == 400 and "<Code>InvalidArgument</Code>" in answer.text
                assert seconds < 1.0, seconds
            assert "with rotate,33" in killers[1].result()[0].text
            assert [f.result()[0].status_code for f in ordinary] == [200] * 8
        assert srv.metric("edge_worker_restarts_total") == 0


def test_a_url_that_timed_out_is_answered_at_once_for_a_while(tmp_path, folder):
    with pool_server(tmp_path, folder, workers=1, job_timeout=0.5) as srv:
        first, _ = timed(srv, "big.png", SLOW)
        assert first.status_code == 504 and "<Code>ProcessTimeout</Code>" in first.text
        again, seconds = timed(srv, "big.png", SLOW)
        assert again.status_code == 504 and seconds < 0.2
        assert srv.metric("edge_worker_restarts_total", reason="timeout") == 1  # no second worker killed
        assert process(srv, "photo.jpg", "image/resize,w_20").status_code == 200


def test_cheap_renditions_batched_with_a_dear_one_are_answered_before_it(tmp_path, folder):
    with pool_server(tmp_path, folder, workers=1, queue=16, job_timeout=60) as srv:
        dear = ("big.png", "image/rotate,45/format,png")  # ~3 s
        cheap = [("big.png", f"image/resize,w_{100 + i}") for i in range(7)]
        with concurrent.futures.ThreadPoolExecutor(9) as executor:
            blocker = executor.submit(process, srv, "busy.png", SLOW)
            time.sleep(0.3)
            dear_future = executor.submit(timed, srv, *dear)
            time.sleep(0.1)  # the dear one opens the batch: it is asked first
            cheap_futures = [executor.submit(timed, srv, *ask) for ask in cheap]
            assert blocker.result().status_code == 200
            dear_answer, dear_seconds = dear_future.result()
            cheap_results = [f.result() for f in cheap_futures]
        assert dear_answer.status_code == 200
        assert all(answer.status_code == 200 for answer, _ in cheap_results)
        assert srv.metric("edge_jobs_total", job="render") <= 3  # the blocker, the batch (+1 if early)
        slowest_cheap = max(seconds for _, seconds in cheap_results)
        assert slowest_cheap < dear_seconds - 1.5, (slowest_cheap, dear_seconds)


def test_a_worker_killed_in_a_batch_fails_only_the_job_it_was_making(tmp_path, folder):
    with pool_server(tmp_path, folder, workers=1, queue=16, job_timeout=60) as srv:
        [worker] = srv.worker_pids()
        angles = (44, 45, 46, 47)  # four renditions of about the same cost (~1.5 s each)
        with concurrent.futures.ThreadPoolExecutor(5) as executor:
            blocker = executor.submit(process, srv, "busy.png", SLOW)
            time.sleep(0.3)
            futures = [executor.submit(process, srv, "big.png", f"image/rotate,{a}/format,jpg") for a in angles]
            assert blocker.result().status_code == 200
            kill_once_busy(worker, 0.5)
            codes = [f.result(60).status_code for f in futures]
        assert sorted(codes) == [200, 200, 200, 500], codes
        assert srv.metric("edge_worker_restarts_total", reason="crash") == 1


def test_workers_killed_while_idle_are_replaced_at_once_and_no_request_fails(tmp_path, folder):
    with pool_server(tmp_path, folder, workers=2) as srv:
        old = srv.worker_pids()
        for pid in old:
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 15  # a new worker is ready once it has imported its libraries
        while time.monotonic() < deadline and (srv.metric("edge_worker_restarts_total", reason="died") < 2
                                               or srv.metric("edge_live_workers") < 2):
            time.sleep(0.05)
        assert srv.metric("edge_live_workers") == 2
        assert len(srv.worker_pids()) == 2 and not set(srv.worker_pids()) & set(old)
        assert srv.metric("edge_worker_restarts_total", reason="died") == 2
        assert srv.get("/readyz").json()["workers"] == 2
        codes = [process(srv, "photo.jpg", f"image/resize,w_{w}").status_code for w in range(30, 40)]
        assert codes == [200] * 10
