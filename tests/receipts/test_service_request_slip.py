"""The service-request slip: one document, every renderer (ESC/POS, text, PNG, PDF), in
English, Spanish and Vietnamese, and sent to a recording socket on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from PIL import Image

from hardware.devices import parse_printer_url
from receipts.document import ServiceRequestDocument, document_from_dict
from receipts.escpos import render_escpos
from receipts.pdf import render_letter_pdf, render_pdf
from receipts.preview import render_png
from receipts.printing import deliver_print_job, print_payload
from receipts.text import render_text

AT = dt.datetime(2026, 11, 24, 1, 30, tzinfo=dt.UTC)  # Nov 23, 5:30 PM in Santa Ana


def slip(lang: str = "en", service: str = "bulky_item") -> ServiceRequestDocument:
    return ServiceRequestDocument(
        office_name="Santa Ana Payment Office",
        reference="40217735",
        service=service,
        issued_at=AT,
        office_address=("1 Civic Center Plaza", "Santa Ana, CA 92701"),
        office_phone="(714) 555-0100",
        language=lang,
    )


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("en", ["SERVICE REQUEST", "Bulky-item pickup", "What happens next", "Nov 23, 2026"]),
        ("es", ["SOLICITUD DE SERVICIO", "Recolección de objetos grandes", "Qué sigue"]),
        ("vi", ["YÊU CẦU DỊCH VỤ", "Thu gom đồ cồng kềnh", "Các bước tiếp theo"]),
    ],
)
def test_text_has_reference_kind_next_steps_office_and_date(lang, expected):
    text = render_text(slip(lang))
    assert "4021 7735" in text and "Santa Ana Payment Office" in text
    for word in expected:
        assert word in text, (lang, word)
    assert "\n1. " in text and "\n2. " in text and "\n3. " in text


def test_round_trips_through_the_outbox_payload():
    doc = slip("vi", "cart_exchange")
    payload = print_payload(doc, "preview://")
    assert document_from_dict(payload["document"]) == doc
    assert doc.receipt_number == "40217735"


def test_escpos_spanish_in_code_page_vietnamese_as_image():
    es = render_escpos(slip("es"), "TM-T88V")
    assert "SOLICITUD DE SERVICIO".encode("cp858") in es and b"4021 7735" in es
    assert b"\x1dv0" not in es  # every Spanish line fits the code page
    vi = render_escpos(slip("vi"), "TM-T20II")
    assert b"\x1dv0" in vi  # Vietnamese lines drawn with DejaVu Sans
    assert b"4021 7735" in vi


@pytest.mark.parametrize("lang", ["en", "es", "vi"])
def test_png_and_pdf_render(lang):
    image = Image.open(io.BytesIO(render_png(slip(lang))))
    assert image.height > image.width
    for pdf in (render_pdf(slip(lang)), render_letter_pdf(slip(lang))):
        assert pdf.startswith(b"%PDF")
        assert pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages") == 1  # one page


def test_prints_to_a_socket_and_to_preview(loopback, tmp_path):
    printer = loopback()
    doc = slip("es", "missed_pickup")
    result = deliver_print_job(
        "service-request:SA:40217735", print_payload(doc, printer.url), preview_dir=tmp_path
    )
    assert result.status == "printed"
    printer.wait_closed(2)
    assert "Recolección no realizada".encode("cp858") in printer.received
    assert parse_printer_url(printer.url).scheme == "tcp"
    shown = deliver_print_job(
        "service-request:SA:40217735", print_payload(doc, "preview://"), preview_dir=tmp_path
    )
    assert shown.status == "previewed"
    saved = (tmp_path / "service-request_SA_40217735.txt").read_text(encoding="utf-8")
    assert "4021 7735" in saved and "Qué sigue" in saved
