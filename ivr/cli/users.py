"""`users add|list|enable|disable|set-role|reset-password|token|tokens|revoke-token`: staff accounts and API tokens."""
from __future__ import annotations

import argparse
import getpass
import json
import sys

from sqlalchemy import select

from ..users.models import ROLES, User
from ..users.service import (UserError, create_user, issue_token, list_tokens, reset_password, revoke_token,
                             set_active, set_role, token_dict)
from . import CLIError
from .context import app_session, make_app


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("users", help="staff accounts")
    usub = p.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    add = usub.add_parser("add", help="add a user (password prompted, or generated with --generate)")
    add.add_argument("email")
    add.add_argument("--role", choices=ROLES, default="agent")
    add.add_argument("--generate", action="store_true", help="generate a password and print it")
    add.set_defaults(func=cmd_add)
    ls = usub.add_parser("list", help="all users")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_list)
    dis = usub.add_parser("disable", help="disable a user (they can't log in or use tokens; sessions end)")
    dis.add_argument("email")
    dis.set_defaults(func=cmd_disable)
    ena = usub.add_parser("enable", help="re-enable a disabled user")
    ena.add_argument("email")
    ena.set_defaults(func=cmd_enable)
    role = usub.add_parser("set-role", help="make a user admin or agent")
    role.add_argument("email")
    role.add_argument("role", choices=ROLES)
    role.set_defaults(func=cmd_set_role)
    reset = usub.add_parser("reset-password", help="set a new password (prompted, or --generate); ends their sessions")
    reset.add_argument("email")
    reset.add_argument("--generate", action="store_true", help="generate a password and print it")
    reset.set_defaults(func=cmd_reset_password)
    tok = usub.add_parser("token", help="create an API token for a user (printed once)")
    tok.add_argument("email")
    tok.add_argument("--name", default="api")
    tok.add_argument("--expires-days", type=int, default=None, help="the token stops working after this many days")
    tok.set_defaults(func=cmd_token)
    toks = usub.add_parser("tokens", help="list API tokens (never the secrets)")
    toks.add_argument("email", nargs="?")
    toks.add_argument("--json", action="store_true")
    toks.set_defaults(func=cmd_tokens)
    rev = usub.add_parser("revoke-token", help="revoke one API token by its id (see users tokens)")
    rev.add_argument("token_id", type=int)
    rev.set_defaults(func=cmd_revoke_token)


def _prompt_password(generate: bool) -> str | None:
    if generate:
        return None
    if not sys.stdin.isatty():
        raise CLIError("no terminal to prompt for a password: use --generate")
    password = getpass.getpass("Password (10+ characters): ")
    if password != getpass.getpass("Again: "):
        raise CLIError("the passwords don't match")
    return password


def cmd_add(args: argparse.Namespace) -> int:
    password = _prompt_password(args.generate)
    app = make_app()
    try:
        with app_session(app) as session:
            user, password = create_user(session, args.email, args.role, password)
            email = user.email
    except UserError as exc:
        raise CLIError(str(exc)) from None
    print(f"added {email} ({args.role})" + (f"; password: {password}" if args.generate else ""))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    app = make_app()
    with app_session(app) as session:
        rows = [{"id": u.id, "email": u.email, "role": u.role, "active": u.active,
                 "last_login_at": u.last_login_at.isoformat() if u.last_login_at else None}
                for u in session.scalars(select(User).order_by(User.email))]
    if args.json:
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
    app = make_app()
    try:
        with app_session(app) as session:
            changed = set_active(session, _user(session, email), active)
    except UserError as exc:
        raise CLIError(str(exc)) from None
    state = "enabled" if active else "disabled"
    print(f"{state} {email}" if changed else f"{email} was already {state}")
    return 0


def cmd_disable(args: argparse.Namespace) -> int:
    return _set_active(args.email, False)


def cmd_enable(args: argparse.Namespace) -> int:
    return _set_active(args.email, True)


def cmd_set_role(args: argparse.Namespace) -> int:
    app = make_app()
    try:
        with app_session(app) as session:
            changed = set_role(session, _user(session, args.email), args.role)
    except UserError as exc:
        raise CLIError(str(exc)) from None
    print(f"{args.email} is now {args.role}" if changed else f"{args.email} was already {args.role}")
    return 0


def cmd_reset_password(args: argparse.Namespace) -> int:
    wanted = _prompt_password(args.generate)
    app = make_app()
    try:
        with app_session(app) as session:
            password = reset_password(_user(session, args.email), wanted)
    except UserError as exc:
        raise CLIError(str(exc)) from None
    print(f"password reset for {args.email}; their sessions were logged out"
          + (f"; new password: {password}" if args.generate else ""))
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    app = make_app()
    try:
        with app_session(app) as session:
            _, token = issue_token(session, _user(session, args.email), args.name, args.expires_days)
    except UserError as exc:
        raise CLIError(str(exc)) from None
    print(token)
    return 0


def cmd_tokens(args: argparse.Namespace) -> int:
    app = make_app()
    with app_session(app) as session:
        owner = _user(session, args.email) if args.email else None
        rows = [token_dict(t, u) for t, u in list_tokens(session, owner)]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no API tokens (create one: python -m ivr users token EMAIL)")
    for r in rows:
        expires = f"expires {r['expires_at'][:16]}" if r["expires_at"] else "never expires"
        used = f"last used {r['last_used_at'][:16]}" if r["last_used_at"] else "never used"
        print(f"{r['id']:>4}  {r['user']:<28} {r['name']:<16} {r['state']:<8} {expires}, {used}")
    return 0


def cmd_revoke_token(args: argparse.Namespace) -> int:
    app = make_app()
    try:
        with app_session(app) as session:
            row = revoke_token(session, args.token_id)
            name = row.name
    except UserError as exc:
        raise CLIError(str(exc)) from None
    print(f"revoked token {args.token_id} ({name})")
    return 0
