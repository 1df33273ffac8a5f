"""Shared helpers for commands that need the app, its database or its settings."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from flask import Flask
from sqlalchemy.orm import Session

from ..db import session_scope


def make_app() -> Flask:
    from .. import create_app

    return create_app()


@contextmanager
def app_session(app: Flask) -> Iterator[Session]:
    with app.app_context(), session_scope(app.extensions["ivr.sessionmaker"]) as session:
        yield session
