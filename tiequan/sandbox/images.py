"""Product detail images: text drawn into a PNG, as sellers do to dodge text filters."""

from __future__ import annotations

import functools
import hashlib
import io
import textwrap

from PIL import Image, ImageDraw, ImageFont

FONT_PATH = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
WIDTH = 640
_FONT_SIZE = 34
_LINE_CHARS = 16
_PALETTES = (
    ((255, 244, 230), (178, 34, 34)),
    ((232, 245, 233), (27, 94, 32)),
    ((227, 242, 253), (13, 71, 161)),
    ((255, 253, 231), (130, 80, 0)),
    ((243, 229, 245), (106, 27, 154)),
)


@functools.lru_cache(maxsize=4)
def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(FONT_PATH, size)


def wrap(lines: list[str]) -> list[str]:
    out: list[str] = []
    for line in lines:
        out.extend(textwrap.wrap(line, _LINE_CHARS) or [""])
    return out


def render_png(lines: list[str], key: str) -> bytes:
    """A PNG showing ``lines``; ``key`` picks the colours so output is deterministic."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    background, ink = _PALETTES[digest[0] % len(_PALETTES)]
    wrapped = wrap(lines)
    line_height = _FONT_SIZE + 18
    height = max(320, 80 + line_height * len(wrapped))
    image = Image.new("RGB", (WIDTH, height), background)
    draw = ImageDraw.Draw(image)
    draw.rectangle((12, 12, WIDTH - 13, height - 13), outline=ink, width=4)
    font = _font(_FONT_SIZE)
    y = 40
    for line in wrapped:
        draw.text((40, y), line, fill=ink, font=font)
        y += line_height
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=False)
    return buf.getvalue()
