"""The root address sends each caller to their own start page."""

from flask import Blueprint, redirect

from kiosk.access import access
from kiosk.auth import home_for
from kiosk.security import current_principal

bp = Blueprint("home", __name__)


@bp.route("/")
@access("public")
def index():
    return redirect(home_for(current_principal()))
