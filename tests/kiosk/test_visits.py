"""Visits and the shared vocabulary."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from kiosk import visits, vocabulary
from payments.outbox import OutboxMessage
from tests import factories


def test_vocabulary_file_is_complete():
    terms = vocabulary.load()
    assert {t.category for t in terms.values()} == set(vocabulary.CATEGORIES)
    assert vocabulary.label("billing.pay_bill", "es") == "Pagar una factura"
    assert vocabulary.label("timed_out", "vi")
    assert all(t.labels["es"] and t.labels["vi"] for t in terms.values())


def test_vocabulary_rejects_bad_rows(tmp_path):
    path = tmp_path / "v.csv"
    path.write_text("code,kind,category,label_en,label_es,label_vi\nx,reason,nope,a,b,c\n")
    with pytest.raises(vocabulary.VocabularyError, match="line 2"):
        vocabulary.load(path)


def test_visit_life_cycle_reaches_the_cis_outbox(session, office):
    account = factories.make_account(session, number="880001")
    visit = visits.start_visit(session, office_id=office.id, language="es")
    visits.note(visit, reason="billing.pay_bill", account_id=account.id)
    visits.note(visit, reason="information.carts", outcome="answered")
    visits.note(visit, reason="billing.pay_bill", outcome="paid")
    assert visits.end_visit(session, visit, outcome="abandoned") is True
    assert visits.end_visit(session, visit) is False  # ending twice changes nothing
    session.commit()
    assert visit.reason_codes == "billing.pay_bill,information.carts"
    assert visit.outcome_code == "paid"  # the visit's own outcome wins over the fallback
    messages = list(
        session.scalars(select(OutboxMessage).where(OutboxMessage.topic == "cis.visit"))
    )
    assert len(messages) == 1
    assert messages[0].office_id == visit.office_id
    payload = json.loads(messages[0].payload)
    assert payload["account_number"] == "880001" and payload["channel"] == "kiosk"
    assert payload["reason_codes"] == ["billing.pay_bill", "information.carts"]
    with pytest.raises(visits.VisitError):
        visits.note(visit, reason="billing.balance")


def test_unknown_codes_are_refused(session, office):
    visit = visits.start_visit(session, office_id=office.id)
    with pytest.raises(vocabulary.VocabularyError):
        visits.note(visit, reason="paid")  # an outcome, not a reason
    with pytest.raises(vocabulary.VocabularyError):
        visits.note(visit, outcome="made_up")
    assert visit.reason_codes in ("", None) and visit.outcome_code is None
