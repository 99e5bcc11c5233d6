"""Finding an account: by account number, by the scanline on a paper bill, or by part of the
service address. No Flask here; the API and the kiosk pages call these functions.

What a lookup shows is decided in one place, ``account_view``: kiosk screens get a masked
view (initials only, no phone or e-mail); signed-in staff get the full record.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import Integer, bindparam, func, select
from sqlalchemy.orm import Session

from hardware import scanline as scanlines
from kiosk.models import Account, Bill, phone_digits
from payments.prepared import Prepared

MAX_QUERY_LENGTH = 80
MIN_STREET_PREFIX = 3  # a street-only search needs this many letters
MAX_LIMIT = 50
MAX_ACCOUNT_NUMBER_DIGITS = 20
UNIT_SCAN_LIMIT = 500  # rows read at one house number when a unit is given

DIRECTIONS = {
    "N": "N",
    "NORTH": "N",
    "S": "S",
    "SOUTH": "S",
    "E": "E",
    "EAST": "E",
    "W": "W",
    "WEST": "W",
}
SUFFIXES = {
    "ST": "ST",
    "STREET": "ST",
    "AVE": "AVE",
    "AV": "AVE",
    "AVENUE": "AVE",
    "BLVD": "BLVD",
    "BOULEVARD": "BLVD",
    "DR": "DR",
    "DRIVE": "DR",
    "RD": "RD",
    "ROAD": "RD",
    "LN": "LN",
    "LANE": "LN",
    "WAY": "WAY",
    "PL": "PL",
    "PLACE": "PL",
    "CT": "CT",
    "COURT": "CT",
    "CIR": "CIR",
    "CIRCLE": "CIR",
    "TER": "TER",
    "TERRACE": "TER",
    "PKWY": "PKWY",
    "PARKWAY": "PKWY",
    "HWY": "HWY",
    "HIGHWAY": "HWY",
}
UNIT_MARKERS = {"APT", "UNIT", "STE", "SUITE", "SPC", "SPACE", "#"}

EMPTY_MESSAGE = "Enter an account number, scan a bill, or type an address."
_ALLOWED = re.compile(r"^[A-Z0-9 #.,'/-]*$")
_SEPARATORS = re.compile(r"[\s-]+")


class AccountLookupError(ValueError):
    """A query that cannot be searched. ``code`` is stable for the API and translations."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class AddressQuery:
    """A service-address fragment split the way the accounts table stores addresses."""

    street: str  # upper-case prefix of street_name
    house_number: int | None = None
    street_dir: str | None = None
    street_suffix: str | None = None
    unit: str | None = None


class AccountSummary(NamedTuple):
    """One row of a search result: enough to pick the right account, nothing more. (A named
    tuple: built straight from the database row, which a frozen dataclass is several times
    slower at.)"""

    number: str
    name: str
    house_number: int
    street_dir: str | None
    street_name: str
    street_suffix: str | None
    unit: str | None
    pickup_day: str

    @property
    def service_address(self) -> str:
        return format_address(
            self.house_number, self.street_dir, self.street_name, self.street_suffix, self.unit
        )


@dataclass
class LookupResult:
    kind: str  # "number" | "scanline" | "address" | "name" | "phone"
    accounts: list[AccountSummary] = field(default_factory=list)
    truncated: bool = False  # more matches exist than were returned
    scanline: scanlines.Scanline | None = None  # set when a bill barcode was read


@dataclass(frozen=True, slots=True)
class AccountRecord:
    """The account columns a detail screen shows (read with Core, not as an ORM object)."""

    number: str
    kind: str
    name: str
    house_number: int
    street_dir: str | None
    street_name: str
    street_suffix: str | None
    unit: str | None
    city: str
    zip_code: str
    phone: str | None
    email: str | None
    pickup_day: str
    services: str
    balance_cents: int
    past_due_cents: int
    last_payment_cents: int | None
    last_payment_date: dt.date | None

    @property
    def service_address(self) -> str:
        return format_address(
            self.house_number, self.street_dir, self.street_name, self.street_suffix, self.unit
        )


