"""Pictures for the demo club, drawn here with Pillow (nothing from the internet): a gradient
in the item's colours, soft circles, a white icon and, where the font has the letters, a
short label. Stored through ``picture_attach`` like an upload from the back-office."""

from __future__ import annotations

import io
import math
from pathlib import Path

from django.core.files.storage import default_storage
from django.db import models
from PIL import Image, ImageChops, ImageDraw, ImageFont

from members.pictures.services import picture_attach

# A bold font if the machine has one (Linux, macOS, Windows); else Pillow's own, which lacks
# å, ä and ö: then a label with them is left out and the icon alone tells the story.
_FONTS = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
    "/System/Library/Fonts/Supplemental/Arial Bold.ttf",
    "/Library/Fonts/Arial Bold.ttf",
    "C:/Windows/Fonts/arialbd.ttf",
]
ICONS = ("ticket", "percent", "gift", "star", "envelope", "heart", "bag", "pin", "person", "flag")


def _font(size: int) -> tuple[ImageFont.FreeTypeFont | ImageFont.ImageFont, bool]:
    for path in _FONTS:
        if Path(path).exists():
            return ImageFont.truetype(path, size), True
    return ImageFont.load_default(size=size), False


def _star(cx: float, cy: float, outer: float, inner: float, points: int = 5) -> list[tuple]:
    corners = []
    for i in range(points * 2):
        radius = outer if i % 2 == 0 else inner
        angle = math.pi * i / points - math.pi / 2
        corners.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
    return corners


