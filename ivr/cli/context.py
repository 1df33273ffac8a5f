"""Shared helpers for commands that need the app, its database or its settings."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from flask import Flask
from sqlalchemy.orm import Session

from ..db import session_scope
from ..services import services


def make_app(*, upgrade: bool = True) -> Flask:
    """The app for a command. Operator commands bring the schema to head first (under the
    migration lock, so this is safe beside running services); the WSGI entry point does not."""
    from .. import create_app
    from ..config import load_settings

    settings = load_settings()
    if upgrade:
        from .db import upgrade_database

        upgrade_database(settings)
    return create_app(settings)


@contextmanager
def app_session(app: Flask) -> Iterator[Session]:
    with app.app_context(), session_scope(services(app).sessionmaker) as session:
        yield session
