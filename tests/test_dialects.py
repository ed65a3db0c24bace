"""Every syntax for a rendition: styles (by parameter and by each separator), the legacy `@` API,
Tencent's imageMogr2, and the rule that a key holding a separator is still its own original.

In-process (conftest.InProcessServer): the workers are real; no `edge serve` process is needed."""

import io
import shutil

import pytest
from PIL import Image

from conftest import QUADRANTS, InProcessServer, open_image, process
from test_bad_input import assert_error
import edge.codecs  # noqa: F401  (registers the HEIF opener, to read heic answers)

SEPARATORS = ["@!", "-", "_", "/", "!"]
THUMB = "image/resize,m_fill,w_100,h_100/format,png"


@pytest.fixture(scope="module")
def styled(tmp_path_factory, samples):
    """A server of its own (so job counts are ours): bucket `styled` with every separator and styles,
    bucket `plain` with the defaults and the legacy API off."""
    folder = tmp_path_factory.mktemp("styled")
    for name in ("photo.jpg", "small.jpg", "quadrants.png", "exif6.jpg"):
        shutil.copy(samples / name, folder / name)
    # Keys that hold a separator: each is its own original.
    shutil.copy(samples / "photo.jpg", folder / "small.jpg-thumb")
    shutil.copy(samples / "quadrants.png", folder / "logo@2x.png")
    separators = ", ".join(f'"{separator}"' for separator in SEPARATORS)
    with InProcessServer(f"""
[server]
port = {{port}}
workers = 2

[buckets.styled]
source = "file://{folder}"
style_separators = [{separators}]

[buckets.styled.styles]
thumb = "{THUMB}"
"small-thumb" = "image/resize,w_20/format,png"
old = "50w.png"

[buckets.plain]
source = "file://{folder}"
legacy_api = false

[buckets.plain.styles]
thumb = "{THUMB}"
""") as srv:
        yield srv


def get(server, path):
    return server.get(path)


# -- one rendition, whatever the syntax -----------------------------------------------


def test_every_syntax_is_one_rendition_made_by_one_job(styled):
    jobs = styled.metric("edge_jobs_total", outcome="ok")
    answers = [
        process(styled, "photo.jpg", THUMB, bucket="styled"),
        process(styled, "photo.jpg", "style/thumb", bucket="styled"),
        *(get(styled, f"/styled/photo.jpg{separator}thumb") for separator in SEPARATORS),
        get(styled, "/styled/photo.jpg@100w_100h_1e_1c_1l.png"),
    ]
    for answer in answers:
        assert answer.status_code == 200, answer.text
        assert answer.headers["Content-Type"] == "image/png"
    assert len({answer.content for answer in answers}) == 1
    assert len({answer.headers["ETag"] for answer in answers}) == 1
    assert Image.open(io.BytesIO(answers[0].content)).size == (100, 100)
    assert styled.metric("edge_jobs_total", outcome="ok") - jobs == 1
    assert {answer.headers["X-Cache"] for answer in answers[1:]} == {"HIT"}


# -- styles ---------------------------------------------------------------------------


def test_a_key_holding_a_separator_is_its_own_original(styled, samples):
    # small.jpg-thumb exists: the whole key wins over "small.jpg" + style "thumb".
    assert get(styled, "/styled/small.jpg-thumb").content == (samples / "photo.jpg").read_bytes()
    assert get(styled, "/styled/logo@2x.png").content == (samples / "quadrants.png").read_bytes()
    # ... and it can be processed like any other key, by every syntax.
    assert open_image(get(styled, "/styled/logo@2x.png@50p.png")).size == (150, 100)
    assert open_image(get(styled, "/styled/logo@2x.png@!thumb")).size == (100, 100)
    assert open_image(process(styled, "small.jpg-thumb", "image/resize,w_50", bucket="styled")).size == (50, 38)


def test_the_longest_configured_style_name_wins(styled):
    # "photo.jpg-small-thumb": style "small-thumb" on photo.jpg, not "thumb" on "photo.jpg-small".
    assert open_image(get(styled, "/styled/photo.jpg-small-thumb")).size == (20, 15)


def test_a_style_may_be_followed_by_more_actions(styled):
    turned = open_image(process(styled, "quadrants.png", "style/thumb/rotate,90", bucket="styled"))
    assert turned.size == (100, 100) and turned.format == "PNG"
    assert turned.convert("RGB").getpixel((95, 5)) == QUADRANTS["nw"]  # the red corner went right
    later_wins = process(styled, "photo.jpg", "style/thumb/format,webp", bucket="styled")
    assert later_wins.headers["Content-Type"] == "image/webp"