@dataclass(frozen=True, slots=True)
class OpenBill:
    number: str
    due_date: dt.date
    amount_cents: int
    open_cents: int


@dataclass
class AccountDetail:
    account: AccountRecord
    open_bills: list[OpenBill]

    @property
    def due_date(self) -> dt.date | None:
        """The due date of the current (latest) open bill; older open bills are past due."""
        return max((b.due_date for b in self.open_bills), default=None)


def past_due_owed(past_due_cents: int, balance_cents: int) -> int:
    """The past-due amount to show now. The CIS's figure is as of its last import, while a
    payment taken here lowers the balance at once: past due is never more than is owed. (Not
    the sum of late open bills: the CIS export carries one bill per account, so a past due
    rarely has a late bill of its own here.)"""
    return min(past_due_cents, max(balance_cents, 0))


def format_address(
    house_number: int,
    street_dir: str | None,
    street_name: str,
    street_suffix: str | None,
    unit: str | None,
) -> str:
    parts = [str(house_number), street_dir, street_name, street_suffix, unit]
    return " ".join(p for p in parts if p)


def find_accounts(session: Session, q: str, limit: int = 20) -> LookupResult:
    """Search by account number, bill scanline or service-address fragment.

    Raises ``AccountLookupError`` for input that cannot be searched (empty, too short, too long,
    a scanline whose check digit is wrong); an unknown account is an empty result.
    """
    limit = max(1, min(int(limit), MAX_LIMIT))
    text = _normalize(q)
    compact = _SEPARATORS.sub("", text)
    if compact.isdigit():
        if scanlines.looks_like_scanline(compact):
            return _by_scanline(session, compact)
        if len(compact) > MAX_ACCOUNT_NUMBER_DIGITS:
            raise AccountLookupError(
                "bad_length",
                f"An account number has at most {MAX_ACCOUNT_NUMBER_DIGITS} digits; "
                f"a bill barcode has {scanlines.LENGTH}.",
            )
        return LookupResult("number", _by_numbers(session, _number_forms(compact)))
    return _by_address(session, _parse_address(text), limit)


# -- staff search: also by name and phone ----------------------------------------------------

SEARCH_KEYS = ("any", "number", "name", "phone", "address")
MIN_NAME_LENGTH = 2
LOCAL_AREA_CODES = ("714", "657")  # Santa Ana: a 7-digit phone is tried in both
STAFF_EMPTY_MESSAGE = "Type an account number, scan a bill, or type an address, a name or a phone."
_NAME_ALLOWED = re.compile(r"^[A-Z0-9 &'.,-]*$")
_PHONE_SHAPED = re.compile(r"^\+?[\d\s().-]+$")
_PHONE_PUNCTUATION = re.compile(r"[()+.]")


def search_accounts(session: Session, q: str, by: str = "any", limit: int = 20) -> LookupResult:
    """The counter's search: ``by`` one key, or ``any`` to tell from the text what it is.

    ``any``: digits are an account number or a bill barcode, then a phone number when no
    account has that number; "(714) 555-0101" is a phone; a leading house number makes an
    address; other text is a name, then a street when no name matches.
    """
    if by not in SEARCH_KEYS:
        raise AccountLookupError("bad_key", "Choose what to search by.")
    if not isinstance(q, str) or not q.strip():
        raise AccountLookupError("empty", STAFF_EMPTY_MESSAGE)
    limit = max(1, min(int(limit), MAX_LIMIT))
    if by == "name":
        return find_by_name(session, q, limit)
    if by == "phone":
        return find_by_phone(session, q, limit)
    if by in ("number", "address"):
        result = find_accounts(session, q, limit)
        if by == "address" and result.kind != "address":
            raise AccountLookupError("not_address", "An address starts with the house number.")
        if by == "number" and result.kind == "address":
            raise AccountLookupError("not_number", "An account number is made of digits only.")
        return result
    text = q.strip()
    if _PHONE_SHAPED.match(text) and _PHONE_PUNCTUATION.search(text):
        return find_by_phone(session, text, limit)
    compact = _SEPARATORS.sub("", text)
    if compact.isdigit():
        result = find_accounts(session, text, limit)
        if not result.accounts and result.kind == "number" and len(compact) in (7, 10, 11):
            phone = find_by_phone(session, compact, limit)
            if phone.accounts:
                return phone
        return result
    if text[:1].isdigit():
        return find_accounts(session, text, limit)
    result = find_by_name(session, text, limit)
    if result.accounts:
        return result
    try:
        street = find_accounts(session, text, limit)
    except AccountLookupError:
        return result
    return street if street.accounts else result


