"""`users add|list|enable|disable|set-role|reset-password|token|tokens|revoke-token`: staff accounts and API tokens."""
from __future__ import annotations

import getpass
import json
import sys

import click
from sqlalchemy import select

from ..users.models import ROLES, User
from ..users.service import (
    UserError,
    create_user,
    issue_token,
    list_tokens,
    reset_password,
    revoke_token,
    set_active,
    set_role,
    token_dict,
)
from . import AreaGroup, CLIError
from .context import app_session, load_app


@click.group(cls=AreaGroup, help="staff accounts")
def users() -> None:
    pass


def _prompt_password(generate: bool) -> str | None:
    if generate:
        return None
    if not sys.stdin.isatty():
        raise CLIError("no terminal to prompt for a password: use --generate")
    password = getpass.getpass("Password (10+ characters): ")
    if password != getpass.getpass("Again: "):
        raise CLIError("the passwords don't match")
    return password


@users.command("add", help="add a user (password prompted, or generated with --generate)")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), default="agent")
@click.option("--generate", is_flag=True, help="generate a password and print it")
def cmd_add(email: str, role: str, generate: bool) -> int:
    password = _prompt_password(generate)
    app = load_app()
    try:
        with app_session(app) as session:
            user, password = create_user(session, email, role, password)
            email = user.email
    except UserError as exc:
        raise CLIError(str(exc)) from None
    print(f"added {email} ({role})" + (f"; password: {password}" if generate else ""))
    return 0


@users.command("list", help="all users")
@click.option("--json", "as_json", is_flag=True)
def cmd_list(as_json: bool) -> int:
    app = load_app()
    with app_session(app) as session:
        rows = [{"id": u.id, "email": u.email, "role": u.role, "active": u.active,
                 "last_login_at": u.last_login_at.isoformat() if u.last_login_at else None}
                for u in session.scalars(select(User).order_by(User.email))]
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no users yet: python -m ivr users add EMAIL --role admin")
    for r in rows:
        print(f"{r['id']:>4}  {r['email']:<32} {r['role']:<6} {'active' if r['active'] else 'disabled'}")
    return 0


def _user(session, email: str) -> User:
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise CLIError(f"no user {email!r} (see python -m ivr users list)")
    return user


def _set_active(email: str, active: bool) -> int:
    app = load_app()
    try:
        with app_session(app) as session:
            changed = set_active(session, _user(session, email), active)
    except UserError as exc:
        raise CLIError(str(exc)) from None
    state = "enabled" if active else "disabled"
    print(f"{state} {email}" if changed else f"{email} was already {state}")
    return 0


@users.command("disable", help="disable a user (they can't log in or use tokens; sessions end)")
@click.argument("email")
def cmd_disable(email: str) -> int:
    return _set_active(email, False)


@users.command("enable", help="re-enable a disabled user")
@click.argument("email")
def cmd_enable(email: str) -> int:
    return _set_active(email, True)


@users.command("set-role", help="make a user admin or agent")
@click.argument("email")
@click.argument("role", type=click.Choice(ROLES), metavar="ROLE")
def cmd_set_role(email: str, role: str) -> int:
    app = load_app()
    try:
        with app_session(app) as session:
            changed = set_role(session, _user(session, email), role)
    except UserError as exc:
        raise CLIError(str(exc)) from None
    print(f"{email} is now {role}" if changed else f"{email} was already {role}")
    return 0


@users.command("reset-password", help="set a new password (prompted, or --generate); ends their sessions")
@click.argument("email")
@click.option("--generate", is_flag=True, help="generate a password and print it")
def cmd_reset_password(email: str, generate: bool) -> int:
    wanted = _prompt_password(generate)
    app = load_app()
    try:
        with app_session(app) as session:
            password = reset_password(_user(session, email), wanted)
    except UserError as exc:
        raise CLIError(str(exc)) from None
    print(f"password reset for {email}; their sessions were logged out"
          + (f"; new password: {password}" if generate else ""))
    return 0


@users.command("token", help="create an API token for a user (printed once)")
@click.argument("email")
@click.option("--name", default="api")
@click.option("--expires-days", type=int, default=None, help="the token stops working after this many days")
def cmd_token(email: str, name: str, expires_days: int | None) -> int:
    app = load_app()
    try:
        with app_session(app) as session:
            _, token = issue_token(session, _user(session, email), name, expires_days)
    except UserError as exc:
        raise CLIError(str(exc)) from None
    print(token)
    return 0


@users.command("tokens", help="list API tokens (never the secrets)")
@click.argument("email", required=False)
@click.option("--json", "as_json", is_flag=True)
def cmd_tokens(email: str | None, as_json: bool) -> int:
    app = load_app()
    with app_session(app) as session:
        owner = _user(session, email) if email else None
        rows = [token_dict(t, u) for t, u in list_tokens(session, owner)]
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no API tokens (create one: python -m ivr users token EMAIL)")
    for r in rows:
        expires = f"expires {r['expires_at'][:16]}" if r["expires_at"] else "never expires"
        used = f"last used {r['last_used_at'][:16]}" if r["last_used_at"] else "never used"
        print(f"{r['id']:>4}  {r['user']:<28} {r['name']:<16} {r['state']:<8} {expires}, {used}")
    return 0


@users.command("revoke-token", help="revoke one API token by its id (see users tokens)")
@click.argument("token_id", type=int)
def cmd_revoke_token(token_id: int) -> int:
    app = load_app()
    try:
        with app_session(app) as session:
            row = revoke_token(session, token_id)
            name = row.name
    except UserError as exc:
        raise CLIError(str(exc)) from None
    print(f"revoked token {token_id} ({name})")
    return 0
