"""Counter account search, account page and payment entry, through the real pages (forms with
CSRF tokens) on SQLite and PostgreSQL. Receipts go to the outbox; nothing is mocked."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from sqlalchemy import func, select

from kiosk import accounts
from kiosk.auth import DEVICE_COOKIE
from kiosk.models import Account, ServiceRequest, Visit
from kiosk.stations import pair
from payments import drawer
from payments.audit import AuditEvent
from payments.db import utcnow
from payments.models import Payment
from payments.outbox import OutboxMessage
from tests import factories
from tests.conftest import csrf_token, login

_HIDDEN = re.compile(r'name="(csrf_token|idempotency_key)" value="([^"]*)"')


@pytest.fixture
def desk(app, sessions, office):
    """A test client at a paired counter station with a printer, a signed-in cashier and an
    open drawer; returns (client, station_id, cashier)."""
    with sessions() as s:
        station, code = factories.make_station(
            s, s.merge(office), "counter", name="Window 1", printer_url="preview://"
        )
        _, token = pair(s, code)
        cashier = factories.make_staff(s, "cashier", office_id=office.id)
        s.commit()
        station_id = station.id
    c = app.test_client()
    c.set_cookie(DEVICE_COOKIE, token)
    assert login(c, cashier.username).status_code == 302
    return c, station_id, cashier


def open_drawer(sessions, office, station_id, cashier) -> None:
    with sessions() as s:
        drawer.open_drawer(
            s,
            office_id=office.id,
            station_id=station_id,
            cashier_id=cashier.id,
            counts={"bill_20": 5},
            actor=cashier.username,
        )
        s.commit()


@pytest.fixture
def account(sessions):
    with sessions() as s:
        a = factories.make_account(
            s,
            number="40012345",
            name="MARIA GONZALEZ LOPEZ",
            phone="(714) 555-0142",
            house_number=1234,
            street_name="BRISTOL",
            balance_cents=8450,
            past_due_cents=2000,
        )
        old = factories.make_bill(s, a, 2000, due_date=dt.date(2026, 10, 15))
        new = factories.make_bill(s, a, 6450, due_date=dt.date(2026, 11, 15))
        s.commit()
        return {"number": a.number, "id": a.id, "bills": [old.number, new.number]}


def pay_form(client, number: str, **fields):
    """Post the account page's payment form as the browser would (its own hidden fields)."""
    html = client.get(f"/counter/accounts/{number}").get_data(as_text=True)
    data = dict(_HIDDEN.findall(html))
    data.update(fields)
    return client.post(f"/counter/accounts/{number}/pay", data=data)


def payments(sessions) -> list[Payment]:
    with sessions() as s:
        rows = s.scalars(select(Payment).order_by(Payment.created_at)).all()
        for p in rows:
            _ = p.tenders
        return rows


# -- search ------------------------------------------------------------------------------------


def test_search_by_each_key(desk, account, sessions):
    client = desk[0]
    with sessions() as s:
        factories.make_account(s, number="40099999", name="Mario Gonzaga", phone="7145550199")
        s.commit()
    scan = None
    with sessions() as s:
        from kiosk.models import Bill

        scan = s.scalar(select(Bill.scanline).where(Bill.number == account["bills"][1]))
    one = f"/counter/accounts/{account['number']}"
    for q, by in [
        ("40012345", "any"),
        ("1234 bristol", "any"),
        ("(714) 555-0142", "any"),
        ("714.555.0142", "phone"),
        ("555-0142", "phone"),
        ("gonzalez lopez", "name"),
        ("López", "any"),
    ]:
        response = client.get("/counter/accounts/", query_string={"q": q, "by": by})
        assert response.status_code == 303, (q, response.get_data(as_text=True)[:300])
        assert response.headers["Location"].startswith(one), q
    # The scanner types the scanline and Enter: straight to the account, that bill chosen.
    response = client.get("/counter/accounts/", query_string={"q": scan})
    assert response.headers["Location"] == f"{one}?bill={account['bills'][1]}"
    # Two matches: a list with unmasked names.
    page = client.get("/counter/accounts/", query_string={"q": "gonza"}).get_data(as_text=True)
    assert "MARIA GONZALEZ LOPEZ" in page and "Mario Gonzaga" in page and "2 accounts" in page


