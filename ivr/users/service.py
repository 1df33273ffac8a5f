"""Creating users and looking up API tokens: shared by the CLI and the dashboard."""
from __future__ import annotations

import re
import secrets

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
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == ApiToken.hash(token), ApiToken.revoked.is_(False)))
    if row is None:
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    row.last_used_at = utcnow()
    return user
