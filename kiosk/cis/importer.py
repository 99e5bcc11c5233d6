"""Import accounts and open bills from a CIS export (CSV; format in docs/cis.md).

Every row is checked; a file with any bad row is refused whole (``ImportRefused`` with line
numbers and reasons) and the transaction is rolled back, so nothing of it is kept. A good
file is loaded in one transaction without an ORM object per row: on SQLite by executemany
``INSERT .. ON CONFLICT DO UPDATE`` straight into ``accounts`` and ``bills`` (rolled back if a
later row turns out bad); on PostgreSQL by COPY into temporary staging tables and one
``INSERT .. SELECT .. ON CONFLICT DO UPDATE`` per table.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import operator
import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from payments import audit
from payments.db import utcnow

ACCOUNT_COLUMNS = (
    "account_number",
    "account_kind",
    "name",
    "house_number",
    "street_dir",
    "street_name",
    "street_suffix",
    "unit",
    "city",
    "zip_code",
    "phone",
    "email",
    "pickup_day",
    "services",
    "balance_cents",
    "past_due_cents",
    "last_payment_cents",
    "last_payment_date",
)
BILL_COLUMNS = (
    "bill_number",
    "bill_period_start",
    "bill_period_end",
    "bill_due_date",
    "bill_amount_cents",
    "bill_open_cents",
    "scanline",
)
COLUMNS = ACCOUNT_COLUMNS + BILL_COLUMNS

KINDS = frozenset({"residential", "commercial"})
PICKUP_DAYS = frozenset({"monday", "tuesday", "wednesday", "thursday", "friday", "saturday"})
DIRECTIONS = frozenset({"N", "S", "E", "W"})
MAX_CENTS = 999_999_999  # what fits the scanline's 9-digit amount
CHUNK = 20_000
REBUILD_INDEXES_BYTES = 8 * 1024 * 1024  # about 50,000 rows
DIGEST_BLOCK = 1 << 20

_NUMBER = re.compile(r"[1-9][0-9]{0,9}")
_INT = re.compile(r"-?[0-9]{1,10}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_ZIP = re.compile(r"[0-9]{5}(?:-[0-9]{4})?")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_PHONE_NOISE = re.compile(r"[\s().+-]")
_SPACES = re.compile(r"\s+")
_PLAIN = bytes.maketrans(b"0123456789", bytes(range(10)))
_DOUBLED = bytes.maketrans(b"0123456789", bytes([0, 2, 4, 6, 8, 1, 3, 5, 7, 9]))

# Staging tables: (column, SQL type) in the order rows are written.
_STAGE_ACCOUNTS = (
    ("number", "VARCHAR(20)"),
    ("kind", "VARCHAR(16)"),
    ("name", "VARCHAR(120)"),
    ("house_number", "INTEGER"),
    ("street_dir", "VARCHAR(2)"),
    ("street_name", "VARCHAR(60)"),
    ("street_suffix", "VARCHAR(8)"),
    ("unit", "VARCHAR(16)"),
    ("city", "VARCHAR(60)"),
    ("zip_code", "VARCHAR(10)"),
    ("phone", "VARCHAR(20)"),
    ("email", "VARCHAR(254)"),
    ("pickup_day", "VARCHAR(9)"),
    ("services", "VARCHAR(255)"),
    ("balance_cents", "INTEGER"),
    ("past_due_cents", "INTEGER"),
    ("last_payment_cents", "INTEGER"),
    ("last_payment_date", "DATE"),
)
_STAGE_BILLS = (
    ("account_number", "VARCHAR(20)"),
    ("number", "VARCHAR(20)"),
    ("period_start", "DATE"),
    ("period_end", "DATE"),
    ("due_date", "DATE"),
    ("amount_cents", "INTEGER"),
    ("open_cents", "INTEGER"),
    ("scanline", "VARCHAR(40)"),
)


@dataclass(frozen=True)
class RowError:
    line: int
    column: str | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "file"
        where += f", {self.column}" if self.column else ""
        return f"{where}: {self.message}"


class ImportRefused(Exception):
    """The file was refused whole; nothing was imported."""

    def __init__(self, errors: list[RowError], total: int):
        self.errors = errors
        self.total = total
        super().__init__(f"{total} problem(s) in the file; nothing imported")


@dataclass
class ImportResult:
    rows: int = 0
    accounts: int = 0
    accounts_new: int = 0
    accounts_updated: int = 0
    bills: int = 0
    bills_new: int = 0
    bills_updated: int = 0
    bills_closed: int = 0
    sha256: str = ""


def scanline_for(account_number: str, bill_number: str, amount_cents: int) -> str:
    """The 30-digit scanline (same as ``hardware.scanline.compose``, made fast for bulk)."""
    # zfill equals int formatting here: both numbers are plain digit strings.
    body = account_number.zfill(10) + bill_number.zfill(10) + str(amount_cents).zfill(9)
    raw = body.encode("ascii")
    total = sum(raw[-1::-2].translate(_DOUBLED)) + sum(raw[-2::-2].translate(_PLAIN))
    return body + str((10 - total % 10) % 10)


_DATE_RE = r"[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
_TEXT_RE = r"[^\x1f\s](?:[^\x1f]*[^\x1f\s])?"
_UPPER_RE = r"[A-Z0-9#&'./-]+(?: [A-Z0-9#&'./-]+)*"


def _at_most(n: int) -> str:
    return rf"(?=[^\x1f]{{0,{n}}}(?:\x1f|$))"


# One pattern for a whole row already in its clean form (upper-case street, lower-case enums,
# no stray spaces), joined by \x1f: the common case is checked in one regex call. Anything it
# does not match goes through the field-by-field checks, which also word the errors.
_FAST_ROW = re.compile(
    "\x1f".join(
        [
            r"([1-9][0-9]{0,9})",
            r"(residential|commercial)",
            _at_most(120) + f"({_TEXT_RE})",
            r"([1-9][0-9]{0,5})",
            r"([NSEW]?)",
            _at_most(60) + f"({_UPPER_RE})",
            r"([A-Z]{0,8})",
            _at_most(16) + f"((?:{_UPPER_RE})?)",
            _at_most(60) + f"((?:{_UPPER_RE})?)",
            r"([0-9]{5}(?:-[0-9]{4})?)",
            r"([0-9]{10}|)",
            _at_most(254) + r"((?:[^@\s\x1f]+@[^@\s\x1f]+\.[^@\s\x1f]+)?)",
            r"(monday|tuesday|wednesday|thursday|friday|saturday)",
            _at_most(255) + f"((?:{_TEXT_RE})?)",
            r"(-?[0-9]{1,9})",
            r"([0-9]{1,9})",
            rf"(?:([1-9][0-9]{{0,8}})\x1f({_DATE_RE})|\x1f)",
            rf"(?:([1-9][0-9]{{0,9}})\x1f({_DATE_RE})\x1f({_DATE_RE})\x1f({_DATE_RE})"
            r"\x1f([0-9]{1,9})\x1f([0-9]{1,9})\x1f([0-9]{30})?|\x1f\x1f\x1f\x1f\x1f\x1f)",
        ]
    )
)
_fromisoformat = dt.date.fromisoformat
_CHECKED_DATES: set[str] = set()  # day 29-31 dates already found real (exports repeat a few)
_CHECK_DIGIT = [str((10 - t) % 10) for t in range(10)]


class _Checker:
    """Checks rows one at a time, collecting errors (all of them are counted, the first
    ``keep`` are kept)."""

    def __init__(self, keep: int):
        self.errors: list[RowError] = []
        self.total = 0
        self.keep = keep

    def fail(self, line: int, column: str | None, message: str) -> None:
        self.total += 1
        if len(self.errors) < self.keep:
            self.errors.append(RowError(line, column, message))

    def text(self, line, column, value, limit, *, required=False, upper=False):
        if not value:
            if required:
                self.fail(line, column, "is required")
            return None
        if upper:
            value = _SPACES.sub(" ", value.upper())
        if len(value) > limit:
            self.fail(line, column, f"is longer than {limit} characters")
        return value

    def cents(self, line, column, value, *, low, high=MAX_CENTS, required=True):
        if not value:
            if required:
                self.fail(line, column, "is required (whole cents, e.g. 1250)")
            return None
        if not _INT.fullmatch(value):
            self.fail(line, column, f"{value!r} is not a whole number of cents")
            return None
        cents = int(value)
        if not low <= cents <= high:
            self.fail(line, column, f"{cents} is outside {low}..{high}")
            return None
        return cents

    def date(self, line, column, value, *, required=True):
        if not value:
            if required:
                self.fail(line, column, "is required (YYYY-MM-DD)")
            return None
        if _DATE.fullmatch(value):
            try:
                return dt.date.fromisoformat(value).isoformat()
            except ValueError:
                pass
        self.fail(line, column, f"{value!r} is not a date (YYYY-MM-DD)")
        return None

    def fast(self, r: tuple[str, ...]) -> tuple[tuple, tuple | None] | None:
        """(account, bill) for a row in clean form, or None to check it field by field."""
        # The pattern matches every field whole, so the fields themselves are its groups
        # (empty where a group did not take part); reading them from ``r`` is cheaper.
        if _FAST_ROW.fullmatch("\x1f".join(r)) is None:
            return None
        try:
            for value in (r[17], r[19], r[20], r[21]):
                # the pattern took care of the rest
                if value and value[8:] > "28" and value not in _CHECKED_DATES:
                    _fromisoformat(value)
                    _CHECKED_DATES.add(value)
        except ValueError:
            return None
        number, last_cents = r[0], r[16]
        account = (
            number,
            r[1],
            r[2],
            int(r[3]),
            r[4] or None,
            r[5],
            r[6] or None,
            r[7] or None,
            r[8] or "SANTA ANA",
            r[9],
            r[10] or None,
            r[11] or None,
            r[12],
            r[13],
            int(r[14]),
            int(r[15]),
            int(last_cents) if last_cents else None,
            r[17] or None,
        )
        bill_number = r[18]
        if not bill_number:
            return account, None
        amount, open_ = int(r[22]), int(r[23])
        if open_ > amount or r[19] > r[20]:
            return None
        body = number.zfill(10) + bill_number.zfill(10) + str(amount).zfill(9)  # scanline_for
        raw = body.encode("ascii")
        total = sum(raw[-1::-2].translate(_DOUBLED)) + sum(raw[-2::-2]) - 48 * 14
        scan = body + _CHECK_DIGIT[total % 10]
        if r[24] and r[24] != scan:
            return None
        return account, (number, bill_number, r[19], r[20], r[21], amount, open_, scan)

    def account(self, line: int, r: tuple[str, ...]) -> tuple | None:
        before = self.total
        number = r[0]
        if not _NUMBER.fullmatch(number):
            self.fail(line, "account_number", "must be 1-10 digits, no leading zero")
        kind = r[1].lower()
        if kind not in KINDS:
            self.fail(line, "account_kind", "must be residential or commercial")
        name = self.text(line, "name", r[2], 120, required=True)
        house = None
        if not (r[3].isascii() and r[3].isdigit()) or not 0 < int(r[3]) < 1_000_000:
            self.fail(line, "house_number", "must be a whole number from 1 to 999999")
        else:
            house = int(r[3])
        street_dir = r[4].upper() or None
        if street_dir is not None and street_dir not in DIRECTIONS:
            self.fail(line, "street_dir", "must be empty or one of N, S, E, W")
        street_name = self.text(line, "street_name", r[5], 60, required=True, upper=True)
        suffix = self.text(line, "street_suffix", r[6], 8, upper=True)
        unit = self.text(line, "unit", r[7], 16, upper=True)
        city = self.text(line, "city", r[8], 60, upper=True) or "SANTA ANA"
        if not _ZIP.fullmatch(r[9]):
            self.fail(line, "zip_code", "must be 5 digits or ZIP+4 (92701-1234)")
        phone = _PHONE_NOISE.sub("", r[10]) or None
        if phone is not None and not (phone.isascii() and phone.isdigit() and len(phone) == 10):
            self.fail(line, "phone", "must be empty or a 10-digit phone number")
        email = r[11] or None
        if email is not None and (len(email) > 254 or not _EMAIL.fullmatch(email)):
            self.fail(line, "email", "must be empty or an email address")
        day = r[12].lower()
        if day not in PICKUP_DAYS:
            self.fail(line, "pickup_day", "must be a weekday name, monday to saturday")
        services = self.text(line, "services", r[13], 255) or ""
        balance = self.cents(line, "balance_cents", r[14], low=-MAX_CENTS)
        past_due = self.cents(line, "past_due_cents", r[15], low=0)
        last_cents = self.cents(line, "last_payment_cents", r[16], low=1, required=False)
        last_date = self.date(line, "last_payment_date", r[17], required=False)
        if (r[16] == "") != (r[17] == ""):
            self.fail(line, "last_payment_date", "last payment amount and date go together")
        if self.total != before:
            return None
        return (
            number,
            kind,
            name,
            house,
            street_dir,
            street_name,
            suffix,
            unit,
            city,
            r[9],
            phone,
            email,
            day,
            services,
            balance,
            past_due,
            last_cents,
            last_date,
        )

    def bill(self, line: int, r: tuple[str, ...], account_number: str) -> tuple | None:
        before = self.total
        number = r[18]
        if not _NUMBER.fullmatch(number):
            self.fail(line, "bill_number", "must be 1-10 digits, no leading zero")
        start = self.date(line, "bill_period_start", r[19])
        end = self.date(line, "bill_period_end", r[20])
        due = self.date(line, "bill_due_date", r[21])
        if start and end and start > end:
            self.fail(line, "bill_period_end", "is before bill_period_start")
        amount = self.cents(line, "bill_amount_cents", r[22], low=0)
        open_ = self.cents(line, "bill_open_cents", r[23], low=0)
        if amount is not None and open_ is not None and open_ > amount:
            self.fail(line, "bill_open_cents", "is more than bill_amount_cents")
        if self.total != before or not _NUMBER.fullmatch(account_number):
            return None
        scan = scanline_for(account_number, number, amount)
        given = _PHONE_NOISE.sub("", r[24])
        if given and given != scan:
            if not (given.isascii() and given.isdigit() and len(given) == 30):
                self.fail(line, "scanline", "must be empty or 30 digits")
            elif scanline_for(given[:10], given[10:20], int(given[20:29])) != given:
                self.fail(line, "scanline", "check digit is wrong")
            else:
                self.fail(line, "scanline", "does not match the account, bill and amount")
            return None
        return (account_number, number, start, end, due, amount, open_, scan)


def _read_header(reader, checker: _Checker) -> operator.itemgetter | None:
    try:
        header = next(reader)
    except StopIteration:
        checker.fail(1, None, "the file is empty")
        return None
    names = [h.strip().lower() for h in header]
    known = set(COLUMNS)
    for name in names:
        if name not in known:
            checker.fail(1, name, "unknown column")
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        checker.fail(1, None, f"missing column(s): {', '.join(missing)}")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        checker.fail(1, None, f"repeated column(s): {', '.join(dupes)}")
    if checker.total:
        return None
    return operator.itemgetter(*[names.index(c) for c in COLUMNS])


_ACCOUNT_NAMES = [c for c, _ in _STAGE_ACCOUNTS]
_BILL_NAMES = [c for c, _ in _STAGE_BILLS][1:]  # without account_number
_ACCOUNT_UPDATES = ", ".join(f"{c} = excluded.{c}" for c in [*_ACCOUNT_NAMES[1:], "cis_updated_at"])
_BILL_UPDATES = ", ".join(f"{c} = excluded.{c}" for c in ["account_id", *_BILL_NAMES[1:]])


class _Writer:
    """Bulk writes on the session's own connection (inside its transaction)."""

    def __init__(self, session: Session):
        conn = session.connection()
        self.dialect = conn.dialect.name
        self.integrity_error = conn.dialect.loaded_dbapi.IntegrityError
        self.cur = conn.connection.dbapi_connection.cursor()
        self.now = utcnow()
        self.accounts = self.bills = 0

    def scalar(self, sql: str, params=()) -> int:
        self.cur.execute(sql, params)
        return self.cur.fetchone()[0]

    def write(self, accounts: list[tuple], bills: list[tuple]) -> None:
        raise NotImplementedError

    def finish(self, result: ImportResult) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.cur.close()


