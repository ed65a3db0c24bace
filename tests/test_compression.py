"""Quality means the same thing in every format: HEIC, AVIF and WebP renditions of a photograph
look like its JPEG rendition at the same q/Q (SSIMULACRA2, within TOLERANCE) in fewer bytes.

The renditions are made by the worker's own render function from a real photograph that
scikit-image ships; the reference is the lossless PNG rendition of the same pipeline.
"""

import io
import sys
from pathlib import Path

import pytest
from PIL import Image
from skimage import data as skdata

from conftest import InProcessServer, main_toml, render
from edge import codecs, registry
from edge.config import Limits
from edge.jobs import RenderJob
from edge.pipeline import Pipeline

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import visual  # noqa: E402

# How far below the JPEG rendition's score a calibrated one may be on one photograph: the
# calibration is a median over the corpus, and single photographs scatter about it by a few
# points (docs/compression.md).
TOLERANCE = 4.0

registry.load_inherited()  # the operations a worker has


@pytest.fixture(scope="module")
def photo() -> bytes:
    out = io.BytesIO()
    Image.fromarray(skdata.astronaut()).save(out, "PNG")
    return out.getvalue()


def rendition(source: bytes, process: str) -> bytes:
    return render(RenderJob(Pipeline.parse(process), Limits()), source)[1]


def pixels(body: bytes) -> Image.Image:
    with Image.open(io.BytesIO(body)) as im:
        return im.convert("RGB")


@pytest.mark.parametrize("quality", ["", "/quality,Q_80"])
def test_heic_avif_webp_look_like_the_jpeg_in_fewer_bytes(photo, quality):
    reference = pixels(rendition(photo, "image/resize,w_320/format,png"))
    jpeg = rendition(photo, f"image/resize,w_320/format,jpg{quality}")
    jpeg_score = visual.ssimulacra2(reference, pixels(jpeg))
    for name, share in (("heic", 0.62), ("avif", 0.7), ("webp", 0.95)):
        body = rendition(photo, f"image/resize,w_320/format,{name}{quality}")
        score = visual.ssimulacra2(reference, pixels(body))
        assert len(body) < share * len(jpeg), (name, len(body), len(jpeg))
        assert score >= jpeg_score - TOLERANCE, (name, score, jpeg_score)


def test_an_avif_rendition_has_the_same_bytes_whatever_the_machines_core_count(photo, monkeypatch):
    # libaom writes other bytes with one thread than with two or more; Pillow's default is a thread
    # per core. The rendition's strong ETag is known before it is made, so every node must agree.
    from PIL import AvifImagePlugin

    made = {}
    for cores in (1, 16):
        monkeypatch.setattr(AvifImagePlugin, "DEFAULT_MAX_THREADS", cores)
        made[cores] = rendition(photo, "image/resize,w_320/format,avif")
    assert made[1] == made[16]


def test_each_format_maps_the_jpeg_scale_through_the_calibration():
    for name in codecs.CALIBRATED:
        settings = [codecs.calibrated_quality(name, q) for q in range(1, 101)]
        assert settings == sorted(settings) and 1 <= settings[0] and settings[-1] <= 100


def test_the_oss_rules_against_the_source_quality_are_unchanged():
    def ctx(**kwargs):
        from edge.frames import RenderContext
        return RenderContext(Limits(), "JPEG", **kwargs)
    assert codecs.effective_quality(ctx(source_quality=70)) == 70  # the default never raises it
    assert codecs.effective_quality(ctx(source_quality=90)) == codecs.DEFAULT_QUALITY
    assert codecs.effective_quality(ctx(source_quality=70, quality_absolute=80)) == 70
    assert codecs.effective_quality(ctx(source_quality=90, quality_relative=50)) == 45


@pytest.mark.parametrize("mode, options", [("RGB", {}), ("RGBA", {}), ("RGBA", {"interlace": 1}), ("P", {}),
                                           ("L", {}), ("RGB", {"transparency": (1, 2, 3)}), ("I;16", {})])
def test_png_load_gives_pillows_pixels(mode, options):
    # 8-bit RGB(A) PNGs are decoded by libspng (faster), the rest by Pillow: the same pixels either way.
    picture = Image.fromarray(skdata.astronaut()[:64, :48]).convert("RGBA")
    picture.putalpha(Image.linear_gradient("L").resize((48, 64)))
    out = io.BytesIO()
    (picture if mode == "RGBA" else picture.convert(mode)).save(out, "PNG", **options)
    expected = Image.open(io.BytesIO(out.getvalue()))
    expected.load()
    got = codecs.load(Image.open(io.BytesIO(out.getvalue())))
    assert got.mode == expected.mode and got.tobytes() == expected.tobytes()


