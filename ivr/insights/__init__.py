"""Insights: how the desk is doing (calls, containment, tickets, questions, ratings) for staff."""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from .routes import bp

    app.register_blueprint(bp)
