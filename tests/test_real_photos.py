"""Real-world files: CMYK and YCCK JPEGs, ICC profiles, EXIF orientation, 16-bit and palette PNGs,
transparency into jpg, HEIC and AVIF sources, multi-page TIFF."""

import io
import struct
import zlib

import pillow_heif
import pytest
from PIL import Image, ImageChops, ImageStat

from conftest import QUADRANTS, open_image, process, quadrants
from edge.demo import landscape

pillow_heif.register_heif_opener()

# sRGB's colourants (D50), as an ICC matrix profile states them.
SRGB_RED, SRGB_GREEN, SRGB_BLUE = (0.4361, 0.2225, 0.0139), (0.3851, 0.7169, 0.0971), (0.1431, 0.0606, 0.7141)


def icc_profile(description: str, red, green, blue, gamma: float = 2.2) -> bytes:
    """A minimal ICC v2 RGB matrix/TRC display profile with the given colourants."""

    def s15(v):
        return struct.pack(">i", round(v * 65536))

    def xyz(v):
        return b"XYZ \0\0\0\0" + b"".join(s15(c) for c in v)

    text = description.encode() + b"\0"
    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"
    tags = [(b"desc", b"desc\0\0\0\0" + struct.pack(">I", len(text)) + text + b"\0" * 78),
            (b"wtpt", xyz((0.9642, 1.0, 0.8249))), (b"rXYZ", xyz(red)), (b"gXYZ", xyz(green)),
            (b"bXYZ", xyz(blue)), (b"rTRC", curve), (b"gTRC", curve), (b"bTRC", curve),
            (b"cprt", b"text\0\0\0\0public domain\0")]
    offset = 128 + 4 + 12 * len(tags)
    table, data = struct.pack(">I", len(tags)), b""
    for signature, body in tags:
        body += b"\0" * (-len(body) % 4)
        table += signature + struct.pack(">II", offset + len(data), len(body))
        data += body
    header = (struct.pack(">I", offset + len(data)) + b"\0" * 4 + struct.pack(">I", 0x02100000)
              + b"mntrRGB XYZ " + b"\0" * 12 + b"acsp" + b"\0" * 28 + s15(0.9642) + s15(1.0) + s15(0.8249)
              + b"\0" * 48)
    return header + table + data


def cmyk_of(picture: Image.Image) -> Image.Image:
    """The picture in CMYK with full undercolour removal (K = the grey part), as prepress does."""
    c, m, y = (ImageChops.invert(band) for band in picture.convert("RGB").split())
    k = ImageChops.darker(ImageChops.darker(c, m), y)
    white = ImageChops.invert(k).tobytes()

    def ucr(band):
        return Image.frombytes("L", band.size, bytes(0 if w == 0 else min(255, round((v - g) * 255 / w))
                                                     for v, g, w in zip(band.tobytes(), k.tobytes(), white)))

    return Image.merge("CMYK", (ucr(c), ucr(m), ucr(y), k))


def ycck_jpeg(cmyk: Image.Image) -> bytes:
    """A YCCK JPEG (Adobe transform 2, as Photoshop writes CMYK) of `cmyk`.

    Pillow writes Adobe CMYK inverted, with transform 0; storing the YCbCr of
    the C, M, Y planes (inverted) and flipping the transform byte to 2 gives
    the file a YCCK decoder turns back into `cmyk`.
    """
    cmy = Image.merge("RGB", cmyk.split()[:3]).convert("YCbCr")
    planes = [ImageChops.invert(band) for band in cmy.split()] + [cmyk.getchannel("K")]
    out = io.BytesIO()
    Image.merge("CMYK", planes).save(out, "JPEG", quality=95)
    data = bytearray(out.getvalue())
    adobe = data.index(b"Adobe")
    data[adobe + 11] = 2  # "Adobe", version, flags0, flags1, then the transform byte
    return bytes(data)


