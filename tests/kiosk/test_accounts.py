"""Account lookup (kiosk.accounts): number, scanline and address search, and masking."""

from __future__ import annotations

import datetime as dt

import pytest

from hardware import scanline
from kiosk.accounts import (
    AccountLookupError,
    account_view,
    find_accounts,
    get_account,
    mask_name,
    parse_address,
)
from tests import factories


@pytest.fixture
def street(session):
    """A few accounts on two streets whose names share a prefix."""
    made = {
        "maria": factories.make_account(
            session, number="100200", name="MARIA GONZALEZ", house_number=1234, phone="7145550142"
        ),
        "unit_a": factories.make_account(
            session, number="100201", name="TRAN VAN AN", house_number=1234, unit="APT A"
        ),
        "unit_b": factories.make_account(
            session, number="100202", name="LE THI HOA", house_number=1234, unit="APT B"
        ),
        "south": factories.make_account(
            session, number="100203", house_number=1234, street_dir="S", name="JOSE RUIZ"
        ),
        "bristol_ave": factories.make_account(
            session,
            number="100204",
            house_number=88,
            street_name="BRISTOLWOOD",
            street_suffix="AVE",
            street_dir=None,
        ),
        "other": factories.make_account(
            session, number="0000100205", house_number=500, street_name="MAIN", street_dir=None
        ),
    }
    for n in range(10):
        factories.make_account(session, number=f"2000{n:02d}", house_number=2000 + n)
    session.commit()
    return made


def numbers(result):
    return [a.number for a in result.accounts]


def test_by_account_number(session, street):
    result = find_accounts(session, "100200")
    assert result.kind == "number"
    assert numbers(result) == ["100200"]
    assert find_accounts(session, " 100-200 ").accounts[0].number == "100200"


def test_account_number_with_or_without_leading_zeros(session, street):
    assert numbers(find_accounts(session, "100205")) == ["0000100205"]
    assert numbers(find_accounts(session, "0000100200")) == ["100200"]


def test_unknown_number_is_empty_not_an_error(session, street):
    result = find_accounts(session, "999999")
    assert result.kind == "number" and result.accounts == []


def test_by_scanline(session, street):
    digits = scanline.compose("100200", "2611000001", 8450)
    result = find_accounts(session, digits)
    assert result.kind == "scanline"
    assert numbers(result) == ["100200"]
    assert result.scanline.amount_cents == 8450
    spaced = " ".join(digits[i : i + 5] for i in range(0, 30, 5))
    assert numbers(find_accounts(session, spaced)) == ["100200"]


def test_bad_scanline_check_digit_is_an_error(session, street):
    digits = scanline.compose("100200", "2611000001", 8450)
    wrong = digits[:-1] + str((int(digits[-1]) + 1) % 10)
    with pytest.raises(AccountLookupError) as err:
        find_accounts(session, wrong)
    assert err.value.code == "bad_check_digit"


def test_too_many_digits(session, street):
    with pytest.raises(AccountLookupError) as err:
        find_accounts(session, "1" * 25)
    assert err.value.code == "bad_length"


NORTH_1234 = {"100200", "100201", "100202"}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("1234 bristol", NORTH_1234 | {"100203"}),
        ("1234 n bristol st", NORTH_1234),
        ("1234 N. Bristol Street", NORTH_1234),
        ("1234 NORTH BRISTOL", NORTH_1234),
    ],
)
def test_house_number_and_street(session, street, query, expected):
    result = find_accounts(session, query)
    assert result.kind == "address"
    assert set(numbers(result)) == expected


def test_direction_filters_but_plain_street_finds_both_sides(session, street):
    assert numbers(find_accounts(session, "1234 s bristol")) == ["100203"]
    assert "100203" in numbers(find_accounts(session, "1234 bristol"))


def test_street_prefix_covers_longer_names(session, street):
    assert numbers(find_accounts(session, "88 bristol")) == ["100204"]
    assert numbers(find_accounts(session, "88 bristolwood ave")) == ["100204"]


def test_wrong_suffix_still_finds_the_house(session, street):
    assert set(numbers(find_accounts(session, "1234 bristol ave"))) >= {"100200"}


def test_unit_narrows_the_building(session, street):
    assert numbers(find_accounts(session, "1234 bristol st apt b")) == ["100202"]
    assert numbers(find_accounts(session, "1234 N BRISTOL ST #A")) == ["100201"]
    # An unknown unit falls back to the whole building rather than nothing.
    assert len(find_accounts(session, "1234 n bristol st unit 9").accounts) == 3


