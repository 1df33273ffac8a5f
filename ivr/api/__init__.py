"""JSON API for helpdesk integrations, authenticated with bearer tokens (python -m ivr users token)."""
from __future__ import annotations

from flask import Flask
from ..services import services


def init_app(app: Flask) -> None:
    from .routes import bp

    app.register_blueprint(bp)
    csrf = services(app).csrf
    if csrf is not None:
        csrf.exempt(bp)