class _SqliteWriter(_Writer):
    """SQLite: executemany upserts straight into accounts and bills. Nothing is visible to
    anyone before the commit, and a refused file is rolled back."""

    def __init__(self, session: Session, *, rebuild_indexes: bool = False):
        super().__init__(session)
        # the same text SQLAlchemy stores for a UTCDateTime on SQLite
        self.stamp = self.now.replace(tzinfo=None).isoformat(" ", timespec="microseconds")
        self.cur.execute("PRAGMA cache_size")
        self.cache_size = self.cur.fetchone()[0]
        self.cur.execute("PRAGMA cache_size = -262144")  # 256 MB while the indexes grow
        # For a big file, dropping the plain (non-unique) indexes and building them again at
        # the end is cheaper than growing them row by row. Inside the transaction, so a
        # refused file rolls this back too.
        self.indexes: list[tuple[str, str]] = []
        if rebuild_indexes:
            self.cur.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' "
                "AND tbl_name IN ('accounts', 'bills') AND sql IS NOT NULL "
                "AND upper(sql) NOT LIKE 'CREATE UNIQUE%'"
            )
            self.indexes = self.cur.fetchall()
            for name, _sql in self.indexes:
                self.cur.execute(f'DROP INDEX "{name}"')
        self.accounts_before = self.scalar("SELECT count(*) FROM accounts")
        self.bills_before = self.scalar("SELECT count(*) FROM bills")
        # The file's bill numbers are only needed to close bills we already hold.
        self.track_bills = self.bills_before > 0
        self.cur.execute("DROP TABLE IF EXISTS temp.import_bill_numbers")
        self.cur.execute("CREATE TEMP TABLE import_bill_numbers (number VARCHAR(20))")
        marks = ", ".join("?" * len(_ACCOUNT_NAMES))
        self.upsert_accounts = (
            f"INSERT INTO accounts ({', '.join(_ACCOUNT_NAMES)}, cis_updated_at) "  # noqa: S608
            f"VALUES ({marks}, '{self.stamp}') "
            f"ON CONFLICT (number) DO UPDATE SET {_ACCOUNT_UPDATES}"
        )
        # Into empty tables (the first import) plain inserts, and each chunk's new account ids
        # read back at once, so that a bill needs no look-up of its account's id in SQL.
        self.ids: dict[str, int] | None = {} if self.accounts_before == 0 else None
        self.last_id = 0
        marks = ", ".join("?" * len(_ACCOUNT_NAMES))
        self.insert_accounts = (
            f"INSERT INTO accounts ({', '.join(_ACCOUNT_NAMES)}, cis_updated_at) "  # noqa: S608
            f"VALUES ({marks}, '{self.stamp}')"
        )
        marks = ", ".join("?" * (len(_BILL_NAMES) + 1))
        self.insert_bills = (
            f"INSERT INTO bills (account_id, {', '.join(_BILL_NAMES)}) VALUES ({marks})"  # noqa: S608
        )
        marks = ", ".join("?" * len(_BILL_NAMES))
        self.upsert_bills = (
            f"INSERT INTO bills (account_id, {', '.join(_BILL_NAMES)}) "  # noqa: S608
            f"VALUES ((SELECT id FROM accounts WHERE number = ?), {marks}) "
            f"ON CONFLICT (number) DO UPDATE SET {_BILL_UPDATES}"
        )

    def write(self, accounts: list[tuple], bills: list[tuple]) -> None:
        self.accounts += len(accounts)
        self.bills += len(bills)
        ids = self.ids
        if ids is not None:
            self.cur.executemany(self.insert_accounts, accounts)
            self.cur.execute(
                "SELECT number, id FROM accounts WHERE id > ? ORDER BY id", (self.last_id,)
            )
            new = self.cur.fetchall()
            if new:
                ids.update(new)
                self.last_id = new[-1][1]
            self.cur.executemany(
                self.insert_bills,
                [
                    (ids[n], b, start, end, due, amt, open_, scan)
                    for n, b, start, end, due, amt, open_, scan in bills
                ],
            )
        else:
            self.cur.executemany(self.upsert_accounts, accounts)
            self.cur.executemany(self.upsert_bills, bills)
        if self.track_bills:
            numbers = [(b[1],) for b in bills]
            self.cur.executemany("INSERT INTO import_bill_numbers VALUES (?)", numbers)

    def finish(self, result: ImportResult) -> None:
        for _name, sql in self.indexes:
            self.cur.execute(sql)
        result.accounts, result.bills = self.accounts, self.bills
        result.accounts_new = self.scalar("SELECT count(*) FROM accounts") - self.accounts_before
        result.bills_new = self.scalar("SELECT count(*) FROM bills") - self.bills_before
        if not self.track_bills:
            return  # there were no bills to close
        self.cur.execute(
            "UPDATE bills SET open_cents = 0 WHERE open_cents > 0 "
            "AND account_id IN (SELECT id FROM accounts WHERE cis_updated_at = ?) "
            "AND number NOT IN (SELECT number FROM import_bill_numbers)",
            (self.stamp,),
        )
        result.bills_closed = max(self.cur.rowcount, 0)

    def close(self) -> None:
        try:
            self.cur.execute("DROP TABLE IF EXISTS temp.import_bill_numbers")
            self.cur.execute(f"PRAGMA cache_size = {int(self.cache_size)}")
        finally:
            super().close()


