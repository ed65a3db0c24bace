"""crop (every gravity), rotate and auto-orient."""

import pytest

from conftest import QUADRANTS, open_image, process


def colour(im, x, y):
    return im.convert("RGB").getpixel((x, y))


@pytest.mark.parametrize("gravity, expected", [
    ("nw", QUADRANTS["nw"]), ("ne", QUADRANTS["ne"]), ("sw", QUADRANTS["sw"]), ("se", QUADRANTS["se"]),
])
def test_crop_corner_gravities(server, gravity, expected):
    im = open_image(process(server, "quadrants.png", f"image/crop,w_100,h_80,g_{gravity}"))
    assert im.size == (100, 80)
    assert colour(im, 50, 40) == expected


@pytest.mark.parametrize("gravity, left_colour, right_colour", [
    ("north", QUADRANTS["nw"], QUADRANTS["ne"]),
    ("south", QUADRANTS["sw"], QUADRANTS["se"]),
    ("center", QUADRANTS["nw"], QUADRANTS["se"]),
])
def test_crop_middle_column_gravities_are_centred(server, gravity, left_colour, right_colour):
    im = open_image(process(server, "quadrants.png", f"image/crop,w_100,h_80,g_{gravity}"))
    assert im.size == (100, 80)
    assert colour(im, 10, 5 if gravity != "south" else 75) == left_colour
    assert colour(im, 90, 75 if gravity != "north" else 5) == right_colour


@pytest.mark.parametrize("gravity, top_colour, bottom_colour", [
    ("west", QUADRANTS["nw"], QUADRANTS["sw"]),
    ("east", QUADRANTS["ne"], QUADRANTS["se"]),
])
def test_crop_middle_row_gravities_are_centred(server, gravity, top_colour, bottom_colour):
    im = open_image(process(server, "quadrants.png", f"image/crop,w_80,h_100,g_{gravity}"))
    assert im.size == (80, 100)
    assert colour(im, 40, 5) == top_colour
    assert colour(im, 40, 95) == bottom_colour


def test_crop_from_a_start_point_to_the_edge(server):
    # The manual: crop,x_100,y_50 cuts from (100, 50) to the end of the image.
    im = open_image(process(server, "quadrants.png", "image/crop,x_100,y_50"))
    assert im.size == (200, 150)


def test_crop_offsets_count_from_the_anchored_edge(server):
    # g_se with x_10,y_10 moves the region 10 px up and left from the bottom-right corner.
    im = open_image(process(server, "quadrants.png", "image/crop,x_10,y_10,w_200,h_100,g_se"))
    assert im.size == (200, 100)
    assert colour(im, 189, 99) == QUADRANTS["se"]
    assert colour(im, 199, 99) == QUADRANTS["se"]


def test_crop_region_past_the_edge_is_cut_at_the_edge(server):
    im = open_image(process(server, "quadrants.png", "image/crop,x_250,y_150,w_500,h_500"))
    assert im.size == (50, 50)


def test_rotate_by_90_swaps_the_sides(server):
    im = open_image(process(server, "quadrants.png", "image/rotate,90"))
    assert im.size == (200, 300)
    assert colour(im, 150, 10) == QUADRANTS["nw"]  # clockwise: the top-left corner goes top-right


def test_rotate_by_an_odd_angle_grows_the_canvas_and_fills_white(server):
    im = open_image(process(server, "quadrants.png", "image/rotate,30/format,png"))
    assert im.size[0] > 300 and im.size[1] > 200
    assert colour(im, 0, 0) == (255, 255, 255)


def test_auto_orient_is_on_by_default(server):
    # exif6.jpg is stored sideways (300x200) with orientation 6; upright it is 200x300, red top-left.
    im = open_image(process(server, "exif6.jpg", "image/resize,w_100"))
    assert im.size == (100, 150)
    assert colour(im, 10, 10)[0] > 200 and colour(im, 10, 10)[2] < 60


def test_auto_orient_0_keeps_the_stored_pixels(server):
    im = open_image(process(server, "exif6.jpg", "image/resize,w_100/auto-orient,0"))
    assert im.size == (100, 67)