def _name_text(q: object) -> str:
    if not isinstance(q, str):
        raise AccountLookupError("empty", STAFF_EMPTY_MESSAGE)
    text = unicodedata.normalize("NFKD", q)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = " ".join(text.upper().split())
    if len(text) < MIN_NAME_LENGTH:
        raise AccountLookupError(
            "too_short", f"Type at least {MIN_NAME_LENGTH} letters of the name."
        )
    if len(text) > MAX_QUERY_LENGTH:
        raise AccountLookupError("too_long", f"Type at most {MAX_QUERY_LENGTH} characters.")
    if not _NAME_ALLOWED.match(text):
        raise AccountLookupError(
            "bad_characters", "Use only letters, digits, spaces and & ' . , - in a name."
        )
    return text


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def find_by_name(session: Session, q: str, limit: int = 20) -> LookupResult:
    """Accounts whose name starts with ``q``, then those with a word starting with it
    ("GONZ" finds "MARIA GONZALEZ LOPEZ"), case and accents aside.

    The prefix is a range on the upper(name) index; the word match reads that same index
    (a covering scan) rather than the table.
    """
    text = _name_text(q)
    limit = max(1, min(int(limit), MAX_LIMIT))
    rows = _fetch(
        session, _BY_NAME_PREFIX, {"lo": text, "hi": _prefix_end(text), "limit": limit + 1}
    )
    if len(rows) <= limit:
        seen = {r.number for r in rows}
        word = f"% {_like_escape(text)}%"
        more = _fetch(session, _BY_NAME_WORD, {"word": word, "limit": limit + 1})
        rows += [r for r in more if r.number not in seen]
    return LookupResult("name", rows[:limit], truncated=len(rows) > limit)


def find_by_phone(session: Session, q: str, limit: int = 20) -> LookupResult:
    """Accounts by phone number, whatever its punctuation: all 10 digits (a leading 1 is
    dropped), or the last 7 in the office's area codes; both through the digits index."""
    if not isinstance(q, str) or not _PHONE_SHAPED.match(q.strip() or "x"):
        raise AccountLookupError("bad_phone", "A phone number is made of digits.")
    digits = "".join(ch for ch in q if ch.isdigit())
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    limit = max(1, min(int(limit), MAX_LIMIT))
    if len(digits) == 7:
        forms = [code + digits for code in LOCAL_AREA_CODES]
    elif len(digits) == 10:
        forms = [digits, digits]
    else:
        raise AccountLookupError(
            "bad_phone", "Type the 10-digit phone number, or its last 7 digits."
        )
    rows = _fetch(session, _BY_PHONE, {"p0": forms[0], "p1": forms[1], "limit": limit + 1})
    return LookupResult("phone", rows[:limit], truncated=len(rows) > limit)


def get_account(session: Session, number: str) -> AccountDetail | None:
    """An account with its open bills (oldest first), or None when the number is unknown."""
    number = (number or "").strip()
    if not number.isdigit() or len(number) > MAX_ACCOUNT_NUMBER_DIGITS:
        raise AccountLookupError("bad_number", "An account number is made of digits only.")
    conn = session.connection()
    forms = _number_forms(number)
    # Through SQLAlchemy's result processing: dates come back as dates on every database.
    row = conn.execute(_ACCOUNT_DETAIL[len(forms)], _number_params(forms)).first()
    if row is None:
        return None
    bills = conn.execute(_OPEN_BILLS, {"account_id": row[0]})
    return AccountDetail(AccountRecord(*row[1:]), [OpenBill(*b) for b in bills])


