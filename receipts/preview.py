"""The receipt as a PNG: what the counter screen and the demo show instead of paper."""

from __future__ import annotations

import io

from PIL import Image

from receipts.document import Document
from receipts.layout import lay_out
from receipts.raster import draw_lines

PREVIEW_WIDTH = 576


def _qr(text: str) -> Image.Image:
    import qrcode

    qr = qrcode.QRCode(border=1, box_size=5)
    qr.add_data(text)
    return qr.make_image(fill_color="black", back_color="white").get_image().convert("1")


def render_image(doc: Document, width: int = PREVIEW_WIDTH) -> Image.Image:
    body = draw_lines(lay_out(doc), width, barcode=_qr)
    page = Image.new("1", (width + 24, body.height + 24), 1)
    page.paste(body, (12, 12))
    return page


def render_png(doc: Document, width: int = PREVIEW_WIDTH) -> bytes:
    buf = io.BytesIO()
    render_image(doc, width).save(buf, format="PNG", optimize=True)
    return buf.getvalue()
