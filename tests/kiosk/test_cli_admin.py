"""``payoffice user ...`` and ``payoffice station list`` through Click's test runner."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from kiosk.cli import cli, station_group, user_group
from kiosk.models import StaffUser
from payments.audit import AuditEvent
from payments.db import utcnow
from tests import factories
from tests.conftest import login
from tests.support.security import cheap_argon2  # noqa: F401  (autouse)


def _user_cli(app, *args, **kw):
    return app.test_cli_runner().invoke(user_group, list(args), **kw)


def _user(sessions, username) -> StaffUser | None:
    with sessions() as s:
        return s.scalar(select(StaffUser).where(StaffUser.username == username))


def test_user_add_creates_an_audited_account_that_can_sign_in(app, client, sessions, office):
    result = _user_cli(
        app,
        "add",
        "ana.tran",
        "--name",
        "Ana Trần",
        "--role",
        "cashier",
        "--role",
        "supervisor",
        "--password",
        "a long enough password",
        "--pin",
        "2468",
    )
    assert result.exit_code == 0, result.output
    assert "created ana.tran (cashier, supervisor)" in result.output
    user = _user(sessions, "ana.tran")
    assert user.full_name == "Ana Trần" and user.role_set == {"cashier", "supervisor"}
    assert user.password_hash.startswith("$argon2id$") and user.pin_hash.startswith("$argon2id$")
    with sessions() as s:
        entry = s.scalars(select(AuditEvent).where(AuditEvent.action == "staff.created")).one()
    assert entry.actor == "cli" and "a long enough password" not in entry.details
    assert login(client, "ana.tran", "a long enough password").status_code == 302


def test_user_add_prompts_for_the_password_twice(app, sessions, office):
    result = _user_cli(
        app,
        "add",
        "prompted",
        "--name",
        "Prompted User",
        "--role",
        "finance",
        input="a long enough password\na long enough password\n",
    )
    assert result.exit_code == 0, result.output
    assert "a long enough password" not in result.output  # hidden input
    assert _user(sessions, "prompted") is not None


def test_user_add_refuses_bad_input_with_a_message(app, sessions, office):
    base = ["--name", "X Y", "--role", "cashier"]
    weak = _user_cli(app, "add", "weak", *base, "--password", "short")
    assert weak.exit_code == 1 and "10 to 256 characters" in weak.output
    bad_name = _user_cli(app, "add", "no spaces", *base, "--password", "a long enough password")
    assert bad_name.exit_code == 1 and "Usernames have" in bad_name.output
    bad_role = _user_cli(app, "add", "x", "--name", "X", "--role", "root", "--password", "p" * 12)
    assert bad_role.exit_code == 2
    assert (
        _user_cli(app, "add", "dup", *base, "--password", "a long enough password").exit_code == 0
    )
    dup = _user_cli(app, "add", "DUP", *base, "--password", "a long enough password")
    assert dup.exit_code == 1 and "already exists" in dup.output
    assert _user(sessions, "weak") is None


def test_user_unlock_and_disable(app, client, sessions, office):
    with sessions() as s:
        user = factories.make_staff(s, "cashier", username="locked.out")
        user.locked_until = utcnow() + dt.timedelta(minutes=15)
        s.commit()
    result = _user_cli(app, "unlock", "locked.out")
    assert result.exit_code == 0 and "unlocked locked.out" in result.output
    assert _user(sessions, "locked.out").locked_until is None
    assert login(client, "locked.out").status_code == 302

    result = _user_cli(app, "disable", "locked.out")
    assert result.exit_code == 0, result.output
    assert not _user(sessions, "locked.out").active
    assert client.get("/counter/").status_code == 302
    again = _user_cli(app, "disable", "locked.out")
    assert again.exit_code == 1 and "already disabled" in again.output
    assert _user_cli(app, "unlock", "ghost").exit_code == 1
    with sessions() as s:
        actions = list(s.scalars(select(AuditEvent.action).where(AuditEvent.actor == "cli")))
    assert actions == ["staff.unlocked", "staff.disabled"]


def test_the_last_admin_cannot_be_disabled(app, sessions, office):
    with sessions() as s:
        factories.make_staff(s, "admin", username="only.admin")
        s.commit()
    result = _user_cli(app, "disable", "only.admin")
    assert result.exit_code == 1 and "last active admin" in result.output
    assert _user(sessions, "only.admin").active


def test_station_list_shows_each_state(app, sessions, office):
    runner = app.test_cli_runner()
    assert runner.invoke(station_group, ["add", "Kiosk A", "--kind", "kiosk"]).exit_code == 0
    assert runner.invoke(station_group, ["add", "Counter 1", "--kind", "counter"]).exit_code == 0
    assert runner.invoke(station_group, ["disable", "Kiosk A"]).exit_code == 0
    listing = runner.invoke(station_group, ["list"]).output
    assert "Kiosk A" in listing and "disabled" in listing
    assert "Counter 1" in listing and "not paired" in listing


def test_commands_are_registered_under_payoffice():
    assert {"add", "disable", "unlock"} <= set(cli.commands["user"].commands)
    assert {"add", "list", "pair-code", "disable"} <= set(cli.commands["station"].commands)
    assert "verify" in cli.commands["audit"].commands
