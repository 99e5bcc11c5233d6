"""The receipt as ESC/POS bytes, through python-escpos's ``Dummy`` printer.

Text goes out in one fixed code page (CP858: Latin-1 plus the euro sign, so Spanish prints
right on every Epson-compatible printer). A line the code page cannot hold (Vietnamese, or a
name in another script) is drawn with Pillow and DejaVu Sans and printed as a raster image;
consecutive such lines are printed as one image. The receipt number is printed as Code 128.
"""

from __future__ import annotations

import contextlib
import io
import unicodedata

from PIL import Image

from hardware.devices import PROFILES, PrinterProfile, drawer_kick_bytes
from receipts.document import Document
from receipts.layout import Line, fit_pair, lay_out, wrap
from receipts.raster import draw_lines

CODE_PAGE = "cp858"
ESC_T_CP858 = b"\x1bt\x13"  # ESC t 19: PC858 on Epson printers
INIT = b"\x1b@"
_INVERT = bytes(255 - i for i in range(256))


def _encodable(line: Line, lang: str) -> bool:
    text = line.text + line.right
    if lang == "vi" and not text.isascii():
        # Vietnamese lines are drawn whole, so a line never mixes printer and DejaVu glyphs.
        return False
    try:
        text.encode(CODE_PAGE)
    except UnicodeEncodeError:
        return False
    return True


def _new_printer(profile: PrinterProfile):
    from escpos.printer import Dummy

    return Dummy(profile=profile.name)


def render_escpos(
    doc: Document,
    profile: PrinterProfile | str = "TM-T88V",
    *,
    kick_drawer: bool = False,
    drawer_pin: int = 2,
    cut: bool = True,
) -> bytes:
    """ESC/POS bytes for one copy of the document, sized to the printer profile."""
    if isinstance(profile, str):
        profile = PROFILES[profile]
    p = _new_printer(profile)
    out = p._raw
    out(INIT + ESC_T_CP858)
    if kick_drawer:
        out(drawer_kick_bytes(drawer_pin))
    pending: list[Line] = []
    lang = getattr(doc, "language", "en")

    def flush_images():
        if pending:
            out(raster_bytes(draw_lines(pending, profile.width_dots)))
            pending.clear()

    for line in lay_out(doc):
        if line.kind in ("text", "pair") and not _encodable(line, lang):
            pending.append(line)
            continue
        if line.kind == "blank" and pending:
            pending.append(line)
            continue
        flush_images()
        _text_line(p, line, profile)
    flush_images()
    out(b"\n\n")
    if cut:
        p.cut()
    return bytes(p.output)


def raster_bytes(image, fragment_rows: int = 960) -> bytes:
    """GS v 0 raster commands for a 1-bit image (black = print), in fragments."""
    if image.mode != "1":
        image = image.convert("1")
    width_bytes = (image.width + 7) // 8
    if image.width % 8:
        padded = Image.new("1", (width_bytes * 8, image.height), 1)
        padded.paste(image, (0, 0))
        image = padded
    # Pillow packs mode "1" with 1 = white; ESC/POS wants 1 = black.
    data = image.tobytes().translate(_INVERT)
    chunks = []
    for top in range(0, image.height, fragment_rows):
        rows = min(fragment_rows, image.height - top)
        header = b"\x1dv0\x00" + width_bytes.to_bytes(2, "little") + rows.to_bytes(2, "little")
        chunks.append(header + data[top * width_bytes : (top + rows) * width_bytes])
    return b"".join(chunks)


def _text_line(p, line: Line, profile: PrinterProfile) -> None:
    out = p._raw
    columns = profile.columns
    if line.kind == "rule":
        out(b"-" * columns + b"\n")
        return
    if line.kind == "blank":
        out(b"\n")
        return
    if line.kind == "barcode":
        _barcode(p, line.text, profile)
        return
    size = min(line.size, 2)
    out(b"\x1ba\x01" if line.align == "center" else b"\x1ba\x00")  # ESC a: justification
    if line.bold:
        out(b"\x1bE\x01")
    if line.size > 1:
        n = min(line.size, 4) - 1
        out(b"\x1d!" + bytes([(n << 4) | n]))  # GS !: character size
    cols = columns // size if line.size <= 2 else columns // min(line.size, 4)
    text = unicodedata.normalize("NFC", line.text)
    rows = fit_pair(text, line.right, cols) if line.kind == "pair" else wrap(text, cols)
    for row in rows:
        out(row.encode(CODE_PAGE) + b"\n")
    if line.size > 1:
        out(b"\x1d!\x00")
    if line.bold:
        out(b"\x1bE\x00")
    if line.align == "center":
        out(b"\x1ba\x00")


def _barcode(p, number: str, profile: PrinterProfile) -> None:
    """Code 128 (subset B) of the receipt number, or a QR code when it would not fit."""
    modules = (len(number) + 3) * 11 + 2
    with contextlib.redirect_stdout(io.StringIO()):  # python-escpos prints to stdout here
        if modules * 2 <= profile.width_dots and number.isascii():
            p.barcode("{B" + number, "CODE128", height=64, width=2, pos="BELOW", function_type="B")
        else:
            p.qr(number, size=5, native=True, center=True)
