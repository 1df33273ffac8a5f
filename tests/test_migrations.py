"""The migrations and the models describe the same schema, and start-up handles both cases."""
from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from ivr.db import Base, make_engine
from ivr.migrations import alembic_config, head_revision, prepare_database
from ivr.models import import_models


def test_migrations_build_exactly_the_models_schema(tmp_path):
    url = f"sqlite:///{tmp_path / 'm.db'}"
    command.upgrade(alembic_config(url), "head")
    import_models()
    engine = make_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], f"models changed without a migration: {diff}"


def test_startup_creates_at_head_then_upgrades_in_place(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    engine = make_engine(url)
    prepare_database(engine)
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == head_revision(url)
        assert "tickets" in inspect(conn).get_table_names()
    prepare_database(engine)  # a restart: nothing to do, nothing lost
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == head_revision(url)