def test_name_and_phone_search_functions(session, office):
    factories.make_account(session, number="1", name="NGUYEN VAN AN", phone="714-555-0101")
    factories.make_account(session, number="2", name="Anh Nguyen", phone="6575550101")
    factories.make_account(session, number="3", name="ANA'S TACOS & MORE", phone=None)
    session.flush()
    numbers = lambda r: sorted(a.number for a in r.accounts)  # noqa: E731
    assert numbers(accounts.find_by_name(session, "nguyen")) == ["1", "2"]  # prefix and word
    assert numbers(accounts.find_by_name(session, "an")) == ["1", "2", "3"]
    assert numbers(accounts.find_by_name(session, "tacos &")) == ["3"]
    assert numbers(accounts.find_by_phone(session, "+1 (714) 555-0101")) == ["1"]
    assert numbers(accounts.find_by_phone(session, "5550101")) == ["1", "2"]  # 714 and 657
    for bad, code in [
        ("a", "too_short"),
        ("x" * 81, "too_long"),
        ("<script>", "bad_characters"),
        ("an%", "bad_characters"),
    ]:
        with pytest.raises(accounts.AccountLookupError) as err:
            accounts.find_by_name(session, bad)
        assert err.value.code == code
    with pytest.raises(accounts.AccountLookupError):
        accounts.find_by_phone(session, "55501")
    with pytest.raises(accounts.AccountLookupError):
        accounts.search_accounts(session, "x", by="shoe size")


def test_search_bad_input_says_so(desk, account):
    client = desk[0]
    for q in ["", "?!*", "12345678901234567890123"]:
        response = client.get("/counter/accounts/", query_string={"q": q})
        assert response.status_code == 400
        assert 'role="alert"' in response.get_data(as_text=True)
    page = client.get("/counter/accounts/", query_string={"q": "zzzz"}).get_data(as_text=True)
    assert "No account found" in page
    assert client.get("/counter/accounts/999").status_code == 404
    assert client.get("/counter/accounts/abc").status_code == 404


# -- account page ------------------------------------------------------------------------------


def test_account_page_shows_money_bills_history_requests_and_visits(
    desk, account, sessions, office
):
    client, station_id, cashier = desk
    with sessions() as s:
        s.add(
            ServiceRequest(
                reference="SR-1001",
                office_id=office.id,
                account_id=account["id"],
                kind="bulky_item",
                channel="kiosk",
                status="scheduled",
                scheduled_for=dt.date(2026, 12, 1),
            )
        )
        s.add(
            Visit(
                office_id=office.id,
                channel="kiosk",
                account_id=account["id"],
                reason_codes="billing.pay_bill",
                outcome_code="resolved",
                started_at=utcnow(),
            )
        )
        s.commit()
    open_drawer(sessions, office, station_id, cashier)
    assert pay_form(client, account["number"], amount="20.00", cash="20").status_code == 303
    page = client.get(f"/counter/accounts/{account['number']}").get_data(as_text=True)
    assert "MARIA GONZALEZ LOPEZ" in page and "(714) 555-0142" in page  # unmasked for staff
    assert "$64.50" in page  # balance after the payment
    assert "Past due" in page
    assert account["bills"][1] in page
    receipt = payments(sessions)[0].receipt_number
    assert receipt in page and "Counter" in page and "Cash $20.00" in page and "Paid" in page
    assert "SR-1001" in page and "Scheduled" in page and "2026-12-01" in page
    from kiosk import vocabulary

    assert vocabulary.label("billing.pay_bill") in page
    assert vocabulary.label("resolved") in page


# -- taking payments ---------------------------------------------------------------------------


