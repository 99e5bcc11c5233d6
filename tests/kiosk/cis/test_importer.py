"""``payoffice cis import-accounts``: good files upsert, bad files are refused whole."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from hardware import scanline
from kiosk.cis.cli import cis_group
from kiosk.cis.importer import COLUMNS, ImportRefused, import_accounts, scanline_for
from kiosk.models import Account, Bill
from payments.audit import AuditEvent


def row(**kw) -> dict:
    base = {
        "account_number": "1000001",
        "account_kind": "residential",
        "name": "MARIA GONZALEZ",
        "house_number": "1204",
        "street_dir": "N",
        "street_name": "BRISTOL",
        "street_suffix": "ST",
        "unit": "",
        "city": "SANTA ANA",
        "zip_code": "92703",
        "phone": "7145550142",
        "email": "maria@example.com",
        "pickup_day": "tuesday",
        "services": "trash 96 gal; recycling 96 gal",
        "balance_cents": "8450",
        "past_due_cents": "0",
        "last_payment_cents": "4225",
        "last_payment_date": "2026-10-20",
        "bill_number": "2611000001",
        "bill_period_start": "2026-10-01",
        "bill_period_end": "2026-10-31",
        "bill_due_date": "2026-11-25",
        "bill_amount_cents": "8450",
        "bill_open_cents": "8450",
        "scanline": "",
    }
    base.update(kw)
    return base


def write(path, rows, columns=COLUMNS):
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(columns), extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return path


def good_rows():
    return [
        row(),
        # messy but valid: lower case, extra spaces, formatted phone, given scanline
        row(
            account_number="1000002",
            account_kind="Commercial",
            name="  TAQUERIA EL SOL  ",
            house_number="310",
            street_dir="w",
            street_name="  first   st ",
            street_suffix="",
            unit="ste 4",
            city="",
            phone="(714) 555-0199",
            email="",
            pickup_day="Friday",
            balance_cents="-1500",
            last_payment_cents="",
            last_payment_date="",
            bill_number="2611000002",
            bill_amount_cents="0",
            bill_open_cents="0",
            scanline=" ".join(
                scanline.compose("1000002", "2611000002", 0)[i : i + 10] for i in (0, 10, 20)
            ),
        ),
        # an account with two open bills (two consecutive rows)
        row(
            account_number="1000003",
            balance_cents="12000",
            past_due_cents="4000",
            bill_number="2610000003",
            bill_period_start="2026-09-01",
            bill_period_end="2026-09-30",
            bill_due_date="2026-10-25",
            bill_amount_cents="4000",
            bill_open_cents="4000",
        ),
        row(
            account_number="1000003",
            balance_cents="12000",
            past_due_cents="4000",
            bill_number="2611000003",
            bill_amount_cents="8000",
            bill_open_cents="8000",
        ),
        # an account with no open bill
        row(
            account_number="1000004",
            balance_cents="0",
            bill_number="",
            bill_period_start="",
            bill_period_end="",
            bill_due_date="",
            bill_amount_cents="",
            bill_open_cents="",
        ),
    ]


def counts(session):
    return (
        session.scalar(select(func.count()).select_from(Account)),
        session.scalar(select(func.count()).select_from(Bill)),
    )


def test_good_file_imports_accounts_and_bills(session, tmp_path):
    path = write(tmp_path / "accounts.csv", good_rows())
    result = import_accounts(session, path, actor="tester")
    session.commit()
    assert (result.rows, result.accounts, result.bills) == (5, 4, 4)
    assert (result.accounts_new, result.bills_new) == (4, 4)
    assert counts(session) == (4, 4)

    a = session.scalar(select(Account).where(Account.number == "1000001"))
    assert (a.kind, a.name, a.house_number, a.street_dir, a.street_name) == (
        "residential",
        "MARIA GONZALEZ",
        1204,
        "N",
        "BRISTOL",
    )
    assert a.service_address == "1204 N BRISTOL ST"
    assert (a.balance_cents, a.past_due_cents, a.pickup_day) == (8450, 0, "tuesday")
    assert (a.last_payment_cents, a.last_payment_date) == (4225, dt.date(2026, 10, 20))
    assert a.phone == "7145550142" and a.email == "maria@example.com"
    assert a.cis_updated_at is not None and a.cis_updated_at.tzinfo is not None

    b = session.scalar(select(Account).where(Account.number == "1000002"))
    assert (b.kind, b.name, b.street_dir, b.street_name, b.street_suffix, b.unit) == (
        "commercial",
        "TAQUERIA EL SOL",
        "W",
        "FIRST ST",
        None,
        "STE 4",
    )
    assert (b.city, b.phone, b.email, b.pickup_day, b.balance_cents) == (
        "SANTA ANA",
        "7145550199",
        None,
        "friday",
        -1500,
    )
    assert [
        x.number for x in session.scalar(select(Account).where(Account.number == "1000003")).bills
    ] == [
        "2610000003",
        "2611000003",
    ]
    for bill in session.scalars(select(Bill)):
        parsed = scanline.parse(bill.scanline)
        account = session.get(Account, bill.account_id)
        assert (parsed.account_number, parsed.bill_number, parsed.amount_cents) == (
            account.number,
            bill.number,
            bill.amount_cents,
        )
    bill = session.scalar(select(Bill).where(Bill.number == "2611000001"))
    assert (bill.due_date, bill.amount_cents, bill.open_cents) == (
        dt.date(2026, 11, 25),
        8450,
        8450,
    )

    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "cis.accounts_imported"))
    details = json.loads(event.details)
    assert event.actor == "tester"
    assert details["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert details["accounts"] == 4 and details["bills"] == 4


def index_names(session) -> set[str]:
    from sqlalchemy import inspect

    insp = inspect(session.connection())
    return {i["name"] for t in ("accounts", "bills") for i in insp.get_indexes(t)}


@pytest.mark.parametrize("rebuild_indexes", [False, True], ids=["row-by-row", "rebuild"])
def test_second_import_updates_in_place(session, tmp_path, monkeypatch, rebuild_indexes):
    if rebuild_indexes:  # the big-file path: plain indexes dropped and built again
        monkeypatch.setattr("kiosk.cis.importer.REBUILD_INDEXES_BYTES", 0)
    indexes = index_names(session)
    import_accounts(session, write(tmp_path / "one.csv", good_rows()))
    session.commit()
    first_id = session.scalar(select(Account.id).where(Account.number == "1000001"))

    rows = good_rows()
    rows[0].update(balance_cents="1000", bill_amount_cents="9000", bill_open_cents="1000")
    del rows[2]  # bill 2610000003 is no longer open at the CIS
    rows[2]["balance_cents"] = "8000"
    rows[2]["past_due_cents"] = "0"
    rows.append(row(account_number="1000005", bill_number="2611000005", name="NEW NEIGHBOR"))
    result = import_accounts(session, write(tmp_path / "two.csv", rows))
    session.commit()
    session.expire_all()

    assert (result.accounts_new, result.accounts_updated) == (1, 4)
    assert (result.bills_new, result.bills_updated, result.bills_closed) == (1, 3, 1)
    assert counts(session) == (5, 5)
    a = session.scalar(select(Account).where(Account.number == "1000001"))
    assert a.id == first_id and a.balance_cents == 1000
    bill = session.scalar(select(Bill).where(Bill.number == "2611000001"))
    assert (bill.amount_cents, bill.open_cents) == (9000, 1000)
    assert bill.scanline == scanline.compose("1000001", "2611000001", 9000)
    closed = session.scalar(select(Bill).where(Bill.number == "2610000003"))
    assert closed.open_cents == 0
    assert session.scalar(select(func.count()).select_from(AuditEvent)) == 2
    assert index_names(session) == indexes and "ix_accounts_street_house" in indexes


def bad_rows():
    return [
        row(),  # line 2: fine
        row(account_number="01234", bill_number="2611000010"),  # line 3: leading zero
        row(account_number="1000011", balance_cents="12.50", bill_number="2611000011"),  # 4
        row(account_number="1000012", pickup_day="sunday", bill_number="2611000012"),  # 5
        row(account_number="1000013", bill_due_date="2026-02-30", bill_number="2611000013"),  # 6
        row(account_number="1000014", bill_number="2611000001"),  # 7: bill already on line 2
        row(  # 8: a scanline with a wrong check digit
            account_number="1000015",
            bill_number="2611000015",
            scanline=scanline.compose("1000015", "2611000015", 8450)[:-1] + "0"
            if scanline.compose("1000015", "2611000015", 8450)[-1] != "0"
            else scanline.compose("1000015", "2611000015", 8450)[:-1] + "1",
        ),
        row(  # 9: a valid scanline for another amount
            account_number="1000016",
            bill_number="2611000016",
            scanline=scanline.compose("1000016", "2611000016", 100),
        ),
        row(account_number="1000017", bill_number="2611000017", bill_open_cents="9999"),  # 10
        row(account_number="1000018", name="", bill_number="2611000018"),  # 11
        row(account_number="1000001", bill_number="2611000019"),  # 12: not next to line 2
        row(account_number="1000020", kind="x", house_number="12A", bill_number="2611000020"),
    ]


def test_bad_file_is_refused_whole_with_line_numbers(session, tmp_path):
    path = write(tmp_path / "bad.csv", bad_rows())
    with pytest.raises(ImportRefused) as info:
        import_accounts(session, path)
    found = {(e.line, e.column) for e in info.value.errors}
    assert (3, "account_number") in found
    assert (4, "balance_cents") in found
    assert (5, "pickup_day") in found
    assert (6, "bill_due_date") in found
    assert (7, "bill_number") in found
    assert (8, "scanline") in found
    assert (9, "scanline") in found
    assert (10, "bill_open_cents") in found
    assert (11, "name") in found
    assert (12, "account_number") in found
    assert (13, "house_number") in found
    assert 2 not in {e.line for e in info.value.errors}
    messages = {(e.line, e.column): e.message for e in info.value.errors}
    assert "check digit" in messages[(8, "scanline")]
    assert "does not match" in messages[(9, "scanline")]
    assert "line 2" in messages[(7, "bill_number")]
    assert counts(session) == (0, 0)
    assert session.scalar(select(func.count()).select_from(AuditEvent)) == 0


def test_bad_file_leaves_existing_data_unchanged(session, tmp_path, monkeypatch):
    import_accounts(session, write(tmp_path / "one.csv", good_rows()))
    session.commit()
    # write in chunks of one row, so rows before the bad one are already written when it
    # is found: they must be rolled back
    monkeypatch.setattr("kiosk.cis.importer.CHUNK", 1)
    monkeypatch.setattr("kiosk.cis.importer.REBUILD_INDEXES_BYTES", 0)
    indexes = index_names(session)
    rows = good_rows()
    rows[0]["balance_cents"] = "1"  # would change if imported
    rows[3]["bill_amount_cents"] = "-5"
    with pytest.raises(ImportRefused) as info:
        import_accounts(session, write(tmp_path / "two.csv", rows))
    assert [(e.line, e.column) for e in info.value.errors] == [(5, "bill_amount_cents")]
    session.expire_all()
    a = session.scalar(select(Account).where(Account.number == "1000001"))
    assert a.balance_cents == 8450
    assert counts(session) == (4, 4)
    assert index_names(session) == indexes


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "empty"),
        (",".join(COLUMNS) + "\n", "no rows"),
        (",".join(COLUMNS[:-1]) + "\n", "missing column(s): scanline"),
        (",".join(COLUMNS) + ",colour\n", "unknown column"),
    ],
)
def test_bad_headers(session, tmp_path, content, expected):
    path = tmp_path / "h.csv"
    path.write_text(content)
    with pytest.raises(ImportRefused) as info:
        import_accounts(session, path)
    assert expected in str(info.value.errors[0])


def test_short_row_and_non_utf8(session, tmp_path):
    path = tmp_path / "short.csv"
    path.write_text(",".join(COLUMNS) + "\n1000001,residential\n")
    with pytest.raises(ImportRefused) as info:
        import_accounts(session, path)
    assert info.value.errors[0].line == 2 and "fields" in info.value.errors[0].message
    path.write_bytes((",".join(COLUMNS) + "\n").encode() + b"\xff\xfe,bad\n")
    with pytest.raises(ImportRefused) as info:
        import_accounts(session, path)
    assert "UTF-8" in info.value.errors[0].message


def test_columns_in_any_order(session, tmp_path):
    path = write(tmp_path / "rev.csv", [row()], columns=list(reversed(COLUMNS)))
    assert import_accounts(session, path).accounts == 1


def test_clean_and_messy_rows_import_the_same(session, tmp_path):
    """The one-regex fast path and the field-by-field path agree."""
    clean = row(unit="APT 2", email="", last_payment_cents="", last_payment_date="")
    messy = dict(
        clean,
        account_kind=" RESIDENTIAL",
        street_name="bristol",
        unit="apt  2",
        pickup_day="TUESDAY ",
        phone="714-555-0142",
    )
    import_accounts(session, write(tmp_path / "a.csv", [clean]))
    session.commit()
    cols = [c for c in Account.__table__.c if c.name not in ("id", "cis_updated_at")]
    first = session.execute(select(*cols)).one()
    session.execute(Bill.__table__.delete())
    session.execute(Account.__table__.delete())
    session.commit()
    import_accounts(session, write(tmp_path / "b.csv", [messy]))
    session.commit()
    assert session.execute(select(*cols)).one() == first


def test_cli_refuses_bad_file_with_exit_status(app, tmp_path, sessions):
    rows = [row(account_number=f"{2000000 + i}", bill_number=f"{3000000 + i}") for i in range(60)]
    for r in rows:
        r["pickup_day"] = "someday"
    runner = app.test_cli_runner()
    result = runner.invoke(cis_group, ["import-accounts", str(write(tmp_path / "bad.csv", rows))])
    assert result.exit_code == 1
    assert "line 2, pickup_day" in result.output
    assert "... and 10 more" in result.output
    assert "REFUSED: 60 problem(s)" in result.output and "nothing was imported" in result.output
    with sessions() as s:
        assert counts(s) == (0, 0)


def test_cli_imports_good_file(app, tmp_path, sessions):
    runner = app.test_cli_runner()
    path = write(tmp_path / "good.csv", good_rows())
    result = runner.invoke(cis_group, ["import-accounts", str(path)])
    assert result.exit_code == 0, result.output
    assert "4 accounts (4 new, 0 updated)" in result.output
    with sessions() as s:
        assert counts(s) == (4, 4)


@given(st.integers(1, 9_999_999_999), st.integers(1, 9_999_999_999), st.integers(0, 999_999_999))
def test_fast_scanline_matches_hardware_scanline(account, bill, amount):
    assert scanline_for(str(account), str(bill), amount) == scanline.compose(
        str(account), str(bill), amount
    )


def test_the_example_in_docs_imports(session, tmp_path):
    from kiosk.config import REPO_ROOT

    doc = (REPO_ROOT / "docs" / "cis.md").read_text()
    example = doc.split("```csv\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "example.csv"
    path.write_text(example)
    result = import_accounts(session, path)
    assert (result.accounts, result.bills) == (3, 3)
    assert session.scalar(select(Account.phone).where(Account.number == "1000004")) == (
        "7145550199"
    )


def test_database_refusal_rolls_everything_back(session, tmp_path):
    """A scanline already held by another bill breaks a unique constraint mid-import: the
    file is refused and nothing stays behind."""
    from tests import factories

    other = factories.make_account(session, number="1999999")
    factories.make_bill(
        session,
        other,
        number="5",
        amount_cents=8450,
        scanline=scanline.compose("1000001", "2611000001", 8450),
    )
    session.commit()
    with pytest.raises(ImportRefused) as info:
        import_accounts(session, write(tmp_path / "clash.csv", good_rows()))
    assert str(info.value.errors[0]).startswith("file: the database refused the data")
    assert counts(session) == (1, 1)
    assert session.scalar(select(func.count()).select_from(AuditEvent)) == 0


def test_cis_status_lists_failing_deliveries(app, sessions):
    from payments import outbox
    from payments.outbox import OutboxMessage

    with sessions.begin() as s:
        outbox.enqueue(s, "cis.payment", "p1", {"record_id": "p1"})
        outbox.enqueue(s, "cis.visit", "v1", {"record_id": "v1"})
    with sessions.begin() as s:
        s.query(OutboxMessage).filter_by(key="p1").update(
            {"last_error": "CisRefused: REFUSED by CIS: HTTP 422", "attempts": 3}
        )
    result = app.test_cli_runner().invoke(cis_group, ["status"])
    assert result.exit_code == 0, result.output
    assert "cis.payment" in result.output and "cis.visit" in result.output
    assert "failing: cis.payment p1 attempts=3: CisRefused: REFUSED by CIS: HTTP 422" in (
        result.output
    )


@given(st.integers(1, 9_999_999_999), st.integers(1, 9_999_999_999), st.integers(0, 999_999_999))
def test_fast_path_scanline_matches_hardware_scanline(account, bill, amount):
    from kiosk.cis.importer import _Checker

    fields = row(
        account_number=str(account),
        bill_number=str(bill),
        bill_amount_cents=str(amount),
        bill_open_cents=str(amount),
    )
    checked = _Checker(5).fast(tuple(fields[c] for c in COLUMNS))
    assert checked is not None
    assert checked[1][-1] == scanline.compose(str(account), str(bill), amount)
