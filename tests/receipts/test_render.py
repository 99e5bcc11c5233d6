"""Renderers: text, ESC/POS bytes (to a loopback socket), PNG preview, PDF (rendered to PNG)."""

from __future__ import annotations

import datetime as dt
import io
import shutil
import subprocess
import unicodedata

import pytest
from PIL import Image

from hardware.devices import send_job
from receipts import labels
from receipts.document import (
    BillLine,
    QueueTicketDocument,
    ReceiptDocument,
    TenderEntry,
    document_from_dict,
    mask_name,
)
from receipts.escpos import render_escpos
from receipts.pdf import render_letter_pdf, render_pdf
from receipts.preview import render_png
from receipts.text import render_text


def receipt(lang="en", **kw) -> ReceiptDocument:
    base = {
        "office_name": "Santa Ana Trash & Recycling Payment Office",
        "office_address": ("1245 W 1st St", "Santa Ana, CA 92703"),
        "office_phone": "(714) 555-0142",
        "receipt_number": "SA-20261123-0042",
        "business_date": dt.date(2026, 11, 23),
        "issued_at": dt.datetime(2026, 11, 23, 22, 5, tzinfo=dt.UTC),
        "account_number": "100123",
        "account_name_masked": mask_name("MARÍA GONZÁLEZ"),
        "service_address": "1201 N BRISTOL ST",
        "amount_cents": 8450,
        "station_name": "Counter 2",
        "cashier": "Ana R.",
        "bills": (BillLine("2611000001", 8450),),
        "tenders": (TenderEntry("cash", 10000),),
        "change_cents": 1550,
        "balance_after_cents": 0,
        "language": lang,
    }
    base.update(kw)
    return ReceiptDocument(**base)


def card_receipt(lang="en", **kw) -> ReceiptDocument:
    return receipt(
        lang,
        tenders=(TenderEntry("card", 8450),),
        change_cents=0,
        card_brand="visa",
        card_last4="4242",
        card_auth_code="A1B2C3",
        **kw,
    )


def test_mask_name_keeps_first_letters_only():
    assert mask_name("MARIA GONZALEZ") == "M**** G*******"
    assert mask_name("  NGUYỄN  VĂN ") == "N***** V**"


def test_document_round_trips_through_json():
    doc = card_receipt("vi", service_request_ref="SR-2611-0007", reprint=True)
    assert document_from_dict(doc.to_dict()) == doc
    ticket = QueueTicketDocument("Office", "B012", "billing", doc.issued_at, 12, "es")
    assert document_from_dict(ticket.to_dict()) == ticket


def test_document_refuses_float_money():
    with pytest.raises(TypeError):
        receipt(amount_cents=84.5)


def test_money_in_each_language():
    assert labels.money(123450, "en") == "$1,234.50"
    assert labels.money(123450, "es") == "$1,234.50"
    assert labels.money(123450, "vi") == "$1,234.50"
    from payments.money import format_amount  # the screens' formatter: the same text

    for lang in ("en", "es", "vi"):
        for cents in (0, 5, 8450, 123450, -2500):
            assert labels.money(cents, lang) == format_amount(cents, lang).replace("\xa0", " ")
    assert labels.local_time(dt.datetime(2026, 11, 23, 22, 5, tzinfo=dt.UTC), "en") == "2:05 PM"


def test_every_label_exists_in_every_language():
    for key, texts in labels.LABELS.items():
        assert set(texts) == set(labels.LANGUAGES), key
        assert all(t.strip() for t in texts.values()), key


@pytest.mark.parametrize(
    ("lang", "expect"),
    [
        ("en", ["PAYMENT RECEIPT", "Amount paid", "$84.50", "Change", "$15.50", "Cashier"]),
        ("es", ["RECIBO DE PAGO", "Total pagado", "$84.50", "Cambio", "Dirección del servicio"]),
        ("vi", ["BIÊN LAI THANH TOÁN", "Số tiền đã trả", "$84.50", "Tiền thối lại"]),
    ],
)
def test_text_receipt(lang, expect):
    text = render_text(receipt(lang))
    for part in expect:
        assert part in text, part
    assert "SA-20261123-0042" in text
    assert "MARÍA" not in text and "M**** G*******" in text
    assert max(len(line) for line in text.splitlines()) <= 42


def test_text_receipt_card_void_refund_reprint_service_request():
    text = render_text(
        card_receipt(
            "en", voided=True, reprint=True, refunded_cents=8450, service_request_ref="SR-7"
        )
    )
    assert "*** VOID ***" in text and text.count("*** REPRINT ***") == 2
    assert "Card VISA ****4242" in text and "A1B2C3" in text
    assert "Refunded" in text and "SR-7" in text