def test_split_cash_and_check_with_change(desk, account, sessions, office):
    client, station_id, cashier = desk
    open_drawer(sessions, office, station_id, cashier)
    response = pay_form(
        client,
        account["number"],
        amount="84.50",
        cash="40",
        check="50.00",
        check_number="1042",
        check_bank="Wells Fargo",
    )
    # A check cannot be more than is owed when cash is also given... 50 <= 84.50 is fine.
    assert response.status_code == 303, response.get_data(as_text=True)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    [payment] = payments(sessions)
    assert payment.status == "succeeded" and payment.channel == "counter"
    assert payment.amount_cents == 8450 and payment.change_cents == 550
    assert sorted((t.kind, t.amount_cents, t.reference, t.bank) for t in payment.tenders) == [
        ("cash", 4000, None, None),
        ("check", 5000, "1042", "Wells Fargo"),
    ]
    assert payment.drawer_session_id is not None and payment.staff_user_id == cashier.id
    assert payment.receipt_number in page and "$5.50" in page  # receipt number, change due
    assert "Check #1042" in page or "1042" in page  # the receipt preview
    with sessions() as s:
        jobs = s.scalars(select(OutboxMessage).where(OutboxMessage.topic == "print")).all()
        assert [j.data["kick_drawer"] for j in jobs] == [True]  # cash opens the drawer
    # Reprint, marked REPRINT.
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    token = _HIDDEN.search(html).group(2)
    again = client.post(f"/counter/payments/{payment.id}/reprint", data={"csrf_token": token})
    assert again.status_code == 303
    with sessions() as s:
        jobs = s.scalars(
            select(OutboxMessage).where(OutboxMessage.topic == "print").order_by(OutboxMessage.id)
        ).all()
        assert len(jobs) == 2 and jobs[1].data["document"]["reprint"] is True
        assert not jobs[1].data["kick_drawer"]


