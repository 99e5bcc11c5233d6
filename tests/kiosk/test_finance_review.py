"""The "Payments to review" pages (/finance/review/) with the Flask test client, against
localstripe and the Terminal reader stand-in on 127.0.0.1: payments flagged by the real
recovery sweep, then completed, refunded and closed through the forms."""

# Fixtures are imported from the Stripe tests, so their names are reused as test arguments.
# ruff: noqa: F811

from __future__ import annotations

import html
import re

import pytest
import stripe
from sqlalchemy import select

from payments import recovery, review, service
from payments.audit import AuditEvent
from payments.db import utcnow
from payments.gateway import CardRequest
from payments.models import Payment
from payments.models import PaymentStatus as S
from tests import factories
from tests.conftest import csrf_token, login
from tests.payments.conftest import command, make_world, tender
from tests.payments.stripe_terminal.conftest import (  # noqa: F401  (fixtures)
    _standin_server,
    gateway,
    standin,
    stripe_app,
)
from tests.payments.stripe_terminal.helpers import API_KEY, READER, card_payment, start
from tests.support.security import cheap_argon2  # noqa: F401  (autouse)

pytestmark = pytest.mark.filterwarnings("ignore:Bare functions are deprecated")
LIST = "/finance/review/"
OTHER_READER = "tmr_counter_2"


def page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return html.unescape(response.get_data(as_text=True))


def post(client, url: str, **form) -> str:
    """Send a form from the payment's page and return the page it leads to (with its flash)."""
    token = csrf_token(client, LIST)
    response = client.post(url, data={"csrf_token": token, **form})
    assert response.status_code == 303, response.get_data(as_text=True)
    return page(client, response.headers["Location"])


def notices(text: str) -> list[str]:
    return re.findall(r'<p class="notice" role="status">(.*?)</p>', text, re.S)


def fresh(sessions, payment_id: str) -> Payment:
    with sessions() as s:
        return s.get(Payment, payment_id)


def actions(sessions, payment_id: str) -> list[str]:
    with sessions() as s:
        return list(
            s.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.entity_id == payment_id)
                .order_by(AuditEvent.seq)
            )
        )


def second_charge(standin, payment_id: str, cents: int = 5_000) -> str:
    """Another intent claiming the payment, charged on another reader."""
    client = stripe.StripeClient(API_KEY, base_addresses={"api": standin.url})
    stray = client.v1.payment_intents.create(
        {"amount": cents, "currency": "usd", "metadata": {"payment_id": payment_id}}
    )
    client.v1.terminal.readers.process_payment_intent(OTHER_READER, {"payment_intent": stray.id})
    standin.present(OTHER_READER)
    return stray.id


def sweep(sessions, gateway):
    return recovery.sweep(sessions, gateway, now=utcnow())


@pytest.fixture
def world(session, office):
    return make_world(session, office)


@pytest.fixture
def two_charges(stripe_app, sessions, session, world, standin, gateway):
    """A payment in flight with two succeeded charges of its amount: flagged by the sweep.
    Returns (payment id, the payment's own intent, the stray intent)."""
    payment = start(session, card_payment(session, world), gateway, close=True)
    standin.present(READER)
    stray = second_charge(standin, payment.id)
    assert sweep(sessions, gateway).outcomes == {"needs_review": 1}
    return payment.id, fresh(sessions, payment.id).processor_intent_id, stray


@pytest.fixture
def charged_twice(stripe_app, sessions, session, world, standin, gateway):
    """A completed payment with a second charge at the processor: flagged by the sweep.
    Returns (payment id, the stray intent)."""
    payment = start(session, card_payment(session, world), gateway, close=True)
    standin.present(READER)
    assert sweep(sessions, gateway).outcomes == {"completed": 1}
    stray = second_charge(standin, payment.id)
    assert sweep(sessions, gateway).unmatched == 1
    return payment.id, stray


def test_list_and_payment_page_show_the_charges_and_what_can_be_done(
    client, login_as, world, two_charges
):
    payment_id, own, stray = two_charges
    login_as("finance")
    listing = page(client, LIST)
    assert f'href="/finance/review/{payment_id}"' in listing
    assert f"Account {world.account.number}" in listing and "$50.00" in listing
    assert "waiting for the card" in listing and "several" in listing
    assert ">Review (1)</a>" in listing  # the finance navigation counts them

    detail = page(client, f"{LIST}{payment_id}")
    assert own in detail and stray in detail
    assert detail.count("Complete the payment with this charge") == 2
    assert detail.count("Refund this charge to the card") == 2
    assert detail.count("Visa ending 4242") == 2 and detail.count("nothing yet") == 2
    assert re.search(r"<fieldset disabled>", detail)  # close waits for the charges
    assert "2 charges of $100.00 in all at the processor are not accounted for here" in detail
    assert 'id="receipt">none' in detail


