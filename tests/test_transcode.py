"""The transcode API of seed 000: /j2h (JPEG -> HEIC) and /g2w (GIF -> animated WebP)."""

import io

import pillow_heif
import pytest
from PIL import Image
from skimage import data as skdata

from conftest import Server, process
from edge.demo import bouncing_ball, landscape

APPCODE = "3d0c5cb04a3a4795aa2f8341f84c4984"
# SSIMULACRA2 points a /j2h HEIC may score below its JPEG against their photograph.
J2H_TOLERANCE = 6.0


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    folder = tmp_path_factory.mktemp("transcode")
    landscape(1920, 1080).save(folder / "1920x1080_1.jpg", quality=90)
    landscape(800, 600).save(folder / "other.jpeg", quality=90)
    Image.fromarray(skdata.astronaut()).save(folder / "astronaut.jpg", quality=90)  # a real photograph
    Image.fromarray(skdata.astronaut()).save(folder / "astronaut75.jpg", quality=75)
    frames = bouncing_ball(480, 270, 20)
    durations = [40 + 10 * (i % 6) for i in range(20)]  # GIF delays are whole centiseconds
    frames[0].save(folder / "anim.gif", save_all=True, append_images=frames[1:], duration=durations, loop=0)
    bouncing_ball(1921, 1080, 2)[0].save(folder / "wide.gif")
    with Server(tmp_path_factory.mktemp("transcode-server"), f"""
[server]
port = {{port}}
workers = 2
[buckets.deepoly-images]
source = "file://{folder}"
appcodes = ["{APPCODE}"]
""", name="transcode") as srv:
        srv.durations = durations
        yield srv


def ask(api, path, appcode=APPCODE, bucket="deepoly-images", **kwargs):
    params = {"BucketName": bucket}
    if appcode is not None:
        params["appcode"] = appcode
    return api.get(path, params=params, **kwargs)


def test_the_seeds_example_gives_a_heic_of_the_size_asked(api):
    response = ask(api, "/j2h/1920x1080_1-w600-h338.heic")
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "image/heic"
    heif = pillow_heif.open_heif(io.BytesIO(response.content))
    assert heif.size == (600, 338)


def test_w0_h0_keeps_the_size_and_jpeg_extension_is_found(api):
    assert pillow_heif.open_heif(io.BytesIO(ask(api, "/j2h/other-w0-h0.heic").content)).size == (800, 600)


def test_the_aspect_ratio_is_kept_inside_the_box(api):
    heif = pillow_heif.open_heif(io.BytesIO(ask(api, "/j2h/1920x1080_1-w600-h600.heic").content))
    assert heif.size == (600, 338)


def test_appcode_in_the_header_and_either_parameter_spelling(api):
    plain = api.get("/j2h/other-w100-h75.heic", params={"BucketName": "deepoly-images"},
                    headers={"Authorization": f"APPCODE {APPCODE}"})
    assert plain.status_code == 200
    assert api.get("/j2h/other-w100-h75.heic",
                   params={"BucketName": "deepoly-images", "AppCode": APPCODE}).status_code == 200


@pytest.mark.parametrize("appcode", [None, "", "wrong"])
def test_a_bad_or_missing_appcode_is_400(api, appcode):
    response = ask(api, "/j2h/other-w100-h75.heic", appcode=appcode)
    assert response.status_code == 400 and "<Code>InvalidAppCode</Code>" in response.text


def test_a_missing_original_is_404(api):
    assert ask(api, "/j2h/nothing-w100-h100.heic").status_code == 404
    assert ask(api, "/g2w/nothing-w100-h100.webp").status_code == 404


def test_enlarging_is_500_with_a_clear_message(api):
    response = ask(api, "/j2h/other-w1600-h1200.heic")
    assert response.status_code == 500
    assert "<Code>TranscodeUnsupported</Code>" in response.text and "larger than the original" in response.text