class _PostgresWriter(_Writer):
    """PostgreSQL: COPY into temporary staging tables, then one INSERT .. SELECT .. ON
    CONFLICT DO UPDATE per table."""

    def __init__(self, session: Session):
        super().__init__(session)
        for table, cols in (("stage_accounts", _STAGE_ACCOUNTS), ("stage_bills", _STAGE_BILLS)):
            spec = ", ".join(f"{c} {t}" for c, t in cols)
            self.cur.execute(f"CREATE TEMP TABLE {table} ({spec}) ON COMMIT DROP")

    def _copy(self, table: str, cols, rows: list[tuple]) -> None:
        if rows:
            names = ", ".join(c for c, _ in cols)
            with self.cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)

    def write(self, accounts: list[tuple], bills: list[tuple]) -> None:
        self.accounts += len(accounts)
        self.bills += len(bills)
        self._copy("stage_accounts", _STAGE_ACCOUNTS, accounts)
        self._copy("stage_bills", _STAGE_BILLS, bills)

    def finish(self, result: ImportResult) -> None:
        result.accounts, result.bills = self.accounts, self.bills
        result.accounts_new = result.accounts - self.scalar(
            "SELECT count(*) FROM stage_accounts s JOIN accounts a ON a.number = s.number"
        )
        result.bills_new = result.bills - self.scalar(
            "SELECT count(*) FROM stage_bills s JOIN bills b ON b.number = s.number"
        )
        acols = ", ".join(_ACCOUNT_NAMES)
        self.cur.execute(
            f"INSERT INTO accounts ({acols}, cis_updated_at) "  # noqa: S608
            f"SELECT {acols}, %s FROM stage_accounts "
            f"ON CONFLICT (number) DO UPDATE SET {_ACCOUNT_UPDATES}",
            (self.now,),
        )
        self.cur.execute(
            f"INSERT INTO bills (account_id, {', '.join(_BILL_NAMES)}) "  # noqa: S608
            f"SELECT a.id, {', '.join('s.' + c for c in _BILL_NAMES)} "
            "FROM stage_bills s JOIN accounts a ON a.number = s.account_number "
            f"ON CONFLICT (number) DO UPDATE SET {_BILL_UPDATES}"
        )
        self.cur.execute(
            "UPDATE bills SET open_cents = 0 WHERE open_cents > 0 "
            "AND account_id IN (SELECT a.id FROM accounts a JOIN stage_accounts s "
            "ON s.number = a.number) "
            "AND NOT EXISTS (SELECT 1 FROM stage_bills s WHERE s.number = bills.number)"
        )
        result.bills_closed = max(self.cur.rowcount, 0)


