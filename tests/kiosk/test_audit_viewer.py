"""The audit viewer (/finance/audit): finance and admin read the log filtered by date range,
action, actor and subject, a page at a time; "Verify chain" reports an intact chain, or names
the first broken entry after someone with database-owner rights edits a row."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select, text

from payments import audit
from payments.audit import APPEND_ONLY_DDL
from payments.db import business_date


def _append(sessions, n: int, **kw) -> None:
    with sessions.begin() as s:
        for i in range(n):
            audit.record(
                s,
                kw.get("action", "drawer.opened"),
                actor=kw.get("actor", f"cashier{i % 3}"),
                entity=kw.get("entity", "drawer"),
                entity_id=kw.get("entity_id", i + 1),
                details={"i": i},
            )


def _rows(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'<tr id="seq-(\d+)"', html)]


@pytest.fixture
def unguarded(engine):
    """Drop the append-only triggers (as a database owner could), restore them afterwards."""
    dialect = engine.dialect.name
    drop = {
        "sqlite": ["DROP TRIGGER audit_events_no_update", "DROP TRIGGER audit_events_no_delete"],
        "postgresql": ["DROP TRIGGER audit_events_no_change ON audit_events"],
    }[dialect]
    with engine.begin() as conn:
        for sql in drop:
            conn.execute(text(sql))
    yield engine
    with engine.begin() as conn:
        for sql in APPEND_ONLY_DDL[dialect]:
            conn.execute(text(sql))


def _count(sessions) -> int:
    with sessions() as s:
        return s.scalar(select(func.count()).select_from(audit.AuditEvent))


def test_filters_and_pages(client, sessions, login_as):
    login_as("finance")  # making the user and signing in are audited too
    base = _count(sessions)
    _append(sessions, 60)
    _append(sessions, 2, action="deposit.prepared", actor="Dana", entity="deposit", entity_id=7)
    top = base + 62
    page = client.get("/finance/audit")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert f"{top} entries" in html and "page 1 of 2" in html
    assert _rows(html) == list(range(top, top - 50, -1))  # newest first, 50 a page
    older = client.get("/finance/audit?page=2").get_data(as_text=True)
    assert _rows(older) == list(range(top - 50, 0, -1)) and 'rel="prev"' in older

    deposits = [top, top - 1]
    assert _rows(client.get("/finance/audit?action=deposit.prepared").get_data(as_text=True)) == (
        deposits
    )
    assert _rows(client.get("/finance/audit?action=deposit.").get_data(as_text=True)) == deposits
    assert _rows(client.get("/finance/audit?actor=dana").get_data(as_text=True)) == deposits
    assert _rows(client.get("/finance/audit?subject=deposit:7").get_data(as_text=True)) == (
        deposits
    )
    assert _rows(client.get("/finance/audit?subject=5").get_data(as_text=True)) == [base + 5]
    today = business_date()
    assert f"{top} entries" in client.get(
        f"/finance/audit?from={today.isoformat()}&to={today.isoformat()}"
    ).get_data(as_text=True)
    tomorrow = (today + dt.timedelta(days=1)).isoformat()
    assert "No entries match" in client.get(f"/finance/audit?from={tomorrow}").get_data(
        as_text=True
    )
    # the next page keeps the filters
    first = client.get("/finance/audit?subject=drawer").get_data(as_text=True)
    assert len(_rows(first)) == 50
    link = re.search(r'href="([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    assert "subject=drawer" in link and "page=2" in link
    assert _rows(client.get(link).get_data(as_text=True)) == list(range(base + 10, base, -1))


def test_bad_filters_get_a_clear_message(client, sessions, login_as):
    login_as("admin")
    for query in [
        "from=2026-02-30",
        "from=yesterday",
        "from=2026-11-20&to=2026-11-01",
        "page=0",
        "page=abc",
        "actor=" + "x" * 200,
    ]:
        page = client.get(f"/finance/audit?{query}")
        assert page.status_code == 400, query
        assert 'class="error"' in page.get_data(as_text=True)


def test_verify_chain_intact(client, sessions, login_as):
    login_as("admin")
    _append(sessions, 5)
    html = client.get("/finance/audit/verify").get_data(as_text=True)
    assert "Audit chain intact" in html and f"All {_count(sessions)} entries" in html


def test_a_tampered_row_is_named(client, sessions, login_as, unguarded):
    login_as("finance")
    _append(sessions, 70)
    assert _count(sessions) > 60  # entry 9 is on the second page
    with unguarded.begin() as conn:
        conn.execute(
            text("UPDATE audit_events SET details = :d WHERE seq = 9"), {"d": '{"cents": 1}'}
        )
    page = client.get("/finance/audit/verify")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Audit chain BROKEN at entry 9" in html
    assert "entry was altered after it was written" in html
    assert "The 8 entries before it are proven intact" in html
    # the link leads to the page that shows entry 9
    link = re.search(r'href="([^"]+#seq-9)"', html).group(1).replace("&amp;", "&")
    assert 9 in _rows(client.get(link).get_data(as_text=True))


def test_a_removed_newest_entry_is_named(client, sessions, login_as, unguarded):
    login_as("finance")
    _append(sessions, 4)
    last = _count(sessions)
    with unguarded.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE seq = :s"), {"s": last})
    html = client.get("/finance/audit/verify").get_data(as_text=True)
    assert f"BROKEN at entry {last}" in html and "removed" in html
