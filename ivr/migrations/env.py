"""Alembic environment: the URL comes from the app's settings, the schema from our models."""
from __future__ import annotations

from alembic import context

from ivr.db import Base, make_engine
from ivr.models import import_models

import_models()
target_metadata = Base.metadata


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        from ivr.config import load_settings

        url = load_settings().sqlalchemy_url
    engine = make_engine(url, lock_timeout=30)
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run_migrations()