def test_same_form_twice_is_one_payment(desk, account, sessions, office):
    client, station_id, cashier = desk
    open_drawer(sessions, office, station_id, cashier)
    html = client.get(f"/counter/accounts/{account['number']}").get_data(as_text=True)
    data = dict(_HIDDEN.findall(html)) | {"amount": "10", "cash": "10"}
    first = client.post(f"/counter/accounts/{account['number']}/pay", data=data)
    second = client.post(f"/counter/accounts/{account['number']}/pay", data=data)
    assert first.headers["Location"] == second.headers["Location"]
    assert len(payments(sessions)) == 1


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"amount": "-5", "cash": "10"}, "Amount to pay"),
        ({"amount": "abc", "cash": "10"}, "Amount to pay"),
        ({"amount": "10.001", "cash": "10"}, "Amount to pay"),
        ({"amount": "10"}, "Enter how the customer pays"),
        ({"amount": "50", "cash": "20"}, "less than"),
        ({"amount": "50", "check": "50"}, "Enter the check number"),
        ({"amount": "50", "check_number": "77"}, "amount of the check"),
        ({"amount": "50", "money_order": "60", "money_order_number": "9"}, "only cash gives"),
        ({"amount": "50", "cash": "ten"}, "Cash tendered"),
        ({"amount": "50", "bill": "nope", "cash": "50"}, "not a bill of this account"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(desk, account, sessions, office, fields, message):
    client, station_id, cashier = desk
    open_drawer(sessions, office, station_id, cashier)
    response = pay_form(client, account["number"], **fields)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert message in html, html[html.find("pay-error") : html.find("pay-error") + 400]
    assert payments(sessions) == []
    # What was typed is kept for the cashier to fix.
    assert f'value="{fields["amount"]}"' in html


def test_cash_without_open_drawer_says_so_and_links_to_drawer(desk, account, sessions, app):
    client = desk[0]
    response = pay_form(client, account["number"], amount="10", cash="10")
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "No cash drawer is open at this station" in html
    if "counter_drawer.index" in app.view_functions:
        assert 'href="/counter/drawer/"' in html
    assert payments(sessions) == []


def test_duplicate_warning_then_charge_anyway(desk, account, sessions, office):
    client, station_id, cashier = desk
    open_drawer(sessions, office, station_id, cashier)
    assert pay_form(client, account["number"], amount="20", cash="20").status_code == 303
    response = pay_form(client, account["number"], amount="20", cash="20")
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "made a few minutes ago" in html and "Charge anyway" in html
    assert len(payments(sessions)) == 1
    data = dict(_HIDDEN.findall(html)) | {"amount": "20", "cash": "20", "confirm_duplicate": "1"}
    again = client.post(f"/counter/accounts/{account['number']}/pay", data=data)
    assert again.status_code == 303
    assert len(payments(sessions)) == 2


def test_more_than_is_owed_is_checked_before_it_becomes_a_credit(desk, account, sessions, office):
    client, station_id, cashier = desk
    open_drawer(sessions, office, station_id, cashier)
    # 8450 owed; "12000" typed for "120.00"
    response = pay_form(client, account["number"], amount="12000", cash="12000")
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "$12,000.00 is $11,915.50 more than the $84.50 owed" in html
    assert 'name="credit_confirmed" value="1200000"' in html and payments(sessions) == []
    hidden = dict(_HIDDEN.findall(html))
    # A confirmation holds for the amount confirmed only.
    fixed = {**hidden, "amount": "120", "cash": "120", "credit_confirmed": "1200000"}
    again = client.post(f"/counter/accounts/{account['number']}/pay", data=fixed)
    assert again.status_code == 409 and "$35.50 more than the $84.50 owed" in again.get_data(
        as_text=True
    )
    assert payments(sessions) == []
    fixed["credit_confirmed"] = "12000"
    taken = client.post(f"/counter/accounts/{account['number']}/pay", data=fixed)
    assert taken.status_code == 303
    [payment] = payments(sessions)
    assert payment.amount_cents == 12000
    with sessions() as s:
        assert s.get(Account, account["id"]).balance_cents == -3550  # the credit


def test_over_limit_needs_a_supervisor(app, desk, account, sessions, office):
    client, station_id, cashier = desk
    app.config["PAYMENT_COUNTER_MAX_CENTS"] = 5000
    open_drawer(sessions, office, station_id, cashier)
    response = pay_form(client, account["number"], amount="84.50", cash="100")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "over the counter limit of $50.00" in html
    assert 'name="supervisor_username"' in html and 'name="supervisor_password"' in html
    assert payments(sessions) == []
    # The cashier's own password is no supervisor approval.
    fields = {"amount": "84.50", "cash": "100", "supervisor_username": cashier.username}
    response = pay_form(client, account["number"], **fields, supervisor_password="x")
    assert response.status_code == 400 and payments(sessions) == []
    with sessions() as s:
        sup = factories.make_staff(s, "supervisor", office_id=office.id)
        s.commit()
    fields["supervisor_username"] = sup.username
    response = pay_form(client, account["number"], **fields, supervisor_password="wrong")
    assert response.status_code == 400 and payments(sessions) == []
    response = pay_form(client, account["number"], **fields, supervisor_password=factories.PASSWORD)
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    [payment] = payments(sessions)
    assert payment.amount_cents == 8450 and payment.change_cents == 1550
    with sessions() as s:
        entry = s.scalar(
            select(AuditEvent).where(AuditEvent.action == "payment.over_limit_approved")
        )
        assert entry.actor == cashier.username
        assert json.loads(entry.details)["supervisor"] == sup.username
        approvals = s.scalars(
            select(AuditEvent.actor).where(AuditEvent.action == "override.approved")
        ).all()
        assert approvals == [sup.username]


def test_pay_one_bill_by_choice(desk, account, sessions, office):
    client, station_id, cashier = desk
    open_drawer(sessions, office, station_id, cashier)
    newest = account["bills"][1]
    html = client.get(f"/counter/accounts/{account['number']}?bill={newest}").get_data(as_text=True)
    assert 'value="64.50"' in html  # the amount field filled with that bill's open amount
    response = pay_form(client, account["number"], amount="", bill=newest, cash="70")
    assert response.status_code == 303
    [payment] = payments(sessions)
    assert payment.amount_cents == 6450 and payment.change_cents == 550
    with sessions() as s:
        from payments.models import PaymentAllocation

        allocated = s.execute(
            select(func.sum(PaymentAllocation.amount_cents)).where(
                PaymentAllocation.payment_id == payment.id
            )
        ).scalar()
        assert allocated == 6450


def test_card_payment_on_the_station_reader(desk, account, sessions, office):
    client, station_id, cashier = desk
    response = pay_form(client, account["number"], amount="84.50", card="84.50")
    assert response.status_code == 303
    [payment] = payments(sessions)
    assert payment.reader_id == f"simulated-{station_id}"
    assert payment.status in ("awaiting_card", "processing")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'id="card-status"' in page and "/api/v1/payments/" in page  # the script polls
    # The simulated reader decides when first asked: approved by default.
    page = client.get(response.headers["Location"] + "?check=1").get_data(as_text=True)
    assert "Payment taken" in page
    assert payments(sessions)[0].status == "succeeded"


def test_payment_page_of_another_office_is_not_found(desk, sessions):
    client = desk[0]
    assert client.get("/counter/payments/nope").status_code == 404
    token = csrf_token(client, "/counter/accounts/")
    assert (
        client.post("/counter/payments/nope/reprint", data={"csrf_token": token}).status_code == 404
    )


def test_card_payment_canceled_before_the_card_is_read(desk, account, sessions):
    client = desk[0]
    response = pay_form(client, account["number"], amount="84.50", card="84.50")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    token = _HIDDEN.search(page).group(2)
    [payment] = payments(sessions)
    canceled = client.post(f"/counter/payments/{payment.id}/cancel", data={"csrf_token": token})
    assert canceled.status_code == 303
    assert payments(sessions)[0].status == "canceled"
    page = client.get(canceled.headers["Location"]).get_data(as_text=True)
    assert "Payment not taken" in page and "No money was taken" in page


def test_drawer_tenders_need_a_counter_station(app, sessions, office, account):
    """A signed-in cashier away from any station cannot take drawer tenders."""
    client = app.test_client()
    with sessions() as s:
        user = factories.make_staff(s, "cashier", office_id=office.id)
        s.commit()
    assert login(client, user.username).status_code == 302
    response = pay_form(
        client, account["number"], amount="84.50", money_order="80", money_order_number="M-1"
    )
    assert response.status_code == 400
    assert "not a counter station" in response.get_data(as_text=True)
    assert payments(sessions) == []


# -- the visit gets the account (issue #6) ------------------------------------------------------


def _walk_in(sessions, office, station_id, cashier) -> str:
    from kiosk import queue

    with sessions() as s:
        who = queue.Counter(office.id, station_id, cashier.id, cashier.username)
        visit_id = queue.walk_in(s, who, reasons=["billing.pay_bill"]).visit.id
        s.commit()
    return visit_id


def test_the_open_visit_gets_the_account_opened_then_the_account_paid(
    desk, account, sessions, office
):
    from kiosk import queue
    from kiosk.cis.records import CIS_VISIT_TOPIC

    client, station_id, cashier = desk
    open_drawer(sessions, office, station_id, cashier)
    with sessions() as s:
        other = factories.make_account(s, number="40099999", name="JOHN SMITH")
        s.commit()
        other_id = other.id
    visit_id = _walk_in(sessions, office, station_id, cashier)

    # Opening an account page names it; opening a second one does not replace it.
    assert client.get(f"/counter/accounts/{account['number']}").status_code == 200
    client.get("/counter/accounts/40099999")
    with sessions() as s:
        assert s.get(Visit, visit_id).account_id == account["id"]

    # Taking a payment names the account paid.
    assert pay_form(client, "40099999", amount="10", cash="10").status_code == 303
    with sessions() as s:
        assert s.get(Visit, visit_id).account_id == other_id
        who = queue.Counter(office.id, station_id, cashier.id, cashier.username)
        queue.finish(s, who, visit_id, reasons=["billing.pay_bill"], outcome="resolved")
        s.commit()
        [record] = [
            m.data
            for m in s.scalars(select(OutboxMessage).where(OutboxMessage.topic == CIS_VISIT_TOPIC))
        ]
    assert record["account_number"] == "40099999"
    # The visit shows on the account's past visits.
    page = client.get("/counter/accounts/40099999").get_data(as_text=True)
    visits_card = page.split('id="visits-heading"')[1]
    assert "No visits recorded." not in visits_card and "Counter" in visits_card
    # With no open visit, opening or paying changes no visit.
    assert pay_form(client, account["number"], amount="5", cash="5").status_code == 303
    with sessions() as s:
        assert s.get(Visit, visit_id).account_id == other_id


def test_no_visit_open_means_nothing_is_noted(desk, account, sessions):
    client, station_id, _ = desk
    assert client.get(f"/counter/accounts/{account['number']}").status_code == 200
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Visit)) == 0


def test_another_stations_visit_is_not_touched(desk, account, sessions, office):
    client, _, _ = desk
    with sessions() as s:
        station, _code = factories.make_station(s, s.merge(office), "counter", name="Window 2")
        other = factories.make_staff(s, "cashier", office_id=office.id)
        s.commit()
        station_id, other_cashier = station.id, other
    visit_id = _walk_in(sessions, office, station_id, other_cashier)
    client.get(f"/counter/accounts/{account['number']}")
    with sessions() as s:
        assert s.get(Visit, visit_id).account_id is None
