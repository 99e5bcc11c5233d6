"""The importer reads plain files (no quotes) line by line and others with the csv module; both
give the same accounts, bills and errors. A first import into empty tables gives the ids
itself; later imports upsert."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from kiosk.cis.importer import COLUMNS, ImportRefused, _digest, import_accounts
from kiosk.models import Account, Bill
from tests.kiosk.cis.test_importer import good_rows, row, write


def _snapshot(session):
    accounts = session.execute(
        select(
            Account.number, Account.name, Account.street_name, Account.unit, Account.phone
        ).order_by(Account.number)
    ).all()
    bills = session.execute(
        select(Bill.number, Account.number, Bill.open_cents, Bill.scanline)
        .join(Account, Bill.account_id == Account.id)
        .order_by(Bill.number)
    ).all()
    return accounts, bills


@pytest.mark.parametrize("quoted", [False, True])
def test_plain_and_quoted_files_import_alike(session, tmp_path, quoted):
    rows = good_rows()
    if quoted:  # a comma in a name makes the csv module quote it
        rows[0] = {**rows[0], "name": "GONZALEZ, MARIA"}
    path = write(tmp_path / "a.csv", rows)
    assert _digest(path)[1] is not quoted
    import_accounts(session, path)
    session.commit()
    accounts, bills = _snapshot(session)
    assert len(accounts) == len({r["account_number"] for r in rows})
    assert len(bills) == len({r["bill_number"] for r in rows if r["bill_number"]})
    names = {a.number: a.name for a in accounts}
    assert names["1000001"] == ("GONZALEZ, MARIA" if quoted else "MARIA GONZALEZ")


def test_crlf_file_is_plain_and_a_bad_line_is_named(session, tmp_path):
    path = write(
        tmp_path / "a.csv",
        [row(), row(account_number="1000002", bill_number="2611000002", house_number="x")],
    )
    path.write_bytes(path.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    assert _digest(path)[1] is True
    with pytest.raises(ImportRefused) as refused:
        import_accounts(session, path)
    assert [(e.line, e.column) for e in refused.value.errors] == [(3, "house_number")]
    assert session.scalar(select(Account.id)) is None


def test_second_import_updates_what_the_first_created(session, tmp_path):
    first = write(tmp_path / "a.csv", good_rows())
    import_accounts(session, first)  # empty tables: ids given by the importer
    session.commit()
    before = {a.number: a.id for a in session.scalars(select(Account))}
    changed = [{**r, "name": "RENAMED"} for r in good_rows()]
    import_accounts(session, write(tmp_path / "b.csv", changed))
    session.commit()
    after = {a.number: (a.id, a.name) for a in session.scalars(select(Account))}
    assert {n: i for n, (i, _) in after.items()} == before
    assert {name for _, name in after.values()} == {"RENAMED"}
    for bill in session.scalars(select(Bill)):
        assert bill.account_id in before.values()


def test_columns_in_another_order(session, tmp_path):
    columns = list(reversed(COLUMNS))
    import_accounts(session, write(tmp_path / "a.csv", good_rows(), columns=columns))
    session.commit()
    assert session.scalar(select(Account.name).where(Account.number == "1000001"))


@pytest.mark.parametrize("block", [1, 2, 3, 7, 64])
def test_crlf_split_across_read_blocks_is_still_plain(tmp_path, monkeypatch, block):
    monkeypatch.setattr("kiosk.cis.importer.DIGEST_BLOCK", block)
    path = tmp_path / "a.csv"
    path.write_bytes(b"a,b\r\nc,d\r\n")
    assert _digest(path)[1] is True
    path.write_bytes(b"a,b\rc,d\r\n")  # a bare CR: the csv module decides
    assert _digest(path)[1] is False
    path.write_bytes(b"a,b\r\nc,d\r")
    assert _digest(path)[1] is False
