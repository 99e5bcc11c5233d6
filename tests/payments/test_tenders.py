"""Tender math: change from cash only, the invariant, and every refused tender set."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payments.service import TenderInput, ValidationError, tender_change
from tests.payments.conftest import tender


def test_exact_cash_gives_no_change():
    assert tender_change(8450, [tender("cash", 8450)]) == 0


def test_cash_over_gives_change():
    assert tender_change(8450, [tender("cash", 10000)]) == 1550


def test_split_check_and_cash_change_comes_from_cash():
    assert tender_change(10000, [tender("check", 8000), tender("cash", 3000)]) == 1000


def test_split_card_money_order_exact():
    tenders = [tender("card", 5000), tender("money_order", 2500), tender("cash", 2500)]
    assert tender_change(10000, tenders) == 0


@pytest.mark.parametrize(
    ("tenders", "code"),
    [
        ([], "no_tenders"),
        ([TenderInput("bitcoin", 100)], "bad_tender_kind"),
        ([TenderInput("cash", 0)], "bad_tender_amount"),
        ([TenderInput("cash", -5)], "bad_tender_amount"),
        ([TenderInput("cash", True)], "bad_tender_amount"),
        ([TenderInput("cash", 10.0)], "bad_tender_amount"),
        ([TenderInput("check", 1000)], "reference_required"),
        ([TenderInput("check", 1000, "   ")], "reference_required"),
        ([TenderInput("money_order", 1000)], "reference_required"),
        ([TenderInput("check", 1000, "x" * 65)], "reference_too_long"),
        ([tender("card", 500), tender("card", 500)], "one_card_only"),
        ([tender("check", 1001)], "non_cash_exceeds_due"),
        ([tender("card", 1001)], "non_cash_exceeds_due"),
        ([tender("card", 600), tender("money_order", 600)], "non_cash_exceeds_due"),
        ([tender("cash", 999)], "tenders_short"),
        ([tender("check", 500), tender("cash", 499)], "tenders_short"),
    ],
)
def test_refused_tender_sets(tenders, code):
    with pytest.raises(ValidationError) as err:
        tender_change(1000, tenders)
    assert err.value.code == code
    assert err.value.message


_line = st.one_of(
    st.builds(tender, st.just("cash"), st.integers(1, 500_000)),
    st.builds(tender, st.just("check"), st.integers(1, 500_000)),
    st.builds(tender, st.just("money_order"), st.integers(1, 500_000)),
    st.builds(tender, st.just("card"), st.integers(1, 500_000)),
)


@given(due=st.integers(1, 1_000_000), tenders=st.lists(_line, min_size=1, max_size=5))
def test_property_tenders_minus_change_is_the_amount(due, tenders):
    try:
        change = tender_change(due, tenders)
    except ValidationError:
        return
    total = sum(t.amount_cents for t in tenders)
    cash = sum(t.amount_cents for t in tenders if t.kind == "cash")
    assert total - change == due
    assert 0 <= change <= cash
    assert sum(t.kind == "card" for t in tenders) <= 1


@given(due=st.integers(1, 1_000_000), extra=st.integers(0, 100_000))
def test_property_cash_always_accepted_when_it_covers(due, extra):
    assert tender_change(due, [tender("cash", due + extra)]) == extra
