"""The public help page: the knowledge base's answers on the web, and a "send us a message" form."""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from .routes import bp

    app.register_blueprint(bp)