def test_a_corrupt_png_still_fails_as_pillow_fails():
    out = io.BytesIO()
    Image.fromarray(skdata.astronaut()[:64, :64]).save(out, "PNG")
    broken = bytearray(out.getvalue())
    broken[len(broken) // 2] ^= 0xFF  # in the compressed pixels: libspng refuses it, and so does Pillow
    with pytest.raises((OSError, SyntaxError, ValueError)):
        codecs.load(Image.open(io.BytesIO(bytes(broken))))



def effort_rendition(source: bytes, process: str, effort: str) -> bytes:
    return render(RenderJob(Pipeline.parse(process), Limits(), effort=effort), source)[1]


def test_effort_small_writes_fewer_bytes_at_the_look_of_the_jpeg(photo):
    # [compression] effort = "small": x265 rdoq-level 2, libaom speed 6, libwebp's sharp RGB->YUV,
    # each through its own calibration (CALIBRATION_SMALL), so the default still looks like JPEG q85.
    reference = pixels(rendition(photo, "image/resize,w_320/format,png"))
    jpeg_score = visual.ssimulacra2(reference, pixels(rendition(photo, "image/resize,w_320/format,jpg")))
    for name in ("heic", "avif", "webp"):
        fast = effort_rendition(photo, f"image/resize,w_320/format,{name}", "fast")
        small = effort_rendition(photo, f"image/resize,w_320/format,{name}", "small")
        score = visual.ssimulacra2(reference, pixels(small))
        assert len(small) < len(fast), (name, len(small), len(fast))
        assert score >= jpeg_score - TOLERANCE, (name, score, jpeg_score)


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_libwebp_writes_pillows_bytes_without_sharp_yuv(mode):
    # edge.libwebp declares libwebp's structures itself: were they to move in a later libwebp, its
    # bytes would stop being Pillow's here (and effort "small" must not write what nobody checked).
    from edge import libwebp

    picture = Image.fromarray(skdata.astronaut()[:96, :128]).convert(mode)
    if mode == "RGBA":
        picture.putalpha(Image.linear_gradient("L").resize((128, 96)))
    out = io.BytesIO()
    picture.save(out, "WEBP", quality=80, method=4)
    assert libwebp.encode(picture, 80, 4) == out.getvalue()
    sharp = libwebp.encode(picture, 80, 4, use_sharp_yuv=True)
    assert sharp != out.getvalue() and pixels(sharp).size == (128, 96)


def test_the_effort_is_part_of_each_renditions_key():
    from edge.renditions import rendition_digest
    from edge.sources import SourceObject

    obj = SourceObject("photo.jpg", 1000, '"abc"', 0.0, "image/jpeg")
    pipeline = Pipeline.parse("image/format,webp")
    fast = rendition_digest("b", obj, pipeline)
    assert rendition_digest("b", obj, pipeline, (), "", "fast") == fast  # the default's keys are as before
    assert rendition_digest("b", obj, pipeline, (), "", "small") != fast


def test_a_server_with_effort_small_answers_other_bytes_under_another_etag(samples):
    url = "/test/photo.jpg?x-oss-process=image/resize,w_200/format,webp"
    answers = {}
    for effort in ("fast", "small"):
        with InProcessServer(main_toml(samples) + f'\n[compression]\neffort = "{effort}"\n') as srv:
            answers[effort] = srv.get(url)
    assert [a.status_code for a in answers.values()] == [200, 200]
    assert {a.headers["Content-Type"] for a in answers.values()} == {"image/webp"}
    assert answers["fast"].headers["ETag"] != answers["small"].headers["ETag"]
    assert answers["fast"].content != answers["small"].content


def test_effort_small_without_a_libwebp_refuses_to_start(monkeypatch):
    from edge import libwebp
    from edge.app import make_app
    from edge.config import ConfigError, load

    monkeypatch.setattr(libwebp, "available", lambda: False)
    with pytest.raises(ConfigError, match=r'compression.effort: "small" writes WebP through libwebp'):
        make_app(load(environ={}, overrides={"compression": {"effort": "small"}}))


@pytest.mark.parametrize("quality", [90, 75])
def test_j2h_with_effort_small_keeps_the_jpegs_look_in_fewer_bytes(quality):
    from test_transcode import J2H_TOLERANCE

    picture = Image.fromarray(skdata.astronaut())
    jpeg = io.BytesIO()
    picture.save(jpeg, "JPEG", quality=quality)
    heic = effort_rendition(jpeg.getvalue(), "image/format,heic/quality,q_100", "small")
    assert len(heic) < len(jpeg.getvalue())
    jpeg_score = visual.ssimulacra2(picture, pixels(jpeg.getvalue()))
    assert visual.ssimulacra2(picture, pixels(heic)) >= jpeg_score - J2H_TOLERANCE
