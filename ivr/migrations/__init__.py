"""Schema migrations (Alembic), run by `python -m ivr db upgrade`, never by the app factory.

Several processes may start at once (gunicorn workers, two hosts, a worker beside the web
service), so the upgrade runs under a lock: a PostgreSQL advisory lock, or an fcntl lock on a
file beside an SQLite database. The first process upgrades; the others wait, then find the
schema at head and do nothing. The app itself only checks the revision and refuses to start
with one line when the schema is behind.
"""
from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from ..config import ConfigError
from ..models import create_all

HERE = Path(__file__).resolve().parent

# pg_advisory_lock key: any fixed 64-bit number unique to this application ("ivr-migr").
ADVISORY_LOCK_KEY = 0x6976722D6D696772


class SchemaBehind(ConfigError):
    """The database is older than the code (or empty); the message says what to run."""


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision(url: str = "sqlite://") -> str | None:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def check_schema(engine: Engine) -> None:
    """Raise SchemaBehind unless the database is at the code's head revision."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        state = "empty" if current is None else f"at {current}, code needs {head}"
        raise SchemaBehind(f"database schema is behind ({state}): run python -m ivr db upgrade")


@contextmanager
def _sqlite_file_lock(engine: Engine) -> Iterator[None]:
    database = engine.url.database
    if not database or database == ":memory:":
        yield
        return
    lock_path = Path(database).with_name(Path(database).name + ".migrate.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _upgrade_on(conn: Connection, url: str) -> tuple[str | None, str | None]:
    cfg = alembic_config(url)
    cfg.attributes["connection"] = conn
    before = MigrationContext.configure(conn).get_current_revision()
    if before is None:
        # A new database: build it from the models in one go and stamp it at head.
        create_all(conn)
        command.stamp(cfg, "head")
    elif before != head_revision(url):
        command.upgrade(cfg, "head")
    return before, MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine) -> tuple[str | None, str | None]:
    """Bring the schema to head under a lock. Returns (revision before, revision after)."""
    url = engine.url.render_as_string(hide_password=False)
    if engine.dialect.name == "postgresql":
        with engine.connect() as lock_conn:
            # Session-level lock on its own connection: held across the migration's commits.
            lock_conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": ADVISORY_LOCK_KEY})
            lock_conn.commit()
            try:
                with engine.begin() as conn:
                    return _upgrade_on(conn, url)
            finally:
                lock_conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_LOCK_KEY})
                lock_conn.commit()
    if engine.dialect.name == "sqlite":
        with _sqlite_file_lock(engine), engine.begin() as conn:
            return _upgrade_on(conn, url)
    with engine.begin() as conn:
        return _upgrade_on(conn, url)


def prepare_database(engine: Engine) -> None:
    """Kept for callers of the old name: the same as `upgrade`."""
    upgrade(engine)
