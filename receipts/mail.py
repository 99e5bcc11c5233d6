"""Emailed receipts: the 80 mm PDF attached to a short message in the customer's language."""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from receipts import labels as L
from receipts.document import ReceiptDocument, document_from_dict
from receipts.pdf import render_pdf
from receipts.text import render_text


class MailUnavailable(Exception):
    """The mail server cannot take the message now; deliver it again later."""


@dataclass(frozen=True)
class SmtpSettings:
    host: str | None
    port: int = 587
    username: str | None = None
    password: str | None = None
    starttls: bool = True
    mail_from: str = "receipts@payoffice.invalid"
    timeout: float = 15.0


def email_payload(doc: ReceiptDocument, to: str) -> dict[str, Any]:
    return {"document": doc.to_dict(), "to": to}


def build_message(doc: ReceiptDocument, to: str, mail_from: str, key: str) -> EmailMessage:
    lang = doc.language
    msg = EmailMessage()
    msg["Subject"] = L.label("email_subject", lang, number=doc.receipt_number)
    msg["From"] = mail_from
    msg["To"] = to
    msg["Date"] = formatdate(localtime=False)
    # A stable Message-ID lets the receiving side drop a duplicate after a retry.
    digest = hashlib.sha256(key.encode()).hexdigest()[:24]
    domain = mail_from.rpartition("@")[2] or "payoffice.invalid"
    msg["Message-ID"] = f"<receipt-{digest}@{domain}>"
    body = L.label(
        "email_body",
        lang,
        amount=L.money(doc.amount_cents, lang),
        account=doc.account_number,
        number=doc.receipt_number,
        office=doc.office_name,
    )
    msg.set_content(body + "\n\n" + render_text(doc))
    msg.add_attachment(
        render_pdf(doc),
        maintype="application",
        subtype="pdf",
        filename=f"receipt-{doc.receipt_number}.pdf",
    )
    msg["Content-Language"] = lang  # after set_content, which drops Content-* headers
    return msg


def deliver_email_job(key: str, payload: dict[str, Any], settings: SmtpSettings) -> str:
    """Send one receipt email or raise ``MailUnavailable``. A recipient the server refuses
    for good is acknowledged (retrying cannot help) and reported in the acknowledgment."""
    if not settings.host:
        raise MailUnavailable("no SMTP server configured (PAYOFFICE_SMTP_HOST)")
    doc = document_from_dict(payload["document"])
    msg = build_message(doc, payload["to"], settings.mail_from, key)
    try:
        with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout) as smtp:
            if settings.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.username:
                smtp.login(settings.username, settings.password or "")
            smtp.send_message(msg)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        if all(500 <= c < 600 for c in codes):
            return f"refused: {payload['to']} ({codes})"
        raise MailUnavailable(f"recipient deferred: {codes}") from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise MailUnavailable(f"{type(exc).__name__}: {exc}") from exc
    return f"sent to {payload['to']} as {msg['Message-ID']}"
