"""A document laid out as receipt lines, shared by every renderer (ESC/POS, text, PNG, PDF)."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

from receipts import labels as L
from receipts.document import (
    Document,
    QueueTicketDocument,
    ReceiptDocument,
    ServiceRequestDocument,
    nfc,
)


@dataclass(frozen=True)
class Line:
    kind: str  # text, pair, rule, barcode, blank
    text: str = ""  # text, or the left column of a pair
    right: str = ""  # right column of a pair
    align: str = "left"  # left, center
    bold: bool = False
    size: int = 1  # character magnification: 1 normal, 2 double, 3 ticket number


def _t(text: str, **kw) -> Line:
    return Line("text", nfc(text), **kw)


def _p(left: str, right: str, **kw) -> Line:
    return Line("pair", nfc(left), nfc(right), **kw)


RULE = Line("rule")
BLANK = Line("blank")


def lay_out(doc: Document) -> list[Line]:
    if isinstance(doc, QueueTicketDocument):
        return _ticket(doc)
    if isinstance(doc, ServiceRequestDocument):
        return _service_request(doc)
    return _receipt(doc)


def _receipt(d: ReceiptDocument) -> list[Line]:
    lang = d.language
    m = lambda cents: L.money(cents, lang)  # noqa: E731
    out: list[Line] = []
    # A void or fully refunded receipt says so at both ends: a torn-off half still does.
    mark = None
    if d.voided:
        mark = _t(L.label("void", lang), align="center", bold=True, size=2)
    elif d.refunded_cents >= d.amount_cents and d.refunded_cents > 0:
        mark = _t(L.label("refunded_mark", lang), align="center", bold=True)
    elif d.refunded_cents > 0:
        mark = _t(L.label("partly_refunded_mark", lang), align="center", bold=True)
    if d.reprint:
        out.append(_t(L.label("reprint", lang), align="center", bold=True))
    if mark:
        out.append(mark)
    out.append(_t(d.office_name, align="center", bold=True))
    out += [_t(a, align="center") for a in d.office_address]
    if d.office_phone:
        out.append(_t(f"{L.label('phone', lang)} {d.office_phone}", align="center"))
    out += [BLANK, _t(L.label("receipt_title", lang), align="center", bold=True, size=2), BLANK]
    out.append(_p(L.label("receipt_number", lang), d.receipt_number, bold=True))
    out.append(_p(L.label("date", lang), L.local_date(d.business_date, lang)))
    out.append(_p(L.label("time", lang), L.local_time(d.issued_at, lang, d.timezone)))
    if d.cashier:
        if d.station_name:
            out.append(_p(L.label("station", lang), d.station_name))
        out.append(_p(L.label("cashier", lang), d.cashier))
    else:
        out.append(_p(L.label("station", lang), d.station_name or L.label("kiosk", lang)))
    out.append(RULE)
    out.append(_p(L.label("account", lang), d.account_number, bold=True))
    out.append(_p(L.label("name", lang), d.account_name_masked))
    out.append(_t(L.label("service_address", lang) + ":"))
    out.append(_t(d.service_address))
    if d.bills:
        out += [RULE, _t(L.label("bills_paid", lang) + ":")]
        out += [_p(f"  {L.label('bill', lang)} {b.number}", m(b.amount_cents)) for b in d.bills]
    out.append(RULE)
    out.append(_p(L.label("amount_paid", lang), m(d.amount_cents), bold=True, size=1))
    if d.tenders:
        out.append(_t(L.label("paid_with", lang) + ":"))
        for t in d.tenders:
            name = L.label(f"tender_{t.kind}", lang) if f"tender_{t.kind}" in L.LABELS else t.kind
            if t.kind == "card" and d.card_last4:
                name = " ".join(
                    p for p in (name, (d.card_brand or "").upper(), "****" + d.card_last4) if p
                )
            elif t.reference:
                name = f"{name} #{t.reference}"
            out.append(_p("  " + name, m(t.amount_cents)))
    if d.change_cents:
        out.append(_p(L.label("change", lang), m(d.change_cents), bold=True))
    if d.card_auth_code:
        out.append(_p(L.label("auth_code", lang), d.card_auth_code))
    if d.refunded_cents:
        out.append(_p(L.label("refunded", lang), m(d.refunded_cents)))
    if d.balance_after_cents is not None:
        # Printed later (a reprint, a void, a refund), the balance is today's, not the one
        # the payment left: the label says so.
        later = d.reprint or d.voided or d.refunded_cents > 0
        if d.balance_after_cents < 0:
            label = "credit_now" if later else "credit_after"
            out.append(_p(L.label(label, lang), m(-d.balance_after_cents)))
        else:
            label = "balance_now" if later else "balance_after"
            out.append(_p(L.label(label, lang), m(d.balance_after_cents)))
    if d.service_request_ref:
        out.append(_p(L.label("service_request", lang), d.service_request_ref))
    out += [RULE, Line("barcode", d.receipt_number, align="center"), BLANK]
    if not d.voided:  # nothing was paid on a void receipt
        out.append(_t(L.label("thank_you", lang), align="center"))
    out.append(_t(L.label("keep_receipt", lang), align="center"))
    if mark:
        out += [BLANK, mark]
    if d.reprint:
        out.append(_t(L.label("reprint", lang), align="center", bold=True))
    return out


def _ticket(d: QueueTicketDocument) -> list[Line]:
    lang = d.language
    service_key = L.SERVICE_LABELS.get(d.service)
    service = L.label(service_key, lang) if service_key else d.service
    if d.estimated_wait_minutes is None:
        wait = None
    elif d.estimated_wait_minutes <= 0:
        wait = L.label("ticket_no_wait", lang)
    else:
        wait = L.label("ticket_minutes", lang, n=d.estimated_wait_minutes)
    out = [
        _t(d.office_name, align="center", bold=True),
        BLANK,
        _t(L.label("ticket_title", lang), align="center", bold=True),
        _t(d.number, align="center", bold=True, size=3),
        BLANK,
        _p(L.label("ticket_service", lang), service),
    ]
    if wait:
        out.append(_p(L.label("ticket_wait", lang), wait))
    out.append(_p(L.label("time", lang), L.local_time(d.issued_at, lang, d.timezone)))
    out += [BLANK, _t(L.label("ticket_help", lang), align="center")]
    return out


def _service_request(d: ServiceRequestDocument) -> list[Line]:
    lang = d.language
    kind_key = f"sr_kind_{d.service}"
    service = L.label(kind_key, lang) if kind_key in L.LABELS else d.service
    reference = f"{d.reference[:4]} {d.reference[4:]}" if len(d.reference) == 8 else d.reference
    out = [_t(d.office_name, align="center", bold=True)]
    out += [_t(a, align="center") for a in d.office_address]
    if d.office_phone:
        out.append(_t(f"{L.label('phone', lang)} {d.office_phone}", align="center"))
    out += [
        BLANK,
        _t(L.label("sr_title", lang), align="center", bold=True),
        BLANK,
        _t(L.label("sr_reference", lang), align="center"),
        _t(reference, align="center", bold=True, size=2),
        BLANK,
        _p(L.label("ticket_service", lang), service),
        _p(L.label("date", lang), L.local_date(L.local_day(d.issued_at, d.timezone), lang)),
        _p(L.label("time", lang), L.local_time(d.issued_at, lang, d.timezone)),
        RULE,
        _t(L.label("sr_next", lang) + ":", bold=True),
    ]
    for step in ("sr_step_received", "sr_step_scheduled", "sr_step_done"):
        out += [_t(row) for row in L.label(step, lang).split("\n")]
    out += [
        RULE,
        Line("barcode", d.reference, align="center"),
        BLANK,
        _t(L.label("sr_keep", lang), align="center"),
    ]
    return out


def fit_pair(left: str, right: str, columns: int) -> list[str]:
    """A label and value on one line of ``columns`` characters; when they do not fit, the
    label wraps (nothing is cut off) and the value ends the last line, right-aligned."""
    if len(left) + 1 + len(right) <= columns:
        return [left + " " * (columns - len(left) - len(right)) + right]
    indent = len(left) - len(left.lstrip(" "))
    rows = _wrap_keep_indent(left, columns, indent)
    last = rows[-1]
    if len(last) + 1 + len(right) <= columns:
        return rows[:-1] + [last + " " * (columns - len(last) - len(right)) + right]
    if len(right) <= columns:
        return rows + [right.rjust(columns)]
    return rows + [right[i : i + columns] for i in range(0, len(right), columns)]


def _wrap_keep_indent(text: str, columns: int, indent: int) -> list[str]:
    pad = " " * indent
    return textwrap.wrap(
        text.strip(),
        columns,
        initial_indent=pad,
        subsequent_indent=pad + "  ",
        break_long_words=True,
    ) or [""]


def wrap(text: str, columns: int) -> list[str]:
    import textwrap

    return textwrap.wrap(text, columns, break_long_words=True) or [""]
