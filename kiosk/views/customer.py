"""The customer kiosk flow (a paired kiosk device only)."""

from flask import Blueprint, render_template

from kiosk.access import access

bp = Blueprint("customer", __name__)


@bp.route("/")
@access("kiosk")
def start():
    return render_template("customer/start.html")
