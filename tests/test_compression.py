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

from conftest import render
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

