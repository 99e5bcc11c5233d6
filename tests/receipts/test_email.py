"""Emailed receipts through a real SMTP server on 127.0.0.1 (aiosmtpd)."""

from __future__ import annotations

from sqlalchemy import select

from kiosk.worker import build_handlers
from payments import outbox
from payments.outbox import OutboxMessage
from payments.service import TenderInput
from receipts.printing import EMAIL_TOPIC
from tests.receipts.conftest import pay


def handlers_for(tmp_path, port: int | None):
    return build_handlers(
        {
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "CIS_ADAPTER": "file",
            "CIS_EXCHANGE_DIR": str(tmp_path / "cis"),
            "SMTP_HOST": "127.0.0.1" if port else None,
            "SMTP_PORT": port or 25,
            "SMTP_STARTTLS": False,
            "MAIL_FROM": "recibos@santa-ana.example",
        }
    )


def email_jobs(session):
    jobs = list(
        session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.topic == EMAIL_TOPIC)
            .execution_options(populate_existing=True)
        )
    )
    session.commit()
    return jobs


def test_spanish_receipt_arrives_with_its_pdf(session, sessions, world, smtp_server, tmp_path):
    payment = pay(
        session, world, 8000, TenderInput("cash", 8000), language="es", email="maria@example.com"
    )
    handlers = handlers_for(tmp_path, smtp_server.port)
    assert outbox.deliver_due(sessions, handlers, topics=[EMAIL_TOPIC]).delivered == 1
    [(sender, rcpts, msg)] = smtp_server.messages
    assert sender == "recibos@santa-ana.example" and rcpts == ["maria@example.com"]
    assert msg["Subject"] == f"Su recibo de pago {payment.receipt_number}"
    assert msg["Content-Language"] == "es"
    body = msg.get_body(("plain",)).get_content()
    assert "Gracias por su pago de $80.00" in body and "RECIBO DE PAGO" in body
    [attachment] = list(msg.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == f"receipt-{payment.receipt_number}.pdf"
    assert attachment.get_content().startswith(b"%PDF")
    [job] = email_jobs(session)
    assert job.status == "delivered" and msg["Message-ID"] in job.acknowledgment


def test_vietnamese_subject(session, sessions, world, smtp_server, tmp_path):
    pay(session, world, 1000, language="vi", email="an@example.com")
    outbox.deliver_due(sessions, handlers_for(tmp_path, smtp_server.port), topics=[EMAIL_TOPIC])
    [(_, _, msg)] = smtp_server.messages
    assert msg["Subject"].startswith("Biên lai thanh toán SA-")
    assert "Cảm ơn quý khách đã thanh toán" in msg.get_body(("plain",)).get_content()


def test_mail_server_down_the_payment_stands_and_the_email_waits(
    session, sessions, world, tmp_path
):
    from tests.support.emupos import free_port

    pay(session, world, 1000, email="a@example.com")
    run = outbox.deliver_due(sessions, handlers_for(tmp_path, free_port()), topics=[EMAIL_TOPIC])
    assert (run.delivered, run.failed) == (0, 1)
    [job] = email_jobs(session)
    assert job.status == "pending" and "ConnectionRefused" in job.last_error


def test_no_smtp_configured_waits(session, sessions, world, tmp_path):
    pay(session, world, 1000, email="a@example.com")
    run = outbox.deliver_due(sessions, handlers_for(tmp_path, None), topics=[EMAIL_TOPIC])
    assert run.failed == 1
    assert "PAYOFFICE_SMTP_HOST" in email_jobs(session)[0].last_error


def test_refused_address_is_not_retried_forever(session, sessions, world, smtp_server, tmp_path):
    smtp_server.inbox.refuse.add("nobody@example.com")
    pay(session, world, 1000, email="nobody@example.com")
    handlers = handlers_for(tmp_path, smtp_server.port)
    assert outbox.deliver_due(sessions, handlers, topics=[EMAIL_TOPIC]).delivered == 1
    [job] = email_jobs(session)
    assert job.acknowledgment.startswith("refused") and smtp_server.messages == []