def test_complete_gives_a_receipt_then_refund_the_stray_and_close(
    client, login_as, sessions, standin, gateway, two_charges
):
    payment_id, own, stray = two_charges
    user = login_as("finance")
    url = f"{LIST}{payment_id}"

    unconfirmed = post(client, f"{url}/complete", intent_id=own)
    assert "tick the box" in notices(unconfirmed)[0]
    assert fresh(sessions, payment_id).status == S.AWAITING_CARD

    done = post(client, f"{url}/complete", intent_id=own, confirm="yes")
    payment = fresh(sessions, payment_id)
    assert payment.status == S.SUCCEEDED and payment.receipt_number and payment.needs_review
    assert f"receipt {payment.receipt_number}" in notices(done)[0]
    assert f'href="/api/v1/receipts/{payment.receipt_number}.pdf"' in done
    assert "this payment (its receipt)" in done
    assert done.count("Refund this charge to the card") == 1  # only the stray one is left

    refused = post(client, f"{url}/close", note="looked at both")
    assert (
        "Not closed: A charge of $50.00 at the processor is not accounted for here: refund it."
        in notices(refused)[0]
    )
    assert fresh(sessions, payment_id).needs_review
    assert review.CLOSED not in actions(sessions, payment_id)

    refunded = post(client, f"{url}/refund", intent_id=stray, confirm="yes")
    assert notices(refunded)[0].startswith("Refunded $50.00")
    assert "<fieldset>" in refunded and "Closing clears the flag" in refunded

    closed = post(client, f"{url}/close", note="double tap at the counter; stray refunded")
    assert "closed (complete)" in notices(closed)[0]
    assert "No payments are waiting for review." in closed
    payment = fresh(sessions, payment_id)
    assert payment.status == S.SUCCEEDED and not payment.needs_review
    trail = actions(sessions, payment_id)
    assert trail[-1] == review.CLOSED and trail.count(review.REFUNDED) == 1
    with sessions() as s:
        entry = s.scalars(select(AuditEvent).where(AuditEvent.action == review.CLOSED)).one()
        assert entry.actor == user.username
    assert sweep(sessions, gateway).unmatched == 0
    assert not fresh(sessions, payment_id).needs_review
    assert client.get(url).status_code == 303  # settled: back to the list


def test_supervisor_refunds_a_second_charge_and_closes_and_the_sweep_leaves_it(
    client, login_as, sessions, standin, gateway, charged_twice
):
    payment_id, stray = charged_twice
    user = login_as("supervisor")
    hub = page(client, "/counter/")
    assert 'href="/finance/review/">Payments to review (1)' in hub
    url = f"{LIST}{payment_id}"
    detail = page(client, url)
    assert "Complete the payment with this charge" not in detail  # it is complete already
    assert detail.count("Refund this charge to the card") == 1

    post(client, f"{url}/refund", intent_id=stray, confirm="yes")
    post(client, f"{url}/refund", intent_id=stray, confirm="yes")  # a resent form
    client_ = stripe.StripeClient(API_KEY, base_addresses={"api": standin.url})
    refunds = client_.v1.refunds.list({"payment_intent": stray}).data
    assert [r.amount for r in refunds] == [5_000]

    post(client, f"{url}/close", note="second tap refunded")
    payment = fresh(sessions, payment_id)
    assert payment.status == S.SUCCEEDED and not payment.needs_review
    with sessions() as s:
        actors = set(
            s.scalars(
                select(AuditEvent.actor).where(
                    AuditEvent.action.in_((review.REFUNDED, review.CLOSED))
                )
            )
        )
    assert actors == {user.username}
    report = sweep(sessions, gateway)
    assert report.unmatched == 0
    assert not fresh(sessions, payment_id).needs_review


def test_a_missing_note_changes_nothing(
    client, login_as, sessions, session, world, standin, gateway, stripe_app
):
    payment = card_payment(session, world, 5_000)
    session.close()
    gateway.start(CardRequest(payment.id, 4_000, READER, {}))  # charged another amount
    standin.present(READER)
    assert sweep(sessions, gateway).outcomes == {"needs_review": 1}
    login_as("finance")
    url = f"{LIST}{payment.id}"
    detail = page(client, url)
    assert "$40.00" in detail and "Complete the payment with this charge" not in detail
    [intent] = [i for i in re.findall(r"<code>(pi_\w+)</code>", detail)]
    post(client, f"{url}/refund", intent_id=intent, confirm="yes")
    before = actions(sessions, payment.id)

    for note in ("", "   ", "x" * (review.MAX_NOTE + 1)):
        answer = post(client, f"{url}/close", note=note)
        assert notices(answer)[0].startswith("Not closed: ")
    answer = post(client, f"{url}/close")  # no note field at all
    assert notices(answer)[0] == "Not closed: Say what was checked or done."
    assert actions(sessions, payment.id) == before
    assert fresh(sessions, payment.id).needs_review

    post(client, f"{url}/close", note="customer paid cash instead")
    closed = fresh(sessions, payment.id)
    assert closed.status == S.CANCELED and not closed.needs_review


