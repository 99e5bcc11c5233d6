"""Sample receipts for the docs: ``python -m receipts.samples docs/receipts`` writes one
receipt per language as an 80 mm PDF rendered to PNG (pdftoppm), and a thermal preview."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import tempfile
from pathlib import Path

from receipts.document import (
    BillLine,
    ReceiptDocument,
    ServiceRequestDocument,
    TenderEntry,
    mask_name,
)
from receipts.pdf import render_pdf


def sample(lang: str) -> ReceiptDocument:
    card = lang != "es"
    return ReceiptDocument(
        office_name="Santa Ana Trash & Recycling Payment Office",
        office_address=("1245 W 1st St", "Santa Ana, CA 92703"),
        office_phone="(714) 555-0142",
        receipt_number="SA-20261123-0042",
        business_date=dt.date(2026, 11, 23),
        issued_at=dt.datetime(2026, 11, 23, 22, 5, tzinfo=dt.UTC),
        account_number="100123",
        account_name_masked=mask_name({"vi": "NGUYỄN VĂN AN"}.get(lang, "MARÍA GONZÁLEZ")),
        service_address="1201 N BRISTOL ST",
        amount_cents=8450,
        station_name="Counter 2" if lang != "vi" else None,
        cashier="Ana R." if lang != "vi" else None,
        bills=(BillLine("2611000001", 5450), BillLine("2612000001", 3000)),
        tenders=(TenderEntry("card" if card else "cash", 8450 if card else 10000),),
        change_cents=0 if card else 1550,
        card_brand="visa" if card else None,
        card_last4="4242" if card else None,
        card_auth_code="A1B2C3" if card else None,
        balance_after_cents=0,
        service_request_ref="SR-2611-0007" if lang == "vi" else None,
        language=lang,
    )


def sample_slip(lang: str) -> ServiceRequestDocument:
    """A service-request slip as the kiosk prints it."""
    return ServiceRequestDocument(
        office_name="Santa Ana Trash & Recycling Payment Office",
        reference="40217735",
        service={"en": "bulky_item", "es": "cart_exchange"}.get(lang, "missed_pickup"),
        issued_at=dt.datetime(2026, 11, 23, 22, 5, tzinfo=dt.UTC),
        office_address=("1245 W 1st St", "Santa Ana, CA 92703"),
        office_phone="(714) 555-0142",
        language=lang,
    )


def write_samples(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        for lang in ("en", "es", "vi"):
            for stem, doc in (("receipt", sample(lang)), ("service-request", sample_slip(lang))):
                pdf = Path(tmp) / f"{stem}-{lang}.pdf"
                pdf.write_bytes(render_pdf(doc))
                out = directory / f"{stem}-{lang}"
                subprocess.run(
                    ["pdftoppm", "-png", "-r", "110", "-singlefile", str(pdf), str(out)],
                    check=True,
                )
                written.append(out.with_suffix(".png"))
    return written


if __name__ == "__main__":
    for path in write_samples(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/receipts")):
        print(path)