def test_a_gif_over_1920x1080_is_500(api):
    response = ask(api, "/g2w/wide-w100-h100.webp")
    assert response.status_code == 500 and "1920x1080" in response.text


@pytest.mark.parametrize("path", ["/j2h/other.heic", "/j2h/other-w10-h10.webp", "/j2h/other-wx-h10.heic"])
def test_a_malformed_name_is_400(api, path):
    assert ask(api, path).status_code == 400


def test_an_unknown_or_missing_bucket(api):
    assert ask(api, "/j2h/other-w10-h10.heic", bucket="nope").status_code == 404
    assert api.get("/j2h/other-w10-h10.heic", params={"appcode": APPCODE}).status_code == 400


def test_gif_becomes_an_animated_webp_with_every_frame_and_duration(api):
    response = ask(api, "/g2w/anim-w240-h135.webp")
    assert response.status_code == 200 and response.headers["Content-Type"] == "image/webp"
    webp = Image.open(io.BytesIO(response.content))
    assert webp.size == (240, 135) and webp.n_frames == 20
    durations = []
    for index in range(webp.n_frames):
        webp.seek(index)
        webp.load()  # the WebP reader sets a frame's duration when it decodes it
        durations.append(webp.info["duration"])
    assert durations == api.durations


def test_a_resized_drawn_gif_is_smaller_as_webp_than_as_gif_with_the_same_frames(api):
    # Resizing gives the flat ball in-between colours; the WebP keeps the GIF rendition's palette.
    webp = ask(api, "/g2w/anim-w240-h135.webp").content
    gif = process(api, "anim.gif", "image/resize,w_240,h_135/format,gif", bucket="deepoly-images").content
    assert len(webp) < 0.9 * len(gif), (len(webp), len(gif))
    with Image.open(io.BytesIO(webp)) as a, Image.open(io.BytesIO(gif)) as b:
        for index in range(0, 20, 5):
            a.seek(index)
            b.seek(index)
            assert a.convert("RGB").tobytes() == b.convert("RGB").tobytes()


def test_the_same_transcode_twice_costs_one_render_job(api):
    before = api.metric("edge_jobs_total", job="render")
    first = ask(api, "/j2h/1920x1080_1-w320-h180.heic")
    second = ask(api, "/j2h/1920x1080_1-w320-h180.heic")
    assert first.content == second.content and second.headers["X-Cache"] == "HIT"
    assert api.metric("edge_jobs_total", job="render") - before == 1
    # The same rendition through x-oss-process is the same cache entry.
    same = process(api, "1920x1080_1.jpg", "image/format,heic/quality,q_100/resize,w_320,h_180", bucket="deepoly-images")
    assert same.headers["X-Cache"] == "HIT" and same.content == first.content


@pytest.mark.parametrize("quality, name, share", [(90, "astronaut", 0.7), (75, "astronaut75", 0.9)])
def test_j2h_of_a_jpeg_is_smaller_and_looks_about_as_good(api, quality, name, share):
    # The HEIC is made at the JPEG's own quality on the common scale (quality,q_100), and finer for a
    # q75 JPEG, whose blocking a second generation would copy (edge.codecs.second_generation_steps).
    # Against the photograph both come from it scores within J2H_TOLERANCE of the JPEG (it re-encodes
    # the JPEG's pixels, artefacts included), in 0.55-0.75x (q90) or 0.7-0.9x (q75) the bytes
    # (docs/compression.md).
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import visual

    picture = Image.fromarray(skdata.astronaut())
    jpeg = io.BytesIO()
    picture.save(jpeg, "JPEG", quality=quality)
    heic = ask(api, f"/j2h/{name}-w0-h0.heic").content
    assert len(heic) < share * len(jpeg.getvalue()), (len(heic), len(jpeg.getvalue()))
    jpeg_score = visual.ssimulacra2(picture, Image.open(jpeg).convert("RGB"))
    assert visual.ssimulacra2(picture, Image.open(io.BytesIO(heic)).convert("RGB")) >= jpeg_score - J2H_TOLERANCE