def _normalize(q: object) -> str:
    if not isinstance(q, str):
        raise AccountLookupError("empty", EMPTY_MESSAGE)
    if not q.isascii():
        # Accents are dropped ("Avenida Guadalupe" vs "AVENIDA GUADALUPE"): the CIS stores ASCII.
        q = unicodedata.normalize("NFKD", q)
        q = "".join(ch for ch in q if not unicodedata.combining(ch))
    text = " ".join(q.upper().split())
    if not text:
        raise AccountLookupError("empty", EMPTY_MESSAGE)
    if len(text) > MAX_QUERY_LENGTH:
        raise AccountLookupError("too_long", f"Type at most {MAX_QUERY_LENGTH} characters.")
    if not _ALLOWED.match(text):
        raise AccountLookupError(
            "bad_characters", "Use only letters, digits and spaces in an address search."
        )
    return text


def _number_forms(digits: str) -> list[str]:
    """Account numbers may be kept with or without leading zeros (a scanline pads to 10)."""
    bare = digits.lstrip("0") or "0"
    forms = {digits, bare}
    if len(bare) <= 10:
        forms.add(bare.zfill(10))
    return sorted(forms)


def _by_numbers(session: Session, numbers: list[str]) -> list[AccountSummary]:
    return _fetch(session, _BY_NUMBERS[len(numbers)], _number_params(numbers))


def _number_params(numbers: list[str]) -> dict[str, str]:
    return dict(zip(_NUMBER_PARAMS, numbers, strict=False))


def _by_scanline(session: Session, digits: str) -> LookupResult:
    try:
        parsed = scanlines.parse(digits)
    except scanlines.ScanlineError as exc:
        raise AccountLookupError(
            "bad_check_digit",
            "The bill barcode did not read correctly. Scan it again or type the account number.",
        ) from exc
    accounts = _by_numbers(session, _number_forms(parsed.account_number))
    return LookupResult("scanline", accounts, scanline=parsed)


def parse_address(text: str) -> AddressQuery:
    """Split "1234 n bristol st apt 5" into house number, direction, street, suffix, unit."""
    return _parse_address(_normalize(text))


def _parse_address(text: str) -> AddressQuery:
    tokens = text.replace(",", " ").replace(".", " ").replace("#", " # ").split()
    unit = None
    for i, token in enumerate(tokens):
        if i > 0 and token in UNIT_MARKERS and i + 1 < len(tokens):
            unit = " ".join(tokens[i + 1 :])
            tokens = tokens[:i]
            break
    house = None
    if tokens and tokens[0].isdigit():
        if len(tokens[0]) > 6:
            raise AccountLookupError("bad_house_number", "A house number has at most 6 digits.")
        house = int(tokens[0])
        tokens = tokens[1:]
    # The suffix first, so that "west st" is WEST street rather than W "ST".
    suffix = None
    if len(tokens) > 1 and tokens[-1] in SUFFIXES:
        suffix = SUFFIXES[tokens[-1]]
        tokens = tokens[:-1]
    direction = None
    if len(tokens) > 1 and tokens[0] in DIRECTIONS:
        direction = DIRECTIONS[tokens[0]]
        tokens = tokens[1:]
    street = " ".join(tokens)
    if not street:
        raise AccountLookupError("too_short", "Add the street name to the house number.")
    if house is None and len(street.replace(" ", "")) < MIN_STREET_PREFIX:
        raise AccountLookupError(
            "too_short", f"Type at least {MIN_STREET_PREFIX} letters of the street name."
        )
    return AddressQuery(street, house, direction, suffix, unit)


