"""payments.money: parsing typed amounts and cents, formatting in en/es/vi, never a float."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payments.money import (
    AmountError,
    AmountLimits,
    format_amount,
    format_plain,
    parse_amount,
    parse_cents,
)

MAX_CENTS = 10**15  # far beyond any bill; format_plain of it still parses


@pytest.mark.parametrize(
    ("text", "cents"),
    [
        ("12.5", 1250),
        ("12.50", 1250),
        ("12", 1200),
        ("12.", 1200),
        (".5", 50),
        ("0.05", 5),
        ("$1,234.56", 123456),
        (" $ 1234.56 ", 123456),
        ("1,234,567", 123456700),
        ("+3", 300),
        ("-0", 0),
    ],
)
def test_parse_amount(text, cents):
    assert parse_amount(text) == cents


def test_negative_only_when_allowed():
    with pytest.raises(AmountError) as err:
        parse_amount("-3")
    assert err.value.code == "negative"
    assert parse_amount("-3", allow_negative=True) == -300
    assert parse_amount("-$1,234.56", allow_negative=True) == -123456


@pytest.mark.parametrize(
    "text",
    [
        "abc",
        "",
        "   ",
        ".",
        "$",
        "12.345",
        "1,23",
        "12,34.00",
        "1.2.3",
        "12 34",
        "1e3",
        "NaN",
        "inf",
        "٣",  # Arabic-Indic three
        "１２",  # full-width digits
        "1" * 5000,  # would make int() raise its own ValueError
        "--3",
        "3-",
    ],
)
def test_invalid_text(text):
    with pytest.raises(AmountError) as err:
        parse_amount(text)
    assert err.value.code == "invalid"
    assert err.value.message


@pytest.mark.parametrize("value", [1.5, 12.0, Decimal("1.50"), None, True, 1250, b"12"])
def test_parse_amount_takes_only_text(value):
    with pytest.raises(AmountError) as err:
        parse_amount(value)
    assert err.value.code == "not_text"


@pytest.mark.parametrize(
    ("value", "cents"), [(1250, 1250), ("1250", 1250), (" -5 ", -5), (0, 0), ("007", 7)]
)
def test_parse_cents(value, cents):
    assert parse_cents(value) == cents


@pytest.mark.parametrize(
    "value", [1.5, 12.0, Decimal("12"), True, False, None, "12.50", "1e3", "١٢", "", "9" * 16]
)
def test_parse_cents_refuses_non_integers(value):
    with pytest.raises(AmountError) as err:
        parse_cents(value)
    assert err.value.code == "not_integer"


@pytest.mark.parametrize(
    ("cents", "locale", "text"),
    [
        (123456, "en", "$1,234.56"),
        (-5, "en", "-$0.05"),
        (0, "en", "$0.00"),
        (123456, "es", "$1,234.56"),  # es_US: the US conventions, in Spanish
        (123456, "vi", "$1,234.56"),  # US dollars the US way, in Vietnamese too
        (5, "vi", "$0.05"),
    ],
)
def test_format_amount_by_language(cents, locale, text):
    assert format_amount(cents, locale) == text


@pytest.mark.parametrize("value", [12.5, Decimal("12.50"), "1250", True])
def test_formatting_refuses_anything_but_int(value):
    with pytest.raises(TypeError):
        format_amount(value)
    with pytest.raises(TypeError):
        format_plain(value)


@pytest.mark.parametrize(
    ("cents", "text"), [(123456, "1234.56"), (-5, "-0.05"), (0, "0.00"), (100, "1.00")]
)
def test_format_plain(cents, text):
    assert format_plain(cents) == text


def test_limits():
    limits = AmountLimits(minimum=100, maximum=200_000)
    assert limits.check(100) == 100
    for cents, code in [(0, "not_positive"), (-5, "not_positive"), (99, "below_minimum")]:
        with pytest.raises(AmountError) as err:
            limits.check(cents)
        assert err.value.code == code
    with pytest.raises(AmountError) as err:
        limits.check(200_001)
    assert err.value.code == "above_maximum"
    assert "$2,000.00" in err.value.message


@given(st.integers(min_value=-MAX_CENTS, max_value=MAX_CENTS))
def test_plain_round_trip(cents):
    assert parse_amount(format_plain(cents), allow_negative=True) == cents


@given(st.integers(min_value=0, max_value=MAX_CENTS))
def test_english_display_round_trip(cents):
    assert parse_amount(format_amount(cents, "en")) == cents


@given(st.integers(min_value=-MAX_CENTS, max_value=MAX_CENTS), st.sampled_from(["en", "es", "vi"]))
def test_formatting_gives_text_for_every_language(cents, locale):
    text = format_amount(cents, locale)
    assert isinstance(text, str) and ("$" in text)


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_no_float_is_ever_accepted(value):
    with pytest.raises(AmountError):
        parse_amount(value)
    with pytest.raises(AmountError):
        parse_cents(value)
    with pytest.raises(TypeError):
        format_amount(value)
    with pytest.raises(TypeError):
        format_plain(value)


@given(st.text(max_size=40))
def test_any_text_gives_cents_or_a_clear_error(text):
    try:
        cents = parse_amount(text, allow_negative=True)
    except AmountError as err:
        assert err.code and err.message
    else:
        assert type(cents) is int
