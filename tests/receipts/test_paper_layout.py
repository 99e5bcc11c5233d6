"""The receipt on paper as a customer holds it: a void or fully refunded receipt is marked at
both ends (a partly refunded one too) and a void does not thank anyone for a payment; a
balance printed after the day of the payment is labelled as today's; a label too long for the roll
wraps instead of being cut off; the PDF prints the receipt number under the barcode, not
over it; the on-screen preview shows the number under its QR code, as the printer does."""

from __future__ import annotations

import pytest
from reportlab.graphics.barcode.code128 import Code128
from reportlab.platypus import Paragraph, Table

from receipts import labels
from receipts.document import TenderEntry
from receipts.layout import Line, fit_pair, lay_out
from receipts.pdf import _flowable, _register_fonts
from receipts.raster import draw_lines, line_strip
from receipts.text import render_text
from tests.receipts.test_render import card_receipt, receipt


@pytest.mark.parametrize("lang", ["en", "es", "vi"])
def test_void_receipt_marked_at_both_ends_without_thanks(lang):
    rows = render_text(receipt(lang, voided=True), 48).splitlines()
    mark = labels.label("void", lang)
    assert rows[0].strip() == mark and rows[-1].strip() == mark
    assert labels.label("thank_you", lang) not in "\n".join(rows)
    assert labels.label("keep_receipt", lang) in "\n".join(rows)


def test_full_refund_marked_at_both_ends_and_partial_refund_not():
    full = render_text(card_receipt("es", refunded_cents=8450)).splitlines()
    mark = labels.label("refunded_mark", "es")
    assert full[0].strip() == mark and full[-1].strip() == mark
    assert labels.label("thank_you", "es") in "\n".join(full)
    partial = render_text(card_receipt("es", refunded_cents=1000))
    assert mark not in partial and "Reembolsado" in partial


@pytest.mark.parametrize("lang", ["en", "es", "vi"])
def test_partial_refund_marked_at_both_ends(lang):
    rows = render_text(card_receipt(lang, refunded_cents=1000)).splitlines()
    mark = labels.label("partly_refunded_mark", lang)
    assert rows[0].strip() == mark and rows[-1].strip() == mark


@pytest.mark.parametrize(
    ("kw", "balance", "credit"),
    [
        ({}, "balance_after", "credit_after"),
        ({"reprint": True}, "balance_now", "credit_now"),
        ({"voided": True}, "balance_now", "credit_now"),
        ({"refunded_cents": 1000}, "balance_now", "credit_now"),
    ],
)
def test_the_balance_printed_later_is_labelled_as_todays(kw, balance, credit):
    """Only the receipt printed with the payment shows the balance the payment left."""
    owed = render_text(receipt("es", balance_after_cents=1200, **kw))
    assert f"{labels.label(balance, 'es')}" in owed and "$12.00" in owed
    ahead = render_text(receipt("es", balance_after_cents=-500, **kw))
    assert f"{labels.label(credit, 'es')}" in ahead and "$5.00" in ahead


def test_reprint_of_a_void_keeps_both_marks_inside_the_reprint_lines():
    rows = render_text(receipt("en", voided=True, reprint=True)).splitlines()
    assert [r.strip() for r in (rows[0], rows[1], rows[-2], rows[-1])] == [
        "*** REPRINT ***",
        "*** VOID ***",
        "*** VOID ***",
        "*** REPRINT ***",
    ]


def test_long_label_wraps_instead_of_being_cut():
    reference = "MO-" + "7" * 25
    text = render_text(receipt("es", tenders=(TenderEntry("money_order", 8450, reference),)))
    rows = text.splitlines()
    assert max(len(r) for r in rows) <= 42
    joined = "".join(r.strip() for r in rows)
    assert reference in joined  # every digit printed, over two lines
    i = next(n for n, r in enumerate(rows) if "Giro postal" in r)
    assert rows[i + 1].startswith(f"    #{reference}") and rows[i + 1].endswith("$84.50")
    # a reference longer than the roll: still whole, the amount on a line of its own
    long_ref = "MO-" + "7" * 60
    rows = render_text(
        receipt("es", tenders=(TenderEntry("money_order", 8450, long_ref),))
    ).splitlines()
    assert long_ref in "".join(r.strip() for r in rows) and max(len(r) for r in rows) <= 42


def test_fit_pair_keeps_a_fitting_pair_on_one_line_and_never_cuts_a_value():
    assert fit_pair("Cambio", "$15.50", 20) == ["Cambio        $15.50"]
    rows = fit_pair("Receipt no.", "SA-20261123-0042-" + "X" * 30, 42)
    assert "".join(rows[1:]) == "SA-20261123-0042-" + "X" * 30


def test_pdf_barcode_number_is_its_own_line_below_the_bars():
    _register_fonts()
    table = _flowable(Line("barcode", "SA-20261123-0042", align="center"), 170, 8.5)
    assert isinstance(table, Table)
    bar, number = table._cellvalues[0][0], table._cellvalues[1][0]
    assert isinstance(bar, Code128) and not bar.humanReadable
    assert isinstance(number, Paragraph) and number.text == "SA-20261123-0042"


def test_preview_prints_the_number_under_the_qr_code():
    from PIL import Image

    qr = Image.new("1", (100, 100), 0)
    image = draw_lines([Line("barcode", "SA-1")], 576, barcode=lambda text: qr)
    number = line_strip(Line("text", "SA-1", align="center"), 576)
    assert image.height == qr.height + 6 + number.height
    # the number's strip has ink; the line is not an empty spacer
    assert 0 in set(number.getdata())
    # without a barcode drawer (the ESC/POS path) nothing is added
    assert draw_lines([Line("barcode", "SA-1")] + lay_out(receipt())[:1], 576).height == (
        line_strip(lay_out(receipt())[0], 576).height
    )


def test_centered_office_name_wraps_evenly_on_the_42_column_preview_and_the_pdf():
    from receipts import pdf, raster

    name = "Santa Ana Trash & Recycling Payment Office"
    greedy = raster._fit(name, (True, raster.BASE_PX), 504)
    assert greedy[-1] == "Office"  # what a greedy wrap leaves alone on the last row
    rows = raster._balanced(name, (True, raster.BASE_PX), 504)
    assert len(rows) == 2 and " ".join(rows) == name and len(rows[-1].split()) > 1
    assert raster._balanced(name, (True, raster.BASE_PX), 568) == [name]  # fits: one row
    pdf._register_fonts()
    rows = pdf._balanced(name, "DejaVuSans-Bold", 8.5, 80 * 2.8346 - 8 * 2.8346 - 13)
    assert len(rows) == 2 and " ".join(rows) == name and len(rows[-1].split()) > 1
