"""The whole kiosk card flow on Stripe: the kiosk posts a card payment to the API, the reader
stand-in takes the tap and delivers signed webhooks to the app served on 127.0.0.1, and the
kiosk's next GET shows the receipt number."""

from __future__ import annotations

import uuid

import pytest

from tests import factories
from tests.conftest import csrf_token
from tests.support.security import cheap_argon2  # noqa: F401  (autouse)

pytestmark = pytest.mark.filterwarnings("ignore:Bare functions are deprecated")


@pytest.fixture
def account_number(sessions, office) -> str:
    with sessions() as s:
        account = factories.make_account(s, balance_cents=6_000)
        factories.make_bill(s, account, 6_000)
        s.commit()
        return account.number


def pay(kiosk_client, number: str, cents: int):
    return kiosk_client.post(
        "/api/v1/payments",
        json={"account_number": number, "amount_cents": cents},
        headers={
            "Idempotency-Key": uuid.uuid4().hex,
            "X-CSRFToken": csrf_token(kiosk_client, "/pair"),
        },
    )


def reader_of(standin, intent_id: str) -> str:
    return next(
        r.id
        for r in standin.readers.values()
        if r.action and r.action["process_payment_intent"]["payment_intent"] == intent_id
    )


@pytest.mark.parametrize(
    ("card", "status"), [("4242424242424242", "succeeded"), ("4000000000000341", "failed")]
)
def test_kiosk_pays_by_card_on_stripe(
    live_app, kiosk_client, account_number, standin, card, status
):
    created = pay(kiosk_client, account_number, 6_000)
    assert created.status_code == 201, created.get_json()
    payment = created.get_json()
    assert payment["status"] == "awaiting_card"
    intent = standin.intents()[0]
    assert intent["metadata"]["payment_id"] == payment["id"]

    standin.present(reader_of(standin, intent["id"]), card)  # webhooks delivered to the app
    assert [d.status for d in standin.deliveries] == [200, 200]
    shown = kiosk_client.get(f"/api/v1/payments/{payment['id']}").get_json()
    assert shown["status"] == status
    assert bool(shown.get("receipt_number")) == (status == "succeeded")


def test_customer_cancels_at_the_kiosk(live_app, kiosk_client, account_number, standin):
    payment = pay(kiosk_client, account_number, 6_000).get_json()
    intent = standin.intents()[0]
    reader = reader_of(standin, intent["id"])
    canceled = kiosk_client.post(
        f"/api/v1/payments/{payment['id']}/cancel",
        headers={
            "Idempotency-Key": uuid.uuid4().hex,
            "X-CSRFToken": csrf_token(kiosk_client, "/pair"),
        },
    )
    assert canceled.status_code == 200 and canceled.get_json()["status"] == "canceled"
    assert standin.intents()[0]["status"] == "canceled"
    assert standin.reader(reader).action is None
    assert standin.present(reader) is None  # a late tap has nothing to pay
