"""Shared helpers for commands that need the app, its database or its settings."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
from flask import Flask
from flask.cli import ScriptInfo
from sqlalchemy.orm import Session

from ..config import load_settings
from ..db import session_scope
from ..migrations import SchemaBehind, current_revision
from ..services import services


def load_app() -> Flask:
    """The app for this command (built once, by the group's factory or a test's runner). The
    schema is not touched: a database that is behind or empty stops the command with the one
    line "run python -m ivr db upgrade" (create_app's check_schema raises SchemaBehind)."""
    return click.get_current_context().ensure_object(ScriptInfo).load_app()


def load_migrated_app() -> tuple[Flask, str | None, str | None]:
    """For `db upgrade`, `serve` and `worker`: bring the schema to head under the migration lock
    (safe beside running services), then the app. Returns (app, revision before, after)."""

    from .db import upgrade_database  # the db commands build on this module

    info = click.get_current_context().ensure_object(ScriptInfo)
    try:
        app = info.load_app()
    except SchemaBehind:
        before, after = upgrade_database(load_settings())
        return info.load_app(), before, after
    revision = current_revision(services(app).engine)  # the app checked: at head already
    return app, revision, revision


@contextmanager
def app_session(app: Flask) -> Iterator[Session]:
    with app.app_context(), session_scope(services(app).sessionmaker) as session:
        yield session