def png16(width: int, height: int, color_type: int, sample: tuple[int, ...]) -> bytes:
    """A 16-bit-per-sample PNG of one colour (colour type 0 grey, 2 RGB, 4 grey+alpha, 6 RGBA)."""

    def chunk(kind, body):
        return struct.pack("!I", len(body)) + kind + body + struct.pack("!I", zlib.crc32(kind + body))

    row = b"\0" + struct.pack("!" + "H" * len(sample), *sample) * width
    header = struct.pack("!IIBBBBB", width, height, 16, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(row * height))
            + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def photos(samples):
    folder = samples / "photos"
    folder.mkdir(exist_ok=True)
    picture = landscape(400, 300)
    picture.save(folder / "srgb.jpg", quality=92)
    cmyk = cmyk_of(picture)
    cmyk.save(folder / "cmyk.jpg", quality=92)  # Pillow writes Adobe's inverted CMYK, as Photoshop
    (folder / "ycck.jpg").write_bytes(ycck_jpeg(cmyk))
    swapped = icc_profile("red and green swapped", SRGB_GREEN, SRGB_RED, SRGB_BLUE)
    Image.new("RGB", (64, 48), (255, 0, 0)).save(folder / "swapped.jpg", quality=95, icc_profile=swapped)
    Image.new("RGBA", (64, 48), (255, 0, 0, 128)).save(folder / "swapped.png", icc_profile=swapped)
    srgb = icc_profile("sRGB IEC61966-2.1 (test)", SRGB_RED, SRGB_GREEN, SRGB_BLUE)
    Image.new("RGB", (64, 48), (200, 100, 50)).save(folder / "tagged-srgb.png", icc_profile=srgb)
    for orientation, turn in ((3, Image.Transpose.ROTATE_180), (8, Image.Transpose.ROTATE_270)):
        exif = Image.Exif()
        exif[0x0112] = orientation
        quadrants(1600, 1200).transpose(turn).save(folder / f"exif{orientation}.jpg", quality=90, exif=exif)
    (folder / "rgb16.png").write_bytes(png16(8, 8, 2, (65535, 32768, 0)))
    (folder / "grey16.png").write_bytes(png16(8, 8, 0, (40000,)))
    (folder / "greyalpha16.png").write_bytes(png16(8, 8, 4, (40000, 32768)))
    palette = Image.new("P", (40, 20), 1)
    palette.putpalette([0, 0, 0, 10, 200, 30])
    palette.paste(0, (0, 0, 20, 20))
    palette.save(folder / "palette.png", transparency=0)
    Image.new("L", (40, 20), 77).save(folder / "grey.jpg", quality=95)
    keyed = Image.new("RGB", (40, 20), (10, 20, 30))
    keyed.paste((200, 0, 0), (20, 0, 40, 20))
    keyed.save(folder / "keyed.png", transparency=(10, 20, 30))
    photo = Image.new("RGB", (64, 48), (180, 90, 40))
    photo.save(folder / "photo.heic", quality=90)
    photo.save(folder / "photo.avif", quality=90)
    pages = [Image.new("RGB", (30, 20), colour) for colour in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    pages[0].save(folder / "pages.tiff", save_all=True, append_images=pages[1:])
    return folder


def mean_difference(a: Image.Image, b: Image.Image) -> float:
    return sum(ImageStat.Stat(ImageChops.difference(a.convert("RGB"), b.convert("RGB"))).mean) / 3


def close(colour, expected, tolerance=6):
    return all(abs(a - b) <= tolerance for a, b in zip(colour, expected))


@pytest.mark.parametrize("key", ["photos/cmyk.jpg", "photos/ycck.jpg"])
def test_cmyk_and_ycck_jpegs_look_like_the_srgb_original(server, photos, key):
    reference = open_image(process(server, "photos/srgb.jpg", "image/resize,w_200/format,png"))
    im = open_image(process(server, key, "image/resize,w_200"))
    assert im.format == "JPEG" and im.mode == "RGB" and im.size == (200, 150)
    assert mean_difference(im, reference) < 4


def test_an_embedded_icc_profile_is_converted_to_srgb(server, photos):
    # Stored red, in a profile whose red is sRGB's green: it must show green.
    im = open_image(process(server, "photos/swapped.jpg", "image/resize,w_32"))
    assert close(im.getpixel((10, 10)), (0, 255, 0), 8)
    png = open_image(process(server, "photos/swapped.png", "image/resize,w_32"))
    assert png.mode == "RGBA" and close(png.getpixel((10, 10)), (0, 255, 0, 128), 2)


def test_an_srgb_profile_leaves_the_pixels_alone(server, photos):
    im = open_image(process(server, "photos/tagged-srgb.png", "image/resize,w_32"))
    assert im.getpixel((10, 10)) == (200, 100, 50)
    assert "icc_profile" not in im.info  # renditions are plain sRGB, without the source's profile


@pytest.mark.parametrize("key", ["photos/exif3.jpg", "photos/exif8.jpg"])
def test_exif_rotated_photos_come_out_upright(server, photos, key):
    # Stored turned, with the orientation that undoes it; big enough that the decoder shrinks it first.
    im = open_image(process(server, key, "image/resize,w_200"))
    assert im.size == (200, 150)
    for (x, y), corner in (((20, 20), "nw"), ((180, 20), "ne"), ((20, 130), "sw"), ((180, 130), "se")):
        assert close(im.getpixel((x, y)), QUADRANTS[corner], 12)


@pytest.mark.parametrize("fmt", ["jpg", "png", "webp", "heic", "avif", "tiff"])
def test_renditions_carry_no_stale_orientation(server, photos, fmt):
    # The pixels are turned upright already; an orientation left in the output would turn them twice.
    im = open_image(process(server, "photos/exif8.jpg", f"image/resize,w_40/format,{fmt}"))
    assert im.size == (40, 30) and im.getexif().get(0x0112, 1) == 1


@pytest.mark.parametrize("key, proc, mode, colour", [
    ("photos/rgb16.png", "image/resize,w_4", "RGB", (255, 128, 0)),
    ("photos/grey16.png", "image/resize,w_4", "L", 156),
    ("photos/grey16.png", "image/resize,w_4/format,jpg", "L", 156),
    ("photos/greyalpha16.png", "image/resize,w_4", "RGBA", (156, 156, 156, 128)),
])
def test_16_bit_pngs_keep_their_levels(server, photos, key, proc, mode, colour):
    im = open_image(process(server, key, proc))
    assert im.mode == mode and im.size == (4, 4)
    pixel = im.getpixel((1, 1))
    assert close(pixel, colour, 1) if isinstance(colour, tuple) else abs(pixel - colour) <= 1


def test_palette_and_colour_key_transparency_is_kept_or_made_white(server, photos):
    for key, opaque in (("photos/palette.png", (10, 200, 30)), ("photos/keyed.png", (200, 0, 0))):
        png = open_image(process(server, key, "image/resize,w_20"))
        assert png.mode == "RGBA" and png.getpixel((2, 5))[3] == 0 and png.getpixel((17, 5)) == opaque + (255,)
        jpg = open_image(process(server, key, "image/resize,w_20/format,jpg"))
        assert close(jpg.getpixel((2, 5)), (255, 255, 255), 8) and close(jpg.getpixel((17, 5)), opaque, 12)


def test_greyscale_stays_grey_in_every_format(server, photos):
    for fmt in ("jpg", "png", "webp", "avif"):
        im = open_image(process(server, "photos/grey.jpg", f"image/resize,w_20/format,{fmt}"))
        assert close(im.convert("RGB").getpixel((10, 5)), (77, 77, 77), 3), fmt


@pytest.mark.parametrize("key, content_type", [("photos/photo.heic", "image/heic"),
                                               ("photos/photo.avif", "image/avif")])
def test_heic_and_avif_sources(server, photos, key, content_type):
    response = process(server, key, "image/resize,w_32")
    assert response.headers["Content-Type"] == content_type  # the source's format is kept
    assert open_image(response).size == (32, 24)
    assert close(open_image(response).convert("RGB").getpixel((10, 10)), (180, 90, 40), 8)
    jpg = open_image(process(server, key, "image/resize,w_32/format,jpg"))
    assert close(jpg.getpixel((10, 10)), (180, 90, 40), 8)


@pytest.mark.parametrize("fmt", ["tiff", "webp", "png"])
def test_a_multi_page_tiff_gives_its_first_page(server, photos, fmt):
    im = open_image(process(server, "photos/pages.tiff", f"image/resize,w_15/format,{fmt}"))
    assert im.size == (15, 10) and getattr(im, "n_frames", 1) == 1
    assert close(im.convert("RGB").getpixel((5, 5)), (255, 0, 0), 4)
