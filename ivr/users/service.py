"""Creating users and looking up API tokens: shared by the CLI and the dashboard."""
from __future__ import annotations

import re
import secrets
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import utcnow
from .models import ROLES, ApiToken, User

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class UserError(ValueError):
    """A user can't be created or changed as asked; the message says why."""


def create_user(session: Session, email: str, role: str, password: str | None = None) -> tuple[User, str]:
    email = email.strip().lower()
    if not EMAIL_RE.match(email):
        raise UserError(f"{email!r} is not an email address")
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}")
    if session.scalar(select(User).where(User.email == email)):
        raise UserError(f"a user with email {email} already exists")
    password = password or secrets.token_urlsafe(12)
    user = User(email=email, role=role)
    try:
        user.set_password(password)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    session.add(user)
    session.flush()
    return user, password


def user_for_token(session: Session, token: str) -> User | None:
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == ApiToken.hash(token),
                                                ApiToken.revoked.is_(False)))
    if row is None or row.state(utcnow()) != "active":
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    row.last_used_at = utcnow()
    return user


def _admins_left(session: Session, excluding: User) -> int:
    return len(session.scalars(select(User.id).where(User.role == "admin", User.active.is_(True),
                                                     User.id != excluding.id)).all())


def change_password(user: User, new: str) -> None:
    """Set a new password and end the user's other sessions."""
    try:
        user.set_password(new)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    user.end_sessions()


def reset_password(user: User, new: str | None = None) -> str:
    """An admin's reset: a given or generated password; every session of the user ends."""
    password = new or secrets.token_urlsafe(12)
    change_password(user, password)
    return password


def set_role(session: Session, user: User, role: str) -> bool:
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}")
    if user.role == role:
        return False
    if user.role == "admin" and _admins_left(session, user) == 0:
        raise UserError("this is the last active admin: make someone else admin first")
    user.role = role
    return True


def set_active(session: Session, user: User, active: bool) -> bool:
    if user.active == active:
        return False
    if not active and user.role == "admin" and _admins_left(session, user) == 0:
        raise UserError("this is the last active admin: make someone else admin first")
    user.active = active
    if not active:
        user.end_sessions()
    return True


def issue_token(session: Session, user: User, name: str, days: int | None = None) -> tuple[ApiToken, str]:
    """A new API token (shown once); `days` makes it expire."""
    name = " ".join((name or "").split())[:100] or "api"
    if days is not None and not 1 <= days <= 3650:
        raise UserError("a token can last 1 to 3650 days")
    expires = utcnow() + timedelta(days=days) if days else None
    row, token = ApiToken.issue(user.id, name, expires)
    session.add(row)
    session.flush()
    return row, token


def revoke_token(session: Session, token_id: int) -> ApiToken:
    row = session.get(ApiToken, token_id) if 0 < token_id < 2**63 else None
    if row is None:
        raise UserError(f"no API token with id {token_id}")
    row.revoked = True
    return row


def list_tokens(session: Session, user: User | None = None) -> list[tuple[ApiToken, User]]:
    query = select(ApiToken, User).join(User, User.id == ApiToken.user_id).order_by(ApiToken.id)
    if user is not None:
        query = query.where(ApiToken.user_id == user.id)
    return [(t, u) for t, u in session.execute(query).all()]


def token_dict(row: ApiToken, user: User) -> dict:
    return {"id": row.id, "user": user.email, "name": row.name, "state": row.state(utcnow()),
            "created_at": row.created_at.isoformat(),
            "expires_at": row.expires_at.isoformat() if row.expires_at else None,
            "last_used_at": row.last_used_at.isoformat() if row.last_used_at else None}