@pytest.mark.parametrize("query", ["bristol", "BRISTOL ST", "Bri"])
def test_street_only_is_ordered_by_house_number(session, street, query):
    result = find_accounts(session, query, limit=50)
    houses = [a.house_number for a in result.accounts if a.street_name == "BRISTOL"]
    assert houses == sorted(houses)
    assert "100200" in numbers(result)
    assert "0000100205" not in numbers(result)


def test_limit_and_truncation(session, street):
    result = find_accounts(session, "bristol", limit=5)
    assert len(result.accounts) == 5 and result.truncated
    assert not find_accounts(session, "bristol", limit=50).truncated


def test_accents_and_case_do_not_matter(session):
    factories.make_account(session, number="300001", house_number=10, street_name="FLOWER")
    session.commit()
    assert numbers(find_accounts(session, "10 flówer")) == ["300001"]


BAD_QUERIES = [
    ("", "empty"),
    ("   ", "empty"),
    (None, "empty"),
    ("br", "too_short"),
    ("1234 apt 5", "too_short"),
    ("x" * 81, "too_long"),
    ("bristol; drop table", "bad_characters"),
    ("bristol%", "bad_characters"),
    ("1234567 bristol", "bad_house_number"),
]


def test_bad_queries_are_clear_errors(session, street):
    for query, code in BAD_QUERIES:
        with pytest.raises(AccountLookupError) as err:
            find_accounts(session, query)
        assert err.value.code == code, query
        assert err.value.message
    # Digits alone are an account number, not a house number.
    assert find_accounts(session, "1234").kind == "number"


def test_parse_address_parts():
    parsed = parse_address("1234 n bristol st apt 5")
    assert parsed.house_number == 1234
    assert parsed.street_dir == "N"
    assert parsed.street == "BRISTOL"
    assert parsed.street_suffix == "ST"
    assert parsed.unit == "5"
    # A direction or suffix word alone is the street itself.
    assert parse_address("100 north").street == "NORTH"
    assert parse_address("west st").street == "WEST"


def test_get_account_with_open_bills(session, street):
    account = street["maria"]
    account.past_due_cents = 4000
    account.last_payment_cents = 5000
    account.last_payment_date = dt.date(2026, 10, 20)
    old = factories.make_bill(session, account, 4000, due_date=dt.date(2026, 10, 25))
    factories.make_bill(session, account, 4450, due_date=dt.date(2026, 11, 25))
    factories.make_bill(session, account, 3000, open_cents=0, due_date=dt.date(2026, 9, 25))
    session.commit()

    detail = get_account(session, "100200")
    assert [b.number for b in detail.open_bills][0] == old.number
    assert len(detail.open_bills) == 2
    assert detail.due_date == dt.date(2026, 11, 25)
    assert get_account(session, "424242") is None
    with pytest.raises(AccountLookupError):
        get_account(session, "12ab")


@pytest.mark.parametrize(("balance", "shown"), [(8450, 4000), (3000, 3000), (0, 0), (-1500, 0)])
def test_past_due_is_never_more_than_is_owed_now(session, street, balance, shown):
    """The CIS's past-due figure waits for the next import; a payment here lowers the
    balance at once, and the past due shown follows it."""
    account = street["maria"]
    account.past_due_cents, account.balance_cents = 4000, balance
    session.commit()
    assert account_view(get_account(session, "100200"))["past_due_cents"] == shown


def test_masked_view_hides_name_phone_email(session, street):
    account = street["maria"]
    account.email = "maria@example.com"
    session.commit()
    view = account_view(get_account(session, "100200"), masked=True)
    assert view["name"] == "M*** G***"
    assert view["service_address"] == "1234 N BRISTOL ST"
    assert view["phone"] == "***-***-**42"
    assert "email" not in view
    text = repr(view)
    assert "MARIA" not in text and "GONZALEZ" not in text and "5550142" not in text


def test_staff_view_is_unmasked(session, street):
    view = account_view(get_account(session, "100200"), masked=False)
    assert view["name"] == "MARIA GONZALEZ"
    assert view["phone"] == "7145550142"


def test_mask_name():
    assert mask_name("MARIA GONZALEZ") == "M*** G***"
    assert mask_name("  ") == ""
    assert mask_name(None) == ""