def test_processor_down_shows_an_alert_and_no_actions(
    client, login_as, sessions, standin, two_charges
):
    payment_id, own, _ = two_charges
    login_as("finance")
    standin.fail_next("GET", r"^/v1/payment_intents$")
    detail = page(client, f"{LIST}{payment_id}")
    assert "The card processor could not be read" in detail and 'role="alert"' in detail
    assert "Complete the payment" not in detail and "Close the review" not in detail

    standin.fail_next("GET", r"^/v1/payment_intents$")
    answer = post(client, f"{LIST}{payment_id}/complete", intent_id=own, confirm="yes")
    assert notices(answer)[0].startswith("Not completed: ")
    assert fresh(sessions, payment_id).status == S.AWAITING_CARD


def signed_in(app, sessions, role: str, office_id: int):
    """Another test client, signed in as a new user of that role and office."""
    c = app.test_client()
    with sessions() as s:
        user = factories.make_staff(s, role, office_id=office_id)
        s.commit()
        username = user.username
    assert login(c, username).status_code == 302
    return c


def test_who_may_and_what_is_not_there(
    app, client, login_as, sessions, session, world, two_charges
):
    payment_id, own, _ = two_charges
    login_as("cashier")
    assert client.get(LIST).status_code == 403
    assert client.get(f"{LIST}{payment_id}").status_code == 403
    assert "/finance/review/" not in client.get("/counter/").get_data(as_text=True)
    token = csrf_token(client, "/counter/")
    r = client.post(f"{LIST}{payment_id}/refund", data={"csrf_token": token, "intent_id": own})
    assert r.status_code == 403

    finance = signed_in(app, sessions, "finance", world.office.id)
    assert finance.get(f"{LIST}no-such-payment").status_code == 404
    token = csrf_token(finance, LIST)
    for action in ("complete", "refund", "close"):
        r = finance.post(
            f"{LIST}no-such-payment/{action}",
            data={"csrf_token": token, "intent_id": own, "confirm": "yes", "note": "x"},
        )
        assert r.status_code == 404, action
    r = finance.post(f"{LIST}{payment_id}/refund", data={"intent_id": own, "confirm": "yes"})
    assert r.status_code == 400  # no CSRF token: refused, nothing runs

    cash = service.create_payment(session, command(world, 700, tender("cash", 700))).payment
    session.commit()
    r = finance.get(f"{LIST}{cash.id}")  # never flagged: back to the list, with why
    assert r.status_code == 303
    assert "not waiting for review" in page(finance, r.headers["Location"])
    bad = post(finance, f"{LIST}{payment_id}/refund", intent_id="pi_not_ours", confirm="yes")
    assert "Not refunded: The processor has no such charge" in notices(bad)[0]

    with sessions() as s:
        elsewhere = factories.make_office(s, code="NB")
        s.commit()
        elsewhere_id = elsewhere.id
    stranger = signed_in(app, sessions, "finance", elsewhere_id)
    assert stranger.get(f"{LIST}{payment_id}").status_code == 404  # another office's payment
    assert payment_id not in page(stranger, LIST)
    assert fresh(sessions, payment_id).needs_review
    assert actions(sessions, payment_id)[-1] == "payment.needs_review"


def test_with_the_simulated_reader_of_the_demo_office(client, login_as, sessions, session, world):
    """The demo configuration: the card gateway lives in our own database."""
    from payments.simulated import SimulatedReader, set_test_card

    payment = card_payment(session, world, 5_000)
    set_test_card(session, "sim-1", "approve")
    reader = SimulatedReader(session)
    reader.start(CardRequest(payment.id, 4_000, "sim-1", {}))  # charged another amount
    reader.poll(payment.id, None, "sim-1")
    session.commit()
    session.close()
    report = recovery.sweep(sessions, SimulatedReader, now=utcnow())
    assert report.outcomes == {"needs_review": 1}

    login_as("supervisor")
    url = f"{LIST}{payment.id}"
    detail = page(client, url)
    assert "sim_pi_" in detail and "$40.00" in detail
    assert "Complete the payment with this charge" not in detail
    refunded = post(client, f"{url}/refund", intent_id=f"sim_pi_{payment.id}", confirm="yes")
    assert notices(refunded)[0].startswith("Refunded $40.00 to Visa ending 4242")
    closed = post(client, f"{url}/close", note="charged the wrong amount; refunded")
    assert "closed (canceled)" in notices(closed)[0]
    done = fresh(sessions, payment.id)
    assert done.status == S.CANCELED and not done.needs_review