def _prefix_end(prefix: str) -> str:
    """The smallest string above every string that starts with ``prefix`` (ASCII prefixes)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _by_address(session: Session, query: AddressQuery, limit: int) -> LookupResult:
    params = {
        "house": query.house_number,
        "lo": query.street,
        "hi": _prefix_end(query.street),
        "dir": query.street_dir,
        "suffix": query.street_suffix,
        # A unit is matched in Python (unit formats vary), so read the whole building.
        "limit": UNIT_SCAN_LIMIT if query.unit else limit + 1,
    }
    by_house = query.house_number is not None
    strict = bool(query.street_dir or query.street_suffix)
    rows = _fetch(
        session, _address_statement(by_house, query.street_dir, query.street_suffix), params
    )
    if not rows and strict:
        # "1234 bristol ave" when it is BRISTOL ST: the house and street still identify it.
        rows = _fetch(session, _address_statement(by_house, None, None), params)
    if query.unit:
        wanted = _unit_key(query.unit)
        same_unit = [r for r in rows if _unit_key(r.unit) == wanted]
        rows = same_unit or rows
    truncated = len(rows) > limit
    return LookupResult("address", rows[:limit], truncated=truncated)


# Lookups run for every keypress on the kiosk, so their statements are prepared (built once
# with bound parameters, compiled once per database dialect, run on the DBAPI cursor of the
# session's transaction: ``payments.prepared``). Building, caching and executing a statement
# through SQLAlchemy costs several times the indexed lookup itself; these rows are plain text
# and integers, so SQLAlchemy's result processing has nothing to do for them.
_T = Account.__table__
_SUMMARY_COLUMNS = [
    _T.c[name]
    for name in (
        "number",
        "name",
        "house_number",
        "street_dir",
        "street_name",
        "street_suffix",
        "unit",
        "pickup_day",
    )
]
# One statement per count of number forms (1-3) rather than an "expanding" IN list, which
# costs more per call than the indexed lookup itself.
_NUMBER_PARAMS = ("n0", "n1", "n2")
_BY_NUMBERS = {
    count: Prepared(
        select(*_SUMMARY_COLUMNS).where(
            _T.c.number.in_([bindparam(name) for name in _NUMBER_PARAMS[:count]])
        )
    )
    for count in (1, 2, 3)
}
_ADDRESS_STATEMENTS: dict[tuple[bool, bool, bool], Prepared] = {}

_DETAIL_COLUMNS = [f.name for f in AccountRecord.__dataclass_fields__.values()]
_ACCOUNT_DETAIL = {
    count: select(_T.c.id, *(_T.c[name] for name in _DETAIL_COLUMNS)).where(
        _T.c.number.in_([bindparam(name) for name in _NUMBER_PARAMS[:count]])
    )
    for count in (1, 2, 3)
}
_B = Bill.__table__
_OPEN_BILLS = (
    select(_B.c.number, _B.c.due_date, _B.c.amount_cents, _B.c.open_cents)
    .where(_B.c.account_id == bindparam("account_id"), _B.c.open_cents > 0)
    .order_by(_B.c.due_date, _B.c.number)
)


_name_key = func.upper(_T.c.name)
_BY_NAME_PREFIX = Prepared(
    select(*_SUMMARY_COLUMNS)
    .where(_name_key >= bindparam("lo"), _name_key < bindparam("hi"))
    .order_by(_name_key, _T.c.number)
    .limit(bindparam("limit", type_=Integer))
)
_BY_NAME_WORD = Prepared(
    select(*_SUMMARY_COLUMNS)
    .where(_name_key.like(bindparam("word"), escape="\\"))
    .order_by(_name_key, _T.c.number)
    .limit(bindparam("limit", type_=Integer))
)
_phone_key = phone_digits(_T.c.phone)
_BY_PHONE = Prepared(
    select(*_SUMMARY_COLUMNS)
    .where(_phone_key.in_([bindparam("p0"), bindparam("p1")]))
    .order_by(_T.c.name, _T.c.number)
    .limit(bindparam("limit", type_=Integer))
)


def _address_statement(by_house: bool, street_dir: str | None, suffix: str | None) -> Prepared:
    key = (by_house, bool(street_dir), bool(suffix))
    prepared = _ADDRESS_STATEMENTS.get(key)
    if prepared is None:
        c = _T.c
        in_prefix = (c.street_name >= bindparam("lo")) & (c.street_name < bindparam("hi"))
        if by_house:
            # Index (house_number, street_name): equality then a range.
            stmt = select(*_SUMMARY_COLUMNS).where(c.house_number == bindparam("house"), in_prefix)
            stmt = stmt.order_by(c.street_name, c.street_dir, c.unit, c.number)
        else:
            # Index (street_name, house_number): a range read in index order, no sort.
            stmt = select(*_SUMMARY_COLUMNS).where(in_prefix)
            stmt = stmt.order_by(c.street_name, c.house_number)
        if street_dir:
            stmt = stmt.where(c.street_dir == bindparam("dir"))
        if suffix:
            stmt = stmt.where(c.street_suffix == bindparam("suffix"))
        prepared = _ADDRESS_STATEMENTS[key] = Prepared(
            stmt.limit(bindparam("limit", type_=Integer))
        )
    return prepared


def _fetch(session: Session, stmt: Prepared, params: dict[str, Any]) -> list[AccountSummary]:
    return list(map(AccountSummary._make, stmt.all(session, params)))


def _unit_key(unit: str | None) -> str:
    words = [w for w in re.split(r"[^A-Z0-9]+", (unit or "").upper()) if w]
    return "".join(w for w in words if w not in UNIT_MARKERS)


# --- what may be shown -------------------------------------------------------------------


def mask_name(name: str | None) -> str:
    """Initials only: "MARIA GONZALEZ" -> "M*** G***"."""
    return " ".join(f"{word[0]}***" for word in (name or "").split())


def mask_phone(phone: str | None) -> str | None:
    digits = [ch for ch in phone or "" if ch.isdigit()]
    return f"***-***-**{''.join(digits[-2:])}" if len(digits) >= 4 else None


def summary_view(summary: AccountSummary, *, masked: bool = True) -> dict[str, Any]:
    """A search-result row as shown on a screen or in the API."""
    return {
        "number": summary.number,
        "name": mask_name(summary.name) if masked else summary.name,
        "service_address": summary.service_address,
        "pickup_day": summary.pickup_day,
    }


def account_view(detail: AccountDetail, *, masked: bool = True) -> dict[str, Any]:
    """The account as shown to a customer (``masked``) or to signed-in staff.

    Masked: the name as initials, the phone as its last two digits, no e-mail. The service
    address is kept whole: it is how customers recognise their own account.
    """
    a = detail.account
    view: dict[str, Any] = {
        "number": a.number,
        "kind": a.kind,
        "name": mask_name(a.name) if masked else a.name,
        "service_address": a.service_address,
        "city": a.city,
        "zip_code": a.zip_code,
        "pickup_day": a.pickup_day,
        "services": [s.strip() for s in (a.services or "").split(";") if s.strip()],
        "balance_cents": a.balance_cents,
        "past_due_cents": past_due_owed(a.past_due_cents, a.balance_cents),
        "due_date": _iso(detail.due_date),
        "last_payment": (
            {"amount_cents": a.last_payment_cents, "date": _iso(a.last_payment_date)}
            if a.last_payment_cents is not None
            else None
        ),
        "open_bills": [
            {
                "number": b.number,
                "due_date": _iso(b.due_date),
                "amount_cents": b.amount_cents,
                "open_cents": b.open_cents,
            }
            for b in detail.open_bills
        ],
        "masked": masked,
    }
    if masked:
        view["phone"] = mask_phone(a.phone)
    else:
        view["phone"] = a.phone
        view["email"] = a.email
    return view


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None
