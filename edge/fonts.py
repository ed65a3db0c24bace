"""The fonts of text watermarks: the seven names of the OSS manuals, the free font files drawn
for them, and the Debian packages that install those files (`./setup.sh` installs them all).

The Founder (方正) faces are proprietary, so each maps to the closest free face of the same
style: Song and FangSong to AR PL UMing (a Ming/Song face), Kai to AR PL UKai, Hei to
WenQuanYi Zen Hei. A server without a font still serves everything else: text in that font
is answered 500 naming the package, `edge serve` warns at start-up and `/readyz` lists it.
"""

from __future__ import annotations

import os

FONT_DIRS = ("/usr/share/fonts/truetype", "/usr/local/share/fonts")
# Font name (as the manuals spell it) -> (file below a font dir, the Debian package that installs it).
FONTS = {
    "wqy-zenhei": ("wqy/wqy-zenhei.ttc", "fonts-wqy-zenhei"),
    "wqy-microhei": ("wqy/wqy-microhei.ttc", "fonts-wqy-microhei"),
    "fangzhengshusong": ("arphic/uming.ttc", "fonts-arphic-uming"),
    "fangzhengkaiti": ("arphic/ukai.ttc", "fonts-arphic-ukai"),
    "fangzhengheiti": ("wqy/wqy-zenhei.ttc", "fonts-wqy-zenhei"),
    "fangzhengfangsong": ("arphic/uming.ttc", "fonts-arphic-uming"),
    "droidsansfallback": ("droid/DroidSansFallbackFull.ttf", "fonts-droid-fallback"),
}
DEFAULT_FONT = "wqy-zenhei"
# Characters a font lacks (Droid Sans Fallback has no Latin letters) are drawn with this one.
FALLBACK_FONT = "wqy-zenhei"


def path(name: str) -> str | None:
    """The file of the font `name` (a key of FONTS), or None when it is not installed."""
    relative = FONTS[name][0]
    for folder in FONT_DIRS:
        candidate = os.path.join(folder, relative)
        if os.path.exists(candidate):
            return candidate
    return None


def missing_message(name: str) -> str:
    """What a text watermark in the font `name` answers when its file is missing."""
    package = FONTS[name][1]
    return (f"watermark: the font {name} is not installed on this server; its operator must install "
            f"the Debian package {package} (./setup.sh installs it)")


def problems() -> list[str]:
    """One line per Debian package whose fonts are missing, naming the watermark fonts that need it
    (empty when all are installed). Not fatal: everything but text in those fonts still works."""
    needed: dict[str, list[str]] = {}
    for name, (_, package) in FONTS.items():
        if path(name) is None:
            needed.setdefault(package, []).append(name)
    return [f"the Debian package {package} is not installed: text watermarks in {', '.join(names)} "
            f"answer 500 (install it, or run ./setup.sh)" for package, names in needed.items()]