def test_a_style_body_may_be_legacy_instructions(styled):
    old = open_image(get(styled, "/styled/photo.jpg@!old"))
    assert old.size == (50, 38) and old.format == "PNG"


def test_unknown_style_is_no_such_style(styled):
    assert_error(process(styled, "photo.jpg", "style/nope", bucket="styled"), 404, "NoSuchStyle", "nope")
    for separator in SEPARATORS:
        assert_error(get(styled, f"/styled/photo.jpg{separator}nope"), 404, "NoSuchStyle", "nope")


def test_separator_on_a_missing_original_is_no_such_key(styled):
    assert_error(get(styled, "/styled/missing.jpg@!thumb"), 404, "NoSuchKey")
    # An ordinary key with a '-' is not taken for a style when nothing has its name.
    assert_error(get(styled, "/styled/no-such-photo.jpg"), 404, "NoSuchKey")


def test_only_the_enabled_separators_are_read(styled):
    assert open_image(get(styled, "/plain/photo.jpg@!thumb")).size == (100, 100)  # the default `@!`
    assert_error(get(styled, "/plain/photo.jpg-thumb"), 404, "NoSuchKey")  # '-' is not enabled there


# -- the legacy `@` API ---------------------------------------------------------------


@pytest.mark.parametrize("path, size, fmt", [
    ("photo.jpg@100w", (100, 75), "JPEG"),
    ("photo.jpg@100h.png", (133, 100), "PNG"),
    ("photo.jpg@100w_100h", (100, 75), "JPEG"),             # 0e: the long side decides
    ("photo.jpg@100w_100h_1e", (133, 100), "JPEG"),         # 1e: the short side decides
    ("photo.jpg@100w_100h_1e_1c", (100, 100), "JPEG"),      # ... then cut the middle
    ("photo.jpg@100w_100h_2e.webp", (100, 100), "WEBP"),    # 2e: forced
    ("photo.jpg@100w_100h_4e.png", (100, 100), "PNG"),      # 4e: padded
    ("photo.jpg@50p", (200, 150), "JPEG"),
    ("photo.jpg@100w_100h_50p", (50, 38), "JPEG"),          # p scales w and h
    ("small.jpg@400w", (400, 200), "JPEG"),                 # the old service enlarges ...
    ("small.jpg@400w_1l", (200, 100), "JPEG"),              # ... unless 1l
    ("quadrants.png@150w.src", (150, 100), "PNG"),          # .src keeps the source's format
    ("quadrants.png@100w", (100, 67), "JPEG"),              # without a format: jpg (the manual)
    ("quadrants.png@150w|90r.png", (100, 150), "PNG"),      # pipes run in order
    ("quadrants.png@0-0-100-80a.png", (100, 80), "PNG"),
    ("quadrants.png@120x90-9rc.png", (120, 90), "PNG"),
    ("photo.jpg@100w_90Q_1pr", (100, 75), "JPEG"),
    ("exif6.jpg@100w_0o.png", (100, 67), "PNG"),            # 0o keeps the stored pixel order
    ("exif6.jpg@100w.png", (100, 150), "PNG"),              # upright by default
])
def test_legacy_instructions(styled, path, size, fmt):
    image = open_image(get(styled, f"/styled/{path}"))
    assert (image.size, image.format) == (size, fmt)


def test_legacy_crops_take_the_right_pixels(styled):
    red = open_image(get(styled, "/styled/quadrants.png@0-0-100-80a.png")).convert("RGB")
    assert red.getpixel((50, 40)) == QUADRANTS["nw"]
    yellow = open_image(get(styled, "/styled/quadrants.png@120x90-9rc.png")).convert("RGB")
    assert yellow.getpixel((60, 45)) == QUADRANTS["se"]


