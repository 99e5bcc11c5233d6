"""Navigation between staff pages: the finance links, the admin's audit link, the counter hub's
PIN and measures links; each role sees only the links it may follow."""

from __future__ import annotations

import re

import pytest

FINANCE_LINKS = {
    "/finance/": "Overview",
    "/finance/reconciliation/": "Card reconciliation",
    "/finance/deposit": "Deposit slip",
    "/finance/postings": "CIS posting batches",
    "/finance/measures": "Performance measures",
    "/finance/audit": "Audit log",
    "/finance/review/": "Review",
}


def _nav(page: str) -> dict[str, str]:
    found = re.search(r'<nav class="finance-nav".*?</nav>', page, re.S)
    assert found, "no finance navigation on the page"
    return dict(re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', found.group(0)))


@pytest.mark.parametrize(
    "path",
    [
        "/finance/",
        "/finance/reconciliation/",
        "/finance/deposit",
        "/finance/postings",
        "/finance/measures",
        "/finance/audit",
        "/finance/review/",
    ],
)
def test_every_finance_page_links_every_finance_page(client, login_as, path):
    login_as("finance")
    response = client.get(path)
    assert response.status_code == 200
    links = _nav(response.get_data(as_text=True))
    assert FINANCE_LINKS.items() <= links.items()
    for href in links:  # every link in the bar, also ones other pages add
        assert client.get(href).status_code == 200, href


def test_supervisor_sees_only_the_measures_and_review_links(client, login_as):
    login_as("supervisor")
    page = client.get("/finance/measures").get_data(as_text=True)
    assert _nav(page) == {
        "/finance/review/": "Review",
        "/finance/measures": "Performance measures",
    }


def test_admin_page_links_the_audit_viewer(client, login_as):
    login_as("admin")
    page = client.get("/admin/").get_data(as_text=True)
    assert 'href="/finance/audit"' in page
    assert 'href="/finance/audit/verify"' in page
    audit = client.get("/finance/audit")
    assert audit.status_code == 200
    assert _nav(audit.get_data(as_text=True)) == {
        "/finance/measures": "Performance measures",
        "/finance/audit": "Audit log",
    }


def test_counter_hub_links_the_pin_page_and_for_supervisors_the_measures(client, login_as):
    login_as("cashier")
    page = client.get("/counter/").get_data(as_text=True)
    assert 'href="/counter/pin"' in page
    assert 'href="/finance/measures"' not in page
    assert client.get("/counter/pin").status_code == 200


def test_supervisor_hub_links_the_measures(client, login_as):
    login_as("supervisor")
    page = client.get("/counter/").get_data(as_text=True)
    assert 'href="/counter/pin"' in page
    assert 'href="/finance/measures"' in page
    assert client.get("/finance/measures").status_code == 200
