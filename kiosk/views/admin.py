"""Administration: stations and staff."""

from flask import Blueprint, render_template
from sqlalchemy import select

from kiosk import db
from kiosk.access import access
from kiosk.models import StaffUser, Station

bp = Blueprint("admin", __name__)


@bp.route("/")
@access("admin")
def index():
    session = db.session()
    stations = session.scalars(select(Station).order_by(Station.office_id, Station.name)).all()
    users = session.scalars(select(StaffUser).order_by(StaffUser.username)).all()
    return render_template("admin/index.html", stations=stations, users=users)
