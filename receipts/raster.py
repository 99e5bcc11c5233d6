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


@functools.lru_cache(maxsize=4096)
def text_mask(text: str, bold: bool, px: int) -> Image.Image:
    """The text drawn once as a 1-bit mask (labels repeat on every receipt: cached)."""
    f = font(bold, px)
    width = max(1, int(text_length(text, bold, px)) + 2)
    mask = Image.new("L", (width, int(px * 1.3)), 0)
    ImageDraw.Draw(mask).text((0, 0), text, font=f, fill=255)
    return mask.convert("1", dither=Image.Dither.NONE)  # threshold at half ink


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


def _fit(text: str, bp: tuple[bool, int], width: int) -> list[str]:
    """Greedy word wrap to a pixel width."""
    words, rows, row = text.split(" "), [], ""
    for word in words:
        trial = f"{row} {word}" if row else word
        if text_length(trial, *bp) <= width or not row:
            row = trial
        else:
            rows.append(row)
            row = word
    rows.append(row)
    return rows


def _balanced(text: str, bp: tuple[bool, int], width: int) -> list[str]:
    """A centered text wrapped to as many rows as it needs, the rows as even as they can be
    (no last word alone on its own row: "... Payment" / "Office")."""
    rows = _fit(text, bp, width)
    if len(rows) < 2:
        return rows
    lo, hi = 1, width  # the narrowest width that still needs no more rows
    while lo < hi:
        mid = (lo + hi) // 2
        if len(_fit(text, bp, mid)) <= len(rows):
            hi = mid
        else:
            lo = mid + 1
    return _fit(text, bp, hi)


def draw_lines(lines: list[Line], width: int, *, barcode=None) -> Image.Image:
    """Draw lines on a white 1-bit image ``width`` dots wide. ``barcode(text)`` may return an
    image for barcode lines (the preview draws a QR code); otherwise they are skipped."""
    strips: list[Image.Image] = []
    for line in lines:
        if line.kind != "barcode":
            strips.append(line_strip(line, width))
            continue
        img = barcode(line.text) if barcode else None
        if img is not None:
            img = img.convert("1")
            strip = Image.new("1", (width, img.height + 6), 1)
            strip.paste(img, ((width - img.width) // 2, 0))
            strips.append(strip)
            # The number under the code, as the printer prints it under its barcode.
            strips.append(line_strip(Line("text", line.text, align="center"), width))
    image = Image.new("1", (width, max(1, sum(s.height for s in strips))), 1)
    y = 0
    for strip in strips:
        image.paste(strip, (0, y))
        y += strip.height
    return image


@functools.lru_cache(maxsize=4096)
def line_strip(line: Line, width: int) -> Image.Image:
    """One line drawn on its own strip (cached: most lines repeat from receipt to receipt)."""
    usable = width - 2 * MARGIN
    h = line_height(line)
    if line.kind in ("rule", "blank"):
        strip = Image.new("1", (width, h), 1)
        if line.kind == "rule":
            ImageDraw.Draw(strip).line((MARGIN, h // 2, width - MARGIN, h // 2), fill=0, width=2)
        return strip
    bp = (line.bold, _px(line))
    if line.kind == "pair":
        lw, rw = text_length(line.text, *bp), text_length(line.right, *bp)
        right = (width - MARGIN - int(rw), line.right)
        if lw + rw + 12 <= usable:
            rows = [[(MARGIN, line.text), right]]
        else:
            rows = [[(MARGIN, row)] for row in _fit(line.text, bp, usable)] + [[right]]
    else:
        rows = []
        fitted = _balanced(line.text, bp, usable) if line.align == "center" else None
        for row in fitted or _fit(line.text, bp, usable):
            x = MARGIN
            if line.align == "center":
                x = max(MARGIN, (width - int(text_length(row, *bp))) // 2)
            rows.append([(x, row)])
    strip = Image.new("1", (width, h * len(rows)), 1)
    for i, row in enumerate(rows):
        for x, text in row:
            if text:
                strip.paste(0, (x, i * h), text_mask(text, *bp))
    return strip
