"""The embedded default: a demo bucket of a few generated sample files in a local folder, set up
so that every feature can be tried, and the banner `edge serve` prints with a URL for each."""

from __future__ import annotations

import math
import os
import shlex
from fractions import Fraction
from pathlib import Path

from PIL import Image, ImageDraw

from edge import base64url

DEMO_VERSION = "3"
SAMPLES = ("photo.jpg", "logo.png", "animated.gif", "portrait.jpg", "clip.mp4")
# The demo's credentials, printed by the banner: the AppCode of seed 000's example (the transcode
# and upscale APIs) and the access key of config/example.toml (signatures, saveas).
APPCODE = "3d0c5cb04a3a4795aa2f8341f84c4984"
ACCESS_KEY_ID, ACCESS_KEY_SECRET = "LTAI5tExampleKeyId", "example-secret"
SEPARATORS = ("@!", "-", "_", "/", "!")


def demo_folder() -> Path:
    """Where the demo images live: $EDGE_DEMO_DIR, else ~/.cache/edge/demo."""
    base = os.environ.get("EDGE_DEMO_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "edge", "demo")
    return Path(base)


def ensure_demo_images(folder: Path) -> Path:
    """Write the sample files into `folder` unless this version of them is already there."""
    marker = folder / ".edge-demo"
    if marker.exists() and marker.read_text() == DEMO_VERSION and all((folder / n).exists() for n in SAMPLES):
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    landscape(1600, 1067).save(folder / "photo.jpg", quality=90)
    logo(512).save(folder / "logo.png")
    frames = bouncing_ball(320, 180, 12)
    frames[0].save(folder / "animated.gif", save_all=True, append_images=frames[1:], duration=80, loop=0)
    _portrait_with_exif(folder / "portrait.jpg")
    _clip(folder / "clip.mp4")
    marker.write_text(DEMO_VERSION)
    return folder


def settings(folder: Path) -> dict:
    """The demo's configuration (as `edge.config.load` defaults): bucket `demo` on `folder` with a
    style, every style separator, the demo AppCode and access key; the upscale API and the console on."""
    bucket = {
        "source": f"file://{folder}",
        "styles": {"thumb": "image/resize,m_fill,w_100,h_100/format,png",
                   "w200-webp": "image/resize,w_200/format,webp",
                   "badge": "image/resize,m_fill,w_160,h_160/circle,r_80/format,png",
                   "soft": "image/resize,w_240/blur,r_3,s_2/quality,q_80"},
        "style_separators": list(SEPARATORS),
        "appcodes": [APPCODE],
        "access_keys": {ACCESS_KEY_ID: ACCESS_KEY_SECRET},
    }
    # The console in the browser, open to whoever reaches this local demo (docs/console.md).
    return {"buckets": {"demo": bucket}, "upscale": {"appcodes": [APPCODE]},
            "console": {"enabled": True, "sign_in": False}}


def banner(base: str, folder: Path, python: str = "python3") -> str:
    """What `edge serve` prints for the demo on `base` (http://host:port): a URL for every
    feature, a curl line for the upscale API and an oss2 snippet for saveas (run with `python`).
    Every URL answers 200 once the snippet has run (tests/test_demo.py fetches them all)."""
    demo = f"{base}/demo"
    logo = base64url.encode("logo.png?x-oss-process=image/resize,P_20")
    hello = base64url.encode("Hello, 图片服务！")
    kai = base64url.encode("fangzhengkaiti")
    saved = "photo-300.webp"
    upscale = (f"curl -s -H 'Authorization: APPCODE {APPCODE}' -F type=clean -F scale_factor=2 "
               f"-F image_file=@{shlex.quote(str(folder / 'logo.png'))} {base}/tasks/visual/scale")
    lines = [
        f"edge: serving the demo bucket (the files in {folder}) on {base}. Try:",
        "  the original, and the new API (docs/operations.md)",
        f"    {demo}/photo.jpg",
        f"    {demo}/photo.jpg?x-oss-process=image/resize,m_fill,w_200,h_200/format,webp",
        f"    {demo}/portrait.jpg?x-oss-process=image/resize,h_300/rotate,90",
        f"    {demo}/photo.jpg?x-oss-process=image/crop,w_800,h_800,g_center/circle,r_300/format,png",
        f"    {demo}/photo.jpg?x-oss-process=image/resize,w_400/rounded-corners,r_40/blur,r_3,s_2/format,png",
        f"    {demo}/photo.jpg?x-oss-process=image/resize,w_600/quality,q_50",
        f"    {demo}/photo.jpg?x-oss-process=image/resize,w_300/format,auto    (AVIF or WebP by Accept)",
        f"    {demo}/animated.gif?x-oss-process=image/resize,w_160/format,webp    (the frames kept)",
        f"    {demo}/portrait.jpg?x-oss-process=image/info",
        f"    {demo}/photo.jpg?x-oss-process=image/average-hue",
        "  style 'thumb', by parameter and through every separator (docs/dialects.md)",
        f"    {demo}/photo.jpg?x-oss-process=style/thumb",
        *(f"    {demo}/photo.jpg{separator}thumb" for separator in SEPARATORS),
        "  the legacy @ API and Tencent imageMogr2",
        f"    {demo}/photo.jpg@200w_200h_1e_1c.webp",
        f"    {demo}/photo.jpg@50p|90r.png",
        f"    {demo}/photo.jpg?imageMogr2/thumbnail/300x/format/webp",
        "  watermarks: image, text, both (docs/watermarks.md)",
        f"    {demo}/photo.jpg?x-oss-process=image/resize,w_480/watermark,image_{logo},g_nw,t_80",
        f"    {demo}/photo.jpg?x-oss-process=image/resize,w_480/watermark,text_{hello},type_{kai},"
        f"size_24,color_FFFFFF,t_60,rotate_30,fill_1",
        f"    {demo}/photo.jpg?x-oss-process=image/resize,w_480/watermark,image_{logo},"
        f"text_{hello},size_28,color_FFFFFF,shadow_60,align_1,interval_8",
        "  a video and a snapshot of it",
        f"    {demo}/clip.mp4",
        f"    {demo}/clip.mp4?x-oss-process=video/snapshot,t_1000,f_jpg,w_320",
        f"  the transcode API, AppCode {APPCODE} (docs/transcode.md)",
        f"    {base}/j2h/photo-w600-h400.heic?BucketName=demo&AppCode={APPCODE}",
        f"    {base}/g2w/animated-w160-h90.webp?BucketName=demo&AppCode={APPCODE}",
        "  the upscale API, the same AppCode (docs/upscale.md); its answer links the result",
        f"    {upscale}",
        f"  saveas with oss2, access key {ACCESS_KEY_ID} / {ACCESS_KEY_SECRET}; then {demo}/{saved}",
        f"    {python} -c 'import oss2; oss2.Bucket(oss2.Auth(\"{ACCESS_KEY_ID}\", \"{ACCESS_KEY_SECRET}\"), "
        f"\"{base}\", \"demo\").process_object(\"photo.jpg\", "
        f"\"image/resize,w_300/format,webp|sys/saveas,o_{base64url.encode(saved)}\")'",
        "  the console in the browser: build a process string, see every spelling and style (docs/console.md)",
        f"    {base}/_edge/console",
        "  the server",
        f"    {base}/metrics  {base}/healthz  {base}/readyz",
    ]
    return "\n".join(lines)


def landscape(width: int, height: int, seed: int = 0) -> Image.Image:
    """A photo-like RGB picture: sky gradient, sun, hills, texture. Deterministic for a `seed`."""
    sky = Image.linear_gradient("L").resize((width, height))
    im = Image.merge("RGB", (sky.point(lambda v: 40 + v // 3), sky.point(lambda v: 90 + v // 2),
                             sky.point(lambda v: 200 - v // 6)))
    draw = ImageDraw.Draw(im)
    sun = (int(width * (0.7 + 0.05 * (seed % 3))), int(height * 0.25))
    draw.ellipse([sun[0] - height // 10, sun[1] - height // 10, sun[0] + height // 10, sun[1] + height // 10],
                 fill=(255, 214, 110))
    for layer, colour in enumerate(((70, 120, 60), (40, 90, 45), (25, 60, 30))):
        base = height * (0.55 + 0.12 * layer)
        points = [(x, base - (height * 0.08) * math.sin(x / width * (3 + layer + seed) * math.pi))
                  for x in range(0, width + 40, 40)]
        draw.polygon([(0, height), *points, (width, height)], fill=colour)
    noise = Image.effect_noise((width, height), 24).convert("RGB")
    return Image.blend(im, noise, 0.08)


def logo(side: int) -> Image.Image:
    """An RGBA mark on a transparent background."""
    im = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    draw = ImageDraw.Draw(im)
    draw.ellipse([side // 8, side // 8, side * 7 // 8, side * 7 // 8], fill=(230, 90, 40, 255))
    draw.rectangle([side * 3 // 8, side * 3 // 8, side * 5 // 8, side * 5 // 8], fill=(255, 255, 255, 200))
    return im


def bouncing_ball(width: int, height: int, count: int) -> list[Image.Image]:
    """`count` frames of a ball crossing the picture."""
    frames = []
    for i in range(count):
        im = Image.new("RGB", (width, height), (245, 245, 240))
        draw = ImageDraw.Draw(im)
        x = int((width - 40) * i / max(1, count - 1)) + 20
        y = int(height / 2 + (height / 3) * math.sin(i / count * 2 * math.pi))
        draw.ellipse([x - 18, y - 18, x + 18, y + 18], fill=(40, 110, 220))
        frames.append(im)
    return frames


def _portrait_with_exif(path: Path) -> None:
    """A portrait photo stored sideways with EXIF orientation 6, as phones write them."""
    upright = landscape(600, 900, seed=1)
    ImageDraw.Draw(upright).text((20, 20), "UP", fill=(255, 255, 255))
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(path, quality=88, exif=exif)


def _clip(path: Path, seconds: int = 3, fps: int = 10) -> None:
    """A short H.264 video (320x180, keyframe each second) of a red balloon rising across the landscape."""
    import av  # only when the demo is made

    scenery = landscape(320, 180)
    with av.open(str(path), mode="w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 320, 180, "yuv420p"
        stream.codec_context.gop_size = fps
        for index in range(seconds * fps):
            image = scenery.copy()
            x, y = 20 + index * 280 // (seconds * fps), 150 - index * 120 // (seconds * fps)
            draw = ImageDraw.Draw(image)
            draw.line([x, y + 14, x, y + 34], fill=(60, 60, 60))
            draw.ellipse([x - 10, y - 14, x + 10, y + 14], fill=(220, 40, 40))
            frame = av.VideoFrame.from_image(image)
            frame.pts, frame.time_base = index, Fraction(1, fps)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