def import_accounts(
    session: Session, path: str | Path, *, actor: str = "cli", keep_errors: int = 50
) -> ImportResult:
    """Check and import a CIS account file in the session's transaction (the caller commits).
    Raises ``ImportRefused`` (and rolls the session back: nothing written) when any row is
    bad."""
    path = Path(path)
    checker = _Checker(keep_errors)
    result = ImportResult()
    result.sha256, plain = _digest(path)

    if session.get_bind().dialect.name == "sqlite":
        big = path.stat().st_size > REBUILD_INDEXES_BYTES
        writer: _Writer = _SqliteWriter(session, rebuild_indexes=big)
    else:
        writer = _PostgresWriter(session)
    try:
        try:
            _load(path, checker, writer, result, plain=plain)
            if checker.total:
                raise ImportRefused(checker.errors, checker.total)
            writer.finish(result)
        except writer.integrity_error as exc:  # e.g. a scanline another bill already has
            raise ImportRefused(
                [RowError(0, None, f"the database refused the data: {exc}")], 1
            ) from exc
        finally:
            writer.close()
    except BaseException:
        session.rollback()
        raise
    result.accounts_updated = result.accounts - result.accounts_new
    result.bills_updated = result.bills - result.bills_new
    audit.record(
        session,
        "cis.accounts_imported",
        actor=actor,
        entity="cis_import",
        entity_id=result.sha256[:16],
        details={
            "file": path.name,
            "sha256": result.sha256,
            "rows": result.rows,
            "accounts": result.accounts,
            "accounts_new": result.accounts_new,
            "accounts_updated": result.accounts_updated,
            "bills": result.bills,
            "bills_new": result.bills_new,
            "bills_updated": result.bills_updated,
            "bills_closed": result.bills_closed,
        },
    )
    return result


