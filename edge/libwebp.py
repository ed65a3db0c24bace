"""Still lossy WebP through libwebp's own encoding API, for the one setting Pillow cannot ask for:
sharp RGB->YUV (`use_sharp_yuv`), which keeps colour edges sharp in 4:2:0 chroma ([compression]
effort "small", docs/compression.md).

It calls the libwebp that Pillow's wheel ships (pillow.libs/libwebp-*.so; else the system's), by
ctypes, with the settings Pillow's own encoder uses; with sharp RGB->YUV off, its bytes are
Pillow's (tests/test_compression.py checks that, so a libwebp whose structures moved is caught).
Where no libwebp is found, `available()` is False and the server refuses effort "small" at start.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import glob
import os

from PIL import Image

_ABI = 0x020F  # WEBP_ENCODER_ABI_VERSION of libwebp 1.x: the major byte must match the library's
_P = ctypes.c_void_p


class _Config(ctypes.Structure):
    """WebPConfig (src/webp/encode.h), with room after it in case a later libwebp adds fields."""

    _fields_ = ([("lossless", ctypes.c_int), ("quality", ctypes.c_float), ("method", ctypes.c_int),
                 ("image_hint", ctypes.c_int), ("target_size", ctypes.c_int), ("target_PSNR", ctypes.c_float)]
                + [(name, ctypes.c_int) for name in (
                    "segments", "sns_strength", "filter_strength", "filter_sharpness", "filter_type", "autofilter",
                    "alpha_compression", "alpha_filtering", "alpha_quality", "pass", "show_compressed",
                    "preprocessing", "partitions", "partition_limit", "emulate_jpeg_size", "thread_level",
                    "low_memory", "near_lossless", "exact", "use_delta_palette", "use_sharp_yuv", "qmin", "qmax")]
                + [("_room", ctypes.c_uint8 * 64)])


class _Picture(ctypes.Structure):
    """WebPPicture (src/webp/encode.h), with room after it."""

    _fields_ = [("use_argb", ctypes.c_int), ("colorspace", ctypes.c_int), ("width", ctypes.c_int),
                ("height", ctypes.c_int), ("y", _P), ("u", _P), ("v", _P), ("y_stride", ctypes.c_int),
                ("uv_stride", ctypes.c_int), ("a", _P), ("a_stride", ctypes.c_int), ("pad1", ctypes.c_uint32 * 2),
                ("argb", _P), ("argb_stride", ctypes.c_int), ("pad2", ctypes.c_uint32 * 3), ("writer", _P),
                ("custom_ptr", _P), ("extra_info_type", ctypes.c_int), ("extra_info", _P), ("stats", _P),
                ("error_code", ctypes.c_int), ("progress_hook", _P), ("user_data", _P), ("pad3", ctypes.c_uint32 * 3),
                ("pad4", _P), ("pad5", _P), ("pad6", ctypes.c_uint32 * 8), ("memory_", _P), ("memory_argb_", _P),
                ("pad7", _P * 2), ("_room", ctypes.c_uint8 * 256)]


class _MemoryWriter(ctypes.Structure):
    _fields_ = [("mem", ctypes.POINTER(ctypes.c_uint8)), ("size", ctypes.c_size_t), ("max_size", ctypes.c_size_t),
                ("pad", ctypes.c_uint32), ("_room", ctypes.c_uint8 * 64)]


@functools.cache
def _library() -> ctypes.CDLL | None:
    import PIL

    shipped = sorted(glob.glob(os.path.join(os.path.dirname(PIL.__file__), os.pardir, "pillow.libs", "libwebp-*.so*")))
    found = shipped[0] if shipped else ctypes.util.find_library("webp")
    if not found:
        return None
    lib = ctypes.CDLL(found)
    lib.WebPConfigInitInternal.argtypes = [ctypes.POINTER(_Config), ctypes.c_int, ctypes.c_float, ctypes.c_int]
    lib.WebPPictureInitInternal.argtypes = [ctypes.POINTER(_Picture), ctypes.c_int]
    for name in ("WebPPictureImportRGB", "WebPPictureImportRGBA"):
        getattr(lib, name).argtypes = [ctypes.POINTER(_Picture), ctypes.c_char_p, ctypes.c_int]
    lib.WebPEncode.argtypes = [ctypes.POINTER(_Config), ctypes.POINTER(_Picture)]
    lib.WebPPictureFree.argtypes = [ctypes.POINTER(_Picture)]
    lib.WebPMemoryWriterInit.argtypes = lib.WebPMemoryWriterClear.argtypes = [ctypes.POINTER(_MemoryWriter)]
    return lib


def available() -> bool:
    return _library() is not None


def encode(im: Image.Image, quality: int, method: int = 4, use_sharp_yuv: bool = False) -> bytes:
    """`im` (RGB or RGBA) as a lossy WebP file, as Pillow writes it, and with sharp RGB->YUV if asked."""
    lib = _library()
    config, picture, writer = _Config(), _Picture(), _MemoryWriter()
    if not lib.WebPConfigInitInternal(ctypes.byref(config), 0, float(quality), _ABI):
        raise OSError("libwebp refused its configuration (a libwebp of another ABI?)")
    config.method, config.use_sharp_yuv = method, int(use_sharp_yuv)
    if not lib.WebPPictureInitInternal(ctypes.byref(picture), _ABI):
        raise OSError("libwebp refused its picture (a libwebp of another ABI?)")
    picture.use_argb, (picture.width, picture.height) = 1, im.size
    importer = lib.WebPPictureImportRGBA if im.mode == "RGBA" else lib.WebPPictureImportRGB
    lib.WebPMemoryWriterInit(ctypes.byref(writer))
    try:
        if not importer(ctypes.byref(picture), im.tobytes(), im.width * len(im.mode)):
            raise MemoryError("libwebp could not hold the picture")
        picture.writer = ctypes.cast(lib.WebPMemoryWrite, _P)
        picture.custom_ptr = ctypes.cast(ctypes.pointer(writer), _P)
        if not lib.WebPEncode(ctypes.byref(config), ctypes.byref(picture)):
            raise OSError(f"libwebp could not encode the picture (error {picture.error_code})")
        return ctypes.string_at(writer.mem, writer.size)
    finally:
        lib.WebPPictureFree(ctypes.byref(picture))
        lib.WebPMemoryWriterClear(ctypes.byref(writer))
