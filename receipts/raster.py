"""Receipt lines drawn with Pillow and DejaVu Sans: every diacritic right, in any language.

Used for the PNG preview and, on the printer, for the lines its code page cannot hold.
"""

from __future__ import annotations

import functools
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from receipts.layout import Line

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
REGULAR, BOLD = FONT_DIR / "DejaVuSans.ttf", FONT_DIR / "DejaVuSans-Bold.ttf"
BASE_PX = 22  # about a printer's Font A (12 x 24 dots)
MARGIN = 4


@functools.lru_cache(maxsize=16)
def font(bold: bool, px: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(BOLD if bold else REGULAR), px)


@functools.lru_cache(maxsize=8192)
def text_length(text: str, bold: bool, px: int) -> float:
    return font(bold, px).getlength(text)


@functools.lru_cache(maxsize=2048)
def text_mask(text: str, bold: bool, px: int) -> Image.Image:
    """The text drawn once as a mask (labels repeat on every receipt, so this is cached)."""
    f = font(bold, px)
    width = max(1, int(_len(f, text)) + 2)
    mask = Image.new("L", (width, int(px * 1.3)), 0)
    ImageDraw.Draw(mask).text((0, 0), text, font=f, fill=255)
    return mask.point(lambda v: 255 if v >= 128 else 0).convert("1")


def _len(f: ImageFont.FreeTypeFont, text: str) -> float:
    return text_length(text, "Bold" in (f.getname()[1] or ""), f.size)


def _px(line: Line) -> int:
    return {1: BASE_PX, 2: BASE_PX * 3 // 2, 3: BASE_PX * 4}.get(line.size, BASE_PX)


def line_height(line: Line) -> int:
    if line.kind == "rule":
        return 12
    if line.kind == "blank":
        return BASE_PX // 2
    if line.kind == "barcode":
        return 0
    return int(_px(line) * 1.3)


def _fit(text: str, f: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """Greedy word wrap to a pixel width."""
    words, rows, row = text.split(" "), [], ""
    for word in words:
        trial = f"{row} {word}" if row else word
        if _len(f, trial) <= width or not row:
            row = trial
        else:
            rows.append(row)
            row = word
    rows.append(row)
    return rows


def draw_lines(lines: list[Line], width: int, *, barcode=None) -> Image.Image:
    """Draw lines on a white 1-bit image ``width`` dots wide. ``barcode(text)`` may return an
    image for barcode lines (the preview draws a QR code); otherwise they are skipped."""
    usable = width - 2 * MARGIN
    ops: list[tuple] = []
    y = 0
    for line in lines:
        h = line_height(line)
        if line.kind == "barcode":
            img = barcode(line.text) if barcode else None
            if img is not None:
                ops.append(("img", y, img))
                y += img.height + 6
            continue
        if line.kind in ("rule", "blank"):
            if line.kind == "rule":
                ops.append(("rule", y + h // 2))
            y += h
            continue
        f = font(line.bold, _px(line))
        bp = (line.bold, _px(line))
        if line.kind == "pair":
            lw, rw = _len(f, line.text), _len(f, line.right)
            if lw + rw + 12 <= usable:
                ops.append(("text", MARGIN, y, line.text, f, *bp))
                ops.append(("text", width - MARGIN - int(rw), y, line.right, f, *bp))
                y += h
            else:
                for row in _fit(line.text, f, usable):
                    ops.append(("text", MARGIN, y, row, f, *bp))
                    y += h
                ops.append(("text", width - MARGIN - int(rw), y, line.right, f, *bp))
                y += h
            continue
        for row in _fit(line.text, f, usable):
            x = MARGIN
            if line.align == "center":
                x = max(MARGIN, (width - int(_len(f, row))) // 2)
            ops.append(("text", x, y, row, f, *bp))
            y += h
    image = Image.new("1", (width, max(y, 1)), 1)
    draw = ImageDraw.Draw(image)
    for op in ops:
        if op[0] == "text":
            _, x, top, text, f, bold, px = op
            image.paste(0, (x, top), text_mask(text, bold, px))
        elif op[0] == "rule":
            draw.line((MARGIN, op[1], width - MARGIN, op[1]), fill=0, width=2)
        else:
            img = op[2].convert("1")
            image.paste(img, ((width - img.width) // 2, op[1]))
    return image