def _icon(draw: ImageDraw.ImageDraw, name: str, cx: float, cy: float, r: float) -> None:
    """A white icon of about 2r x 2r centred on (cx, cy), drawn with lines of width r/8."""
    white, w = "#ffffff", max(2, round(r / 8))
    box = (cx - r, cy - r * 0.7, cx + r, cy + r * 0.7)
    if name == "ticket":
        draw.rounded_rectangle(box, radius=r / 6, outline=white, width=w)
        draw.line((cx + r * 0.35, box[1], cx + r * 0.35, box[3]), fill=white, width=w // 2)
    elif name == "percent":
        draw.line((cx + r * 0.7, cy - r * 0.8, cx - r * 0.7, cy + r * 0.8), fill=white, width=w)
        for dx, dy in ((-0.5, -0.5), (0.5, 0.5)):
            x, y = cx + dx * r, cy + dy * r
            draw.ellipse((x - r / 4, y - r / 4, x + r / 4, y + r / 4), outline=white, width=w)
    elif name == "gift":
        draw.rectangle((cx - r, cy - r * 0.35, cx + r, cy), outline=white, width=w)
        draw.rectangle((cx - r * 0.85, cy, cx + r * 0.85, cy + r), outline=white, width=w)
        draw.line((cx, cy - r * 0.35, cx, cy + r), fill=white, width=w)
        for side in (-1, 1):
            draw.arc(
                (
                    cx + side * r * 0.5 - r * 0.45,
                    cy - r * 0.95,
                    cx + side * r * 0.5 + r * 0.45,
                    cy - r * 0.25,
                ),
                0,
                360,
                fill=white,
                width=w,
            )
    elif name == "star":
        draw.polygon(_star(cx, cy, r, r * 0.45), fill=white)
    elif name == "envelope":
        draw.rectangle(box, outline=white, width=w)
        draw.line((box[0], box[1], cx, cy + r * 0.15, box[2], box[1]), fill=white, width=w)
    elif name == "heart":
        draw.ellipse((cx - r, cy - r * 0.8, cx, cy + r * 0.1), fill=white)
        draw.ellipse((cx, cy - r * 0.8, cx + r, cy + r * 0.1), fill=white)
        draw.polygon(
            ((cx - r * 0.96, cy - r * 0.2), (cx + r * 0.96, cy - r * 0.2), (cx, cy + r)), fill=white
        )
    elif name == "bag":
        draw.rounded_rectangle(
            (cx - r * 0.8, cy - r * 0.4, cx + r * 0.8, cy + r), radius=r / 8, outline=white, width=w
        )
        draw.arc(
            (cx - r * 0.4, cy - r * 0.95, cx + r * 0.4, cy + r * 0.1), 180, 360, fill=white, width=w
        )
    elif name == "pin":
        draw.ellipse((cx - r * 0.7, cy - r, cx + r * 0.7, cy + r * 0.4), outline=white, width=w)
        draw.polygon(
            ((cx - r * 0.45, cy + r * 0.1), (cx + r * 0.45, cy + r * 0.1), (cx, cy + r)), fill=white
        )
        draw.ellipse((cx - r / 4, cy - r * 0.55, cx + r / 4, cy - r * 0.05), fill=white)
    elif name == "person":
        draw.ellipse((cx - r * 0.4, cy - r, cx + r * 0.4, cy - r * 0.2), outline=white, width=w)
        draw.arc(
            (cx - r * 0.85, cy - r * 0.05, cx + r * 0.85, cy + r * 1.6),
            180,
            360,
            fill=white,
            width=w,
        )
    else:  # flag
        draw.line((cx - r * 0.7, cy - r, cx - r * 0.7, cy + r), fill=white, width=w)
        draw.polygon(
            ((cx - r * 0.7, cy - r), (cx + r * 0.8, cy - r * 0.6), (cx - r * 0.7, cy - r * 0.1)),
            fill=white,
        )


def picture_demo_png(
    *, icon: str, colours: tuple[str, str], label: str = "", square: bool = False
) -> bytes:
    """A 1280 x 720 card (or a 640 x 640 medallion for a badge) as PNG bytes."""
    width, height = (640, 640) if square else (1280, 720)
    dark, light = (Image.new("RGB", (width, height), c) for c in colours)
    # diagonal: the mean of a left-to-right and a top-to-bottom gradient
    down = Image.linear_gradient("L").resize((width, height))
    across = Image.linear_gradient("L").rotate(90).transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    mask = ImageChops.add(down, across.resize((width, height)), scale=2)
    image = Image.composite(light, dark, mask)
    glow = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    shapes = ImageDraw.Draw(glow)
    shapes.ellipse(
        (width * 0.72, -height * 0.35, width * 1.25, height * 0.45), fill=(255,) * 3 + (28,)
    )
    shapes.ellipse(
        (-width * 0.15, height * 0.6, width * 0.3, height * 1.35), fill=(255,) * 3 + (22,)
    )
    image = Image.alpha_composite(image.convert("RGBA"), glow)
    draw = ImageDraw.Draw(image)
    if square:
        _icon(draw, icon, width / 2, height / 2, width * 0.26)
        return _png(image)
    font, has_letters = _font(132)
    text = label if label and (has_letters or label.isascii()) else ""
    if text:
        # icon above label, both in the middle: a square crop (a panel's thumbnail) keeps them
        size = 132
        while size > 48 and draw.textlength(text, font=font) > width * 0.5:
            size -= 12
            font = _font(size)[0]
        _icon(draw, icon, width / 2, height * 0.33, height * 0.17)
        draw.text((width / 2, height * 0.73), text, font=font, fill="#ffffff", anchor="mm")
    else:
        _icon(draw, icon, width / 2, height / 2, height * 0.26)
    return _png(image)


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, "PNG", compress_level=1)
    return out.getvalue()


def picture_demo_ensure(
    obj: models.Model,
    *,
    icon: str,
    colours: tuple[str, str],
    label: str = "",
    square: bool = False,
) -> None:
    """Give ``obj`` its drawn picture once; again only if its files went missing."""
    sizes = getattr(obj, "image_sizes", None) or []
    if sizes and default_storage.exists(sizes[-1][2]):
        return
    data = picture_demo_png(icon=icon, colours=colours, label=label, square=square)
    picture_attach(obj=obj, upload=io.BytesIO(data))
