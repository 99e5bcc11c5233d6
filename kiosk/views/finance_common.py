"""What every finance page needs: the office it works on, the business day asked for, and
the signed-in user. (The JSON API's equivalents are in ``kiosk.api.common``.)"""

from __future__ import annotations

import datetime as dt

from flask import current_app
from sqlalchemy import select

from kiosk import db
from kiosk.models import Office, StaffUser
from kiosk.security import current_principal
from payments.days import MAX_DAYS_BACK
from payments.db import business_date
from payments.states import PaymentError


class PageError(PaymentError):
    status = 400


def me() -> int:
    """The signed-in staff user's id."""
    return int(current_principal().user_id)


def finance_office() -> Office:
    """The signed-in user's office, or the configured office for central finance."""
    session = db.session()
    user = session.get(StaffUser, me())
    office = session.get(Office, user.office_id) if user is not None and user.office_id else None
    if office is None:
        code = current_app.config.get("OFFICE_CODE") or ""
        office = session.scalar(select(Office).where(Office.code == code))
    if office is None:
        office = session.scalar(select(Office).order_by(Office.id).limit(1))
    if office is None:
        raise PageError("no_office", "No office is set up yet.")
    return office


def page_day(value: str | None) -> dt.date:
    """The business day typed as YYYY-MM-DD (blank: today); never the future."""
    today = business_date()
    if not value:
        return today
    try:
        day = dt.date.fromisoformat(value) if len(value) == 10 else None
    except ValueError:
        day = None
    if day is None:
        raise PageError("bad_date", "The business day must be a date, YYYY-MM-DD.")
    if day > today or (today - day).days > MAX_DAYS_BACK:
        raise PageError("bad_date", "Pick a business day that has already begun.")
    return day
