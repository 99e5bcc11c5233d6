"""The counter station (cashiers and supervisors)."""

from flask import Blueprint, render_template

from kiosk.access import access

bp = Blueprint("counter", __name__)


@bp.route("/")
@access("cashier", "supervisor")
def index():
    return render_template("counter/index.html")
