"""Database engine, sessions and the declarative base shared by every model module.

One session per request (closed on teardown) or per job/command (`session_scope`), with
explicit commits: nothing is written behind the caller's back.
"""
from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Iterator

from flask import current_app, g
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker


class Base(DeclarativeBase):
    """Declarative base for all tables."""


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


POOL_SIZE = 16
POOL_OVERFLOW = 8


def make_engine(url: str, lock_timeout: float = 3.0) -> Engine:
    """Create an engine whose waits are bounded by `lock_timeout` seconds.

    A webhook must answer well inside Twilio's 15 s, so no statement may wait longer than that
    for a lock (SQLite's busy timeout, PostgreSQL's lock_timeout) or for a pooled connection;
    a write that can't be made in time is kept in the spool instead. SQLite also gets WAL, so
    readers never wait for a writer.
    """
    # One connection per request thread (gunicorn --threads 16) plus the worker and spool threads,
    # so a request never queues for a connection behind slower ones (the pool default is 5 + 10).
    pool = {"pool_size": POOL_SIZE, "max_overflow": POOL_OVERFLOW, "pool_timeout": lock_timeout}
    if url.startswith("sqlite"):
        if ":memory:" in url or url in {"sqlite://", "sqlite:///"}:
            pool = {}
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": lock_timeout}, **pool)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - exercised implicitly
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            if ":memory:" not in url:
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA busy_timeout={int(lock_timeout * 1000)}")
            cur.close()

        return engine
    connect_args = {}
    if url.startswith("postgresql"):
        connect_args = {"options": f"-c lock_timeout={int(lock_timeout * 1000)}", "connect_timeout": 5}
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args, **pool)


def import_models() -> None:
    """Import every model module so Base.metadata knows all tables."""
    from . import models  # noqa: F401


def create_all(engine: Engine) -> None:
    import_models()
    Base.metadata.create_all(engine)


def get_session() -> Session:
    """The current request's session, opened on first use."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["ivr.sessionmaker"]()
    return g.db_session


def close_session(_exc: BaseException | None = None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()


@contextmanager
def session_scope(factory: sessionmaker) -> Iterator[Session]:
    """A session for one job or command: committed on success, rolled back on error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
