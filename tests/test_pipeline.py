"""The canonical process language: parsing, normalising, and parse(canonical(p)) == p."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import plugins.operations  # noqa: F401
from edge.errors import InvalidArgument, MissingArgument, OssError
from edge.pipeline import Pipeline


def canonical(text: str) -> str:
    return Pipeline.parse(text).canonical()


@pytest.mark.parametrize("spellings", [
    ["image/resize,w_100,h_100", "image/resize,h_100,w_100", "image/resize,m_lfit,w_100,h_100"],
    ["image/format,jpg", "image/format,jpeg", "image/format,JPG"],
    ["image/resize,w_10/format,png/quality,Q_80", "image/quality,Q_80/format,png/resize,w_10"],
    ["image/interlace,1/format,jpg", "image/format,jpg/interlace,1"],
    ["image/resize,w_10/auto-orient,1", "image/resize,w_10", "image/auto-orient,1/resize,w_10"],
    ["image/format,png/format,webp", "image/format,webp"],       # the last setting wins
    ["image/quality,q_50,Q_70", "image/quality,Q_70"],          # Q wins over q
    ["image/resize,m_fixed,w_10,h_10,color_FF0000", "image/resize,m_fixed,w_10,h_10"],  # colour is pad-only
    ["image/crop,x_0,y_0,w_10,g_nw", "image/crop,w_10"],
    ["image/rotate,0/resize,w_5", "image/rotate,360/resize,w_5", "image/resize,w_5"],
    ["image/interlace,0/resize,w_5", "image/resize,w_5"],
])
def test_spellings_of_one_rendition_share_one_canonical_string(spellings):
    assert len({canonical(text) for text in spellings}) == 1


def test_canonical_form():
    assert canonical("image/rotate,90/resize,h_20,m_fill,w_10/format,JPEG/interlace,1/quality,q_80") == \
        "image/rotate,90/resize,m_fill,w_10,h_20/format,jpg/quality,q_80/interlace,1"
    assert canonical("image/auto-orient,0/resize,w_10") == "image/auto-orient,0/resize,w_10"


def test_pixel_steps_keep_their_order():
    assert canonical("image/rotate,90/resize,w_10") != canonical("image/resize,w_10/rotate,90")


@pytest.mark.parametrize("text, error, words", [
    ("image/blurry,r_3", InvalidArgument, "unknown image action 'blurry'"),
    ("image/resize,w_100,zoom_2", InvalidArgument, "unknown parameter zoom"),
    ("image/resize,w_0", InvalidArgument, "w must be in [1, 16384]"),
    ("image/resize,w_abc", InvalidArgument, "w must be an integer"),
    ("image/resize,w_-5", InvalidArgument, "w must be an integer"),
    ("image/resize,m_stretch,w_5", InvalidArgument, "m_stretch is not one of"),
    ("image/resize,w_5,w_6", InvalidArgument, "w is given twice"),
    ("image/resize,m_lfit", MissingArgument, "one of w, h, l, s or p"),
    ("image/resize,p_50,w_5", InvalidArgument, "p cannot be combined"),
    ("image/resize,m_pad,w_5,color_GG0000", InvalidArgument, "color_GG0000"),
    ("image/crop,g_middle", InvalidArgument, "g_middle"),
    ("image/rotate,400", InvalidArgument, "must be in [0, 360]"),
    ("image/rotate", MissingArgument, "rotate: missing"),
    ("image/rotate,90,180", InvalidArgument, "expects one value"),
    ("image/format,psd", InvalidArgument, "format: psd is not one of"),
    ("image/quality", MissingArgument, "q or Q"),
    ("image/quality,Q_101", InvalidArgument, "Q must be in [1, 100]"),
    ("image/interlace,2", InvalidArgument, "must be in [0, 1]"),
    ("audio/snapshot,t_0", InvalidArgument, "unsupported process type 'audio'"),
    ("imag/resize,w_5", InvalidArgument, "unsupported process type"),
    ("image/" + "resize,w_5/" * 500, InvalidArgument, "longer than"),
])
def test_bad_process_strings_name_the_problem(text, error, words):
    with pytest.raises(error) as raised:
        Pipeline.parse(text)
    assert words in raised.value.message


# -- properties -------------------------------------------------------------

side = st.integers(1, 16384)
resize = st.builds(
    lambda m, w, h, limit: f"resize,m_{m},h_{h}" + (f",w_{w}" if w else "") + f",limit_{limit}",
    st.sampled_from(["lfit", "mfit", "fill", "pad", "fixed"]), st.none() | side, side, st.integers(0, 1))
crop = st.builds(lambda w, h, x, y, g: f"crop,w_{w},h_{h},x_{x},y_{y},g_{g}",
                 st.integers(0, 3000), st.integers(0, 3000), st.integers(0, 3000), st.integers(0, 3000),
                 st.sampled_from(["nw", "north", "ne", "west", "center", "east", "sw", "south", "se"]))
rotate = st.integers(0, 360).map(lambda d: f"rotate,{d}")
settings_ = st.sampled_from(["format,jpg", "format,webp", "format,heif", "quality,q_40", "quality,Q_77",
                             "interlace,1", "interlace,0", "auto-orient,0", "auto-orient,1", "info"])
radius = st.integers(1, 4096)
shapes = st.one_of(radius.map(lambda r: f"circle,r_{r}"), radius.map(lambda r: f"rounded-corners,r_{r}"))
strip = st.integers(1, 30000)
indexcrop = st.builds(lambda axes, a, b, i: "indexcrop," + axes.format(a, b) + ("" if i is None else f",i_{i}"),
                      st.sampled_from(["x_{}", "y_{}", "x_{},y_{}", "y_{},x_{}"]), strip, strip,
                      st.none() | st.integers(0, 30000))
blur = st.builds(lambda r, s: f"blur,s_{s},r_{r}", st.integers(1, 50), st.integers(1, 50))
tone = st.builds(lambda action, v: f"{action},{v}", st.sampled_from(["bright", "contrast"]), st.integers(-100, 100))
sharpen = st.integers(50, 399).map(lambda v: f"sharpen,{v}")
step = st.one_of(resize, crop, rotate, settings_, shapes, indexcrop, blur, tone, sharpen, st.just("average-hue"))


@given(st.lists(step, max_size=6))
@settings(max_examples=300, deadline=None)
def test_parse_of_canonical_is_the_same_pipeline(steps):
    pipeline = Pipeline.parse("image/" + "/".join(steps))
    assert Pipeline.parse(pipeline.canonical()) == pipeline


@given(st.text(max_size=80))
@settings(max_examples=500, deadline=None)
def test_the_parser_raises_only_our_errors(text):
    for candidate in (text, "image/" + text, "image/resize," + text):
        try:
            Pipeline.parse(candidate)
        except OssError:
            pass


# -- properties of the dialects: each lands on a Pipeline that its canonical string gives back ---------

import asyncio  # noqa: E402  (this section's own imports)

import plugins.dialects  # noqa: E402,F401  (registers the dialects)
from edge import dialects  # noqa: E402
from edge.config import BucketConfig  # noqa: E402
from plugins.dialects import image_mogr2, legacy, style  # noqa: E402

STYLED = BucketConfig(name="styled", source="file:///srv", style_separators=("@!", "-", "_", "/", "!"),
                      styles={"thumb": "image/resize,m_fill,w_100,h_100/format,png", "old": "50w_1e.png",
                              "flip": "image/rotate,180"})


def assert_round_trip(pipeline: Pipeline) -> None:
    assert Pipeline.parse(pipeline.canonical()) == pipeline


legacy_size = st.one_of(
    st.integers(1, 4096).map(lambda v: f"{v}w"), st.integers(1, 4096).map(lambda v: f"{v}h"),
    st.tuples(st.integers(1, 4096), st.integers(1, 4096)).map(lambda wh: f"{wh[0]}w_{wh[1]}h"),
    st.integers(1, 200).map(lambda v: f"{v}p"))
legacy_param = st.one_of(
    st.sampled_from(["0e", "1e", "2e", "4e", "0c", "1c", "0l", "1l", "0o", "1o", "2o", "0pr", "1pr"]),
    st.integers(1, 200).map(lambda v: f"{v}p"), st.integers(1, 100).map(lambda v: f"{v}q"),
    st.integers(1, 100).map(lambda v: f"{v}Q"), st.integers(0, 360).map(lambda v: f"{v}r"),
    st.tuples(*[st.integers(0, 3000)] * 4).map(lambda a: "-".join(map(str, a)) + "a"),
    st.tuples(st.integers(0, 3000), st.integers(0, 3000), st.integers(1, 9)).map(lambda t: "{}x{}-{}rc".format(*t)),
    st.tuples(*[st.integers(0, 255)] * 3).map(lambda c: "-".join(map(str, c)) + "bgc"),
    st.tuples(st.integers(1, 50), st.integers(1, 50)).map(lambda b: "{}-{}bl".format(*b)),
    st.integers(-100, 100).map(lambda v: f"{v}b"), st.integers(50, 399).map(lambda v: f"{v}sh"))
legacy_segment = st.builds(
    lambda size, params, fmt: "_".join([size, *params]) + fmt, legacy_size,
    st.lists(legacy_param, max_size=4, unique_by=lambda token: token.lstrip("0123456789x-")),
    st.sampled_from(["", ".jpg", ".png", ".webp", ".src", ".JPEG"]))
legacy_text = st.lists(legacy_segment, min_size=1, max_size=4).map("|".join)


@given(legacy_text)
@settings(max_examples=300, deadline=None)
def test_legacy_lands_on_a_pipeline_its_canonical_string_gives_back(text):
    try:
        assert_round_trip(legacy.pipeline(text))
    except InvalidArgument as exc:
        assert "given twice" in exc.message  # a size token and a parameter may both say p


mogr_verb = st.one_of(
    st.sampled_from(["auto-orient", "strip", "interlace/1", "interlace/0", "format/heif", "format/webp",
                     "format/png", "format/avif", "format/jpg", "gravity/center", "gravity/southeast"]),
    st.integers(1, 1000).map(lambda p: f"thumbnail/!{p}p"),
    st.tuples(st.integers(1, 4096), st.integers(1, 4096), st.sampled_from(["", ">", "!", "r"])).map(
        lambda t: f"thumbnail/{'!' if t[2] == 'r' else ''}{t[0]}x{t[1]}{t[2]}"),
    st.integers(1, 4096).map(lambda w: f"thumbnail/{w}x"), st.integers(1, 4096).map(lambda h: f"thumbnail/x{h}"),
    st.tuples(st.integers(1, 3000), st.integers(1, 3000)).map(lambda c: "crop/{}x{}".format(*c)),
    st.tuples(*[st.integers(1, 3000)] * 4).map(lambda c: "cut/{}x{}x{}x{}".format(*c)),
    st.integers(0, 360).map(lambda d: f"rotate/{d}"), st.integers(1, 100).map(lambda q: f"quality/{q}"),
    st.integers(1, 100).map(lambda q: f"rquality/{q}"))
mogr_text = st.lists(st.lists(mogr_verb, min_size=1, max_size=5).map(lambda verbs: "imageMogr2/" + "/".join(verbs)),
                     min_size=1, max_size=3).map("|".join)


@given(mogr_text)
@settings(max_examples=300, deadline=None)
def test_imagemogr2_lands_on_a_pipeline_its_canonical_string_gives_back(text):
    assert_round_trip(image_mogr2.pipeline(text))


@given(st.sampled_from(sorted(STYLED.styles)), st.lists(step, max_size=3))
@settings(max_examples=200, deadline=None)
def test_styles_land_on_a_pipeline_its_canonical_string_gives_back(name, steps):
    asked = style.parse_query("k.jpg", {"x-oss-process": "/".join(["style", name, *steps])}, STYLED)
    assert_round_trip(asked.pipeline)
    assert asked.dialect == ("style+image" if steps else "style")


async def _sometimes(key: str) -> bool:
    return len(key) % 3 == 0  # some originals exist, some do not: every branch of the key rule


@given(st.text(max_size=80))
@settings(max_examples=300, deadline=None)
def test_the_dialects_raise_only_our_errors(text):
    requests = [("photo.jpg" + text, {}), ("photo.jpg@" + text, {}), ("photo.jpg@!" + text, {}),
                (text or "k", {"x-oss-process": "style/" + text}), ("k", {"imageMogr2/" + text: ""}),
                ("k", {"imageMogr2": text})]
    for key, query in requests:
        try:
            asked = asyncio.run(dialects.parse(key, query, STYLED, _sometimes))
        except OssError:
            continue
        if asked.pipeline is not None:
            assert_round_trip(asked.pipeline)
    for parser, candidate in ((legacy.pipeline, text), (image_mogr2.pipeline, "imageMogr2/" + text)):
        try:
            parser(candidate)
        except OssError:
            pass
