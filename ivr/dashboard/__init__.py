"""The staff dashboard: log in, work the ticket queue, fix the knowledge base, manage users."""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from flask_login import LoginManager
    from flask_wtf.csrf import CSRFProtect

    from ..db import get_session
    from ..users.models import User
    from . import kb_routes  # noqa: F401  (adds the knowledge-base pages to the blueprint)
    from .routes import bp
    from .security import init_security, valid_id

    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # tied to the session instead
    app.config["REMEMBER_COOKIE_HTTPONLY"] = True
    app.config["REMEMBER_COOKIE_SECURE"] = app.config["SESSION_COOKIE_SECURE"]
    init_security(app)
    csrf = CSRFProtect(app)
    # Twilio's webhooks prove themselves with signatures, the API with tokens: no cookies, no CSRF.
    # Every Twilio-facing blueprint is named voice or voice_<part>.
    for name, blueprint in app.blueprints.items():
        if name == "api" or name == "voice" or name.startswith("voice_"):
            csrf.exempt(blueprint)
    app.extensions["ivr.csrf"] = csrf

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

    app.register_blueprint(bp)
