"""`users add|list|disable|token`: staff accounts and API tokens."""
from __future__ import annotations

import argparse
import getpass
import json
import sys

from sqlalchemy import select

from ..users.models import ROLES, ApiToken, User
from ..users.service import UserError, create_user
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
    dis = usub.add_parser("disable", help="disable a user (they can't log in or use tokens)")
    dis.add_argument("email")
    dis.set_defaults(func=cmd_disable)
    tok = usub.add_parser("token", help="create an API token for a user (printed once)")
    tok.add_argument("email")
    tok.add_argument("--name", default="api")
    tok.set_defaults(func=cmd_token)


def cmd_add(args: argparse.Namespace) -> int:
    password = None
    if not args.generate:
        if not sys.stdin.isatty():
            raise CLIError("no terminal to prompt for a password: use --generate")
        password = getpass.getpass("Password (10+ characters): ")
        if password != getpass.getpass("Again: "):
            raise CLIError("the passwords don't match")
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


def cmd_disable(args: argparse.Namespace) -> int:
    app = make_app()
    with app_session(app) as session:
        user = _user(session, args.email)
        user.active = False
    print(f"disabled {args.email}")
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    app = make_app()
    with app_session(app) as session:
        user = _user(session, args.email)
        row, token = ApiToken.issue(user.id, args.name)
        session.add(row)
    print(token)
    return 0