def _digest(path: Path) -> tuple[str, bool]:
    """The file's SHA-256, and whether it is plain: no quote, NUL or bare carriage return, so
    that each line is one row whose fields are split at the commas (what the csv module would
    make of it, several times faster)."""
    digest = hashlib.sha256()
    plain = True
    carried = b""  # a CR at the end of a block, whose LF may start the next one
    with path.open("rb") as fh:
        while block := fh.read(DIGEST_BLOCK):
            digest.update(block)
            if plain:
                block = carried + block
                carried = b"\r" if block.endswith(b"\r") else b""
                block = block[: len(block) - len(carried)]
                plain = not (
                    b'"' in block or b"\0" in block or b"\r" in block.replace(b"\r\n", b"")
                )
    return digest.hexdigest(), plain and not carried


def _load(
    path: Path, checker: _Checker, writer: _Writer, result: ImportResult, *, plain: bool = False
) -> None:
    """Read and check every row, writing them in chunks while no error has been seen."""
    accounts: list[tuple] = []
    bills: list[tuple] = []
    account_lines: dict[str, int] = {}
    bill_lines: dict[str, int] = {}
    prev_number = prev_account = None
    prev_has_bill = True
    width = len(COLUMNS)
    line = rows = 0
    fast = checker.fast
    chunk = CHUNK
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            if plain:
                reader = (text.rstrip("\r\n").split(",") for text in fh)
                pick = _read_header(reader, checker)
                records = enumerate(reader, 2)
            else:
                reader = csv.reader(fh, strict=True)
                pick = _read_header(reader, checker)
                records = ((reader.line_num, raw) for raw in reader)
            if pick is None:
                return
            for line, raw in records:
                if not raw or raw == [""]:
                    continue
                rows += 1
                if len(raw) != width:
                    checker.fail(line, None, f"has {len(raw)} fields, expected {width}")
                    continue
                r = pick(raw)
                checked = fast(r)
                if checked is not None:
                    account, bill = checked
                else:
                    r = tuple(map(str.strip, r))
                    account = checker.account(line, r)
                    bill = checker.bill(line, r, r[0]) if r[18] else None
                    if not r[18] and any(r[19:]):
                        checker.fail(line, "bill_number", "is empty but other bill columns are not")
                number, bill_number = r[0], r[18]

                if number == prev_number:
                    if account is not None and prev_account is not None and account != prev_account:
                        checker.fail(
                            line,
                            None,
                            f"account {number} differs from its row on line "
                            f"{account_lines[number]}",
                        )
                    if not prev_has_bill or not bill_number:
                        checker.fail(
                            line, "bill_number", f"account {number} repeats without a bill"
                        )
                elif number in account_lines:
                    checker.fail(
                        line,
                        "account_number",
                        f"account {number} already on line {account_lines[number]}; "
                        "rows of one account must be next to each other",
                    )
                else:
                    account_lines[number] = line
                    if account is not None:
                        accounts.append(account)
                prev_number, prev_account, prev_has_bill = number, account, bool(bill_number)

                if bill_number:
                    first = bill_lines.get(bill_number)
                    if first is not None:
                        checker.fail(
                            line, "bill_number", f"bill {bill_number} already on line {first}"
                        )
                    else:
                        bill_lines[bill_number] = line
                    if bill is not None:
                        bills.append(bill)

                if checker.total:
                    accounts.clear()
                    bills.clear()
                elif len(bills) >= chunk or len(accounts) >= chunk:
                    writer.write(accounts, bills)
                    accounts.clear()
                    bills.clear()
    except UnicodeDecodeError:
        checker.fail(line + 1, None, "is not UTF-8 text")
        return
    except csv.Error as exc:
        checker.fail(line + 1, None, f"is not valid CSV: {exc}")
        return
    finally:
        result.rows = rows
    if not rows and not checker.total:
        checker.fail(2, None, "the file has a header but no rows")
    if not checker.total:
        writer.write(accounts, bills)