def test_kiosk_receipt_says_kiosk_and_credit_balance():
    text = render_text(receipt("es", cashier=None, station_name=None, balance_after_cents=-500))
    assert "Quiosco" in text and "Saldo a favor después del pago" in text and "$5.00" in text


def test_queue_ticket_in_each_language():
    at = dt.datetime(2026, 11, 23, 18, 0, tzinfo=dt.UTC)
    en = render_text(QueueTicketDocument("Office", "B012", "billing", at, 12, "en"))
    assert "B012" in en and "Billing and payments" in en and "about 12 min" in en
    vi = render_text(QueueTicketDocument("Office", "S003", "start_stop", at, 0, "vi"))
    assert "SỐ CỦA QUÝ KHÁCH" in vi and "Bắt đầu hoặc ngừng dịch vụ" in vi
    assert "ngay bây giờ" in vi


def test_escpos_spanish_goes_out_in_cp858():
    data = render_escpos(receipt("es"), "TM-T88V")
    assert data.startswith(b"\x1b@\x1bt\x13")  # init, code page 19 (PC858)
    assert "Dirección del servicio".encode("cp858") in data
    assert "Recibo n.º".encode("cp858") in data
    assert b"?" not in data  # no character fell back to "?"
    assert b"\x1dv0" not in data  # all of it fits the code page: no images
    assert b"\x1dV" in data[-8:]  # the cut ends the job


def test_escpos_vietnamese_lines_are_images_sized_to_the_profile():
    for profile, width in (("TM-T88V", 512), ("TM-T20II", 576)):
        data = render_escpos(receipt("vi"), profile)
        assert b"\x1dv0\x00" + (width // 8).to_bytes(2, "little") in data
        assert b"?" not in data[: data.index(b"\x1dv0")]
        # ASCII-only lines (the office name) stay text
        assert b"Santa Ana Trash & Recycling Payment Office" in data


def test_escpos_nfc_first():
    decomposed = unicodedata.normalize("NFD", "MARÍA GÓMEZ")
    data = render_escpos(receipt("es", service_address=decomposed), "TM-T88V")
    assert "MARÍA GÓMEZ".encode("cp858") in data


def test_escpos_barcode_and_drawer_kick():
    data = render_escpos(receipt("en"), "TM-T88V", kick_drawer=True)
    assert b"\x1bp\x00\x19\xfa" in data[:12]
    assert b"\x1dkI" in data and b"{BSA-20261123-0042" in data  # GS k 73: Code 128
    assert b"\x1bp" not in render_escpos(receipt("en"), "TM-T88V")


def test_escpos_bytes_arrive_intact_at_a_loopback_printer(loopback):
    printer = loopback()
    data = render_escpos(receipt("vi"), "TM-T20II", kick_drawer=True)
    send_job(printer.url, data)
    printer.wait_closed(1)
    assert printer.received.endswith(data + b"\x10\x04\x01")


def test_png_preview_has_every_language():
    for lang in ("en", "es", "vi"):
        image = Image.open(io.BytesIO(render_png(card_receipt(lang))))
        assert image.width == 600 and image.height > 800


def _pdf_pages(pdf: bytes, tmp_path, name: str) -> list:
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "60", str(path), str(tmp_path / name)], check=True)
    return sorted(tmp_path.glob(f"{name}-*.png"))


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils missing")
@pytest.mark.parametrize("lang", ["en", "es", "vi"])
def test_pdf_receipt_is_one_80mm_page_and_renders(tmp_path, lang):
    doc = card_receipt(lang, voided=True, reprint=True, service_request_ref="SR-7")
    pdf = render_pdf(doc)
    assert pdf.startswith(b"%PDF") and b"DejaVuSans" in pdf
    pages = _pdf_pages(pdf, tmp_path, lang)
    assert len(pages) == 1  # measured height: never spills onto a second page
    with Image.open(pages[0]) as page:
        assert abs(page.width - round(80 / 25.4 * 60)) <= 1
    letter = _pdf_pages(render_letter_pdf(doc), tmp_path, f"{lang}-letter")
    assert len(letter) == 1
    with Image.open(letter[0]) as page:
        assert (page.width, page.height) == (510, 660)


def test_long_receipt_still_one_pdf_page(tmp_path):
    bills = tuple(BillLine(f"26110000{i:02d}", 100 + i) for i in range(60))
    pdf = render_pdf(receipt("vi", bills=bills))
    assert len(_pdf_pages(pdf, tmp_path, "long")) == 1
