"""The staff dashboard: log in, work the ticket queue, fix the knowledge base, manage users."""
from __future__ import annotations

from flask import Flask
from flask_login import LoginManager

from ..db import get_session
from ..users.models import User
from . import kb_routes  # noqa: F401 - the knowledge-base pages are the dashboard blueprint's too
from .routes import bp
from .security import init_security, valid_id

__all__ = ["bp", "init_app"]


def init_app(app: Flask) -> None:
    """Staff sessions and browser protections (the blueprint itself is registered by create_app)."""
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # tied to the session instead
    app.config["REMEMBER_COOKIE_HTTPONLY"] = True
    app.config["REMEMBER_COOKIE_SECURE"] = app.config["SESSION_COOKIE_SECURE"]
    init_security(app)

    login = LoginManager(app)
    login.login_view = "dashboard.login"
    login.login_message = "Please log in to see that page."
    login.session_protection = "strong"

    @login.user_loader
    def load_user(cookie_id: str):
        # "<user id>:<session version>": logging out bumps the version, so old cookies stop working.
        user_id, _, version = cookie_id.partition(":")
        uid = valid_id(user_id)
        user = get_session().get(User, uid) if uid and version.isdigit() else None
        if user is None or not user.active or user.session_version != int(version):
            return None
        return user