@pytest.mark.parametrize("path, status, code, words", [
    ("photo.jpg@100000w", 400, "InvalidArgument", "100000w"),
    ("photo.jpg@100w_3e", 400, "InvalidArgument", "e must be 0, 1, 2 or 4"),
    ("photo.jpg@1e_1c", 400, "MissingArgument", "without a width"),
    ("photo.jpg@5zz", 400, "InvalidArgument", "unknown parameter zz"),
    ("photo.jpg@100-50a", 400, "InvalidArgument", "x-y-width-height"),
    ("photo.jpg@120q", 400, "InvalidArgument", "q must be in [1, 100]"),
    ("photo.jpg@100w.psd", 400, "InvalidArgument", "format: psd"),
    ("photo.jpg@100w|100h|90q|90r|1pr", 400, "TooManyPipe", "at most 4"),
    ("photo.jpg@watermark=1&object=cGFuZGEucG5n", 400, "InvalidArgument", "cannot read"),
    ("missing.jpg@100w", 404, "NoSuchKey", "missing.jpg"),
    ("missing.jpg@bad", 404, "NoSuchKey", "missing.jpg@bad"),
])
def test_bad_legacy_instructions(styled, path, status, code, words):
    assert_error(get(styled, f"/styled/{path}"), status, code, words)


def test_four_pipes_are_allowed(styled):
    assert open_image(get(styled, "/styled/photo.jpg@200w|100w|90r|1pr.png")).size == (75, 100)


def test_legacy_api_off_leaves_at_signs_to_keys(styled):
    assert_error(get(styled, "/plain/photo.jpg@100w"), 404, "NoSuchKey")


# -- Tencent imageMogr2 ---------------------------------------------------------------


def mogr(server, key, instructions):
    return server.get(f"/styled/{key}?{instructions}")


@pytest.mark.parametrize("fmt, content_type", [
    ("heif", "image/heic"), ("avif", "image/avif"), ("webp", "image/webp"), ("png", "image/png"),
    ("jpg", "image/jpeg"),
])
def test_imagemogr2_format(styled, fmt, content_type):
    response = mogr(styled, "photo.jpg", f"imageMogr2/format/{fmt}")
    assert response.status_code == 200 and response.headers["Content-Type"] == content_type
    assert Image.open(io.BytesIO(response.content)).size == (400, 300)


def test_imagemogr2_tpg_is_refused_and_says_why(styled):
    assert_error(mogr(styled, "photo.jpg", "imageMogr2/format/tpg"), 400, "InvalidArgument", "proprietary")


@pytest.mark.parametrize("instructions, size", [
    ("imageMogr2/thumbnail/!50p", (200, 150)),
    ("imageMogr2/thumbnail/200x", (200, 150)),
    ("imageMogr2/thumbnail/x60", (80, 60)),
    ("imageMogr2/thumbnail/100x100", (100, 75)),
    ("imageMogr2/thumbnail/!100x100r", (133, 100)),
    ("imageMogr2/thumbnail/100x100!", (100, 100)),
    ("imageMogr2/thumbnail/800x800", (800, 600)),       # Tencent enlarges ...
    ("imageMogr2/thumbnail/800x800%3E", (400, 300)),    # ... unless '>'
    ("imageMogr2/crop/100x50/gravity/center", (100, 50)),
    ("imageMogr2/cut/100x80x10x10", (100, 80)),
    ("imageMogr2/rotate/90", (300, 400)),
    ("imageMogr2/thumbnail/200x/quality/60/interlace/1|imageMogr2/rotate/90", (150, 200)),
])
def test_imagemogr2_verbs(styled, instructions, size):
    assert open_image(mogr(styled, "photo.jpg", instructions)).size == size


def test_imagemogr2_crop_gravity_and_orientation(styled):
    centre = open_image(mogr(styled, "quadrants.png", "imageMogr2/gravity/southeast/crop/60x40")).convert("RGB")
    assert centre.getpixel((30, 20)) == QUADRANTS["se"]
    # Tencent turns a picture upright only when asked to.
    assert open_image(mogr(styled, "exif6.jpg", "imageMogr2/format/png")).size == (300, 200)
    assert open_image(mogr(styled, "exif6.jpg", "imageMogr2/auto-orient/format/png")).size == (200, 300)


@pytest.mark.parametrize("instructions, words", [
    ("imageMogr2/thumbnail/100@", "not a supported geometry"),
    ("imageMogr2/quality/90!", "forced quality"),
    ("imageMogr2/crop/abc", "crop/abc"),
    ("imageMogr2/gravity/middle/crop/10x10", "gravity/middle"),
    ("imageMogr2/flip/vertical", "imageMogr2/flip is not supported"),
    ("imageMogr2/rotate", "missing its value"),
    ("imageMogr2/format/png|watermark/1/image/abc", "only imageMogr2"),
])
def test_bad_imagemogr2_instructions(styled, instructions, words):
    assert_error(mogr(styled, "photo.jpg", instructions), 400, "InvalidArgument" if "missing" not in words
                 else "MissingArgument", words)
