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
                             "interlace,1", "interlace,0", "auto-orient,0", "auto-orient,1"])
step = st.one_of(resize, crop, rotate, settings_)


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
