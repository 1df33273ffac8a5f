"""The staff dashboard: log in, work the voicemail queue, manage users."""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from flask_login import LoginManager
    from flask_wtf.csrf import CSRFProtect

    from ..db import get_session
    from ..users.models import User
    from .routes import bp

    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # tied to the session instead
    app.config["REMEMBER_COOKIE_HTTPONLY"] = True
    app.config["REMEMBER_COOKIE_SECURE"] = app.config["SESSION_COOKIE_SECURE"]
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
    def load_user(user_id: str):
        user = get_session().get(User, int(user_id)) if user_id.isdigit() else None
        return user if user is not None and user.active else None

    app.register_blueprint(bp)
