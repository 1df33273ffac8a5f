"""Database engine, sessions and the declarative base shared by every model module.

One session per request (closed on teardown) or per job/command (`session_scope`), with
explicit commits: nothing is written behind the caller's back.
"""
from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from flask import g
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from .clock import naive_utc, system_clock
from .services import services


class Base(DeclarativeBase):
    """Declarative base for all tables."""


def utcnow() -> datetime:
    return naive_utc(system_clock())


POOL_SIZE = 16
POOL_OVERFLOW = 8


_READS = ("SELECT", "PRAGMA", "EXPLAIN", "SAVEPOINT", "RELEASE")


def serialised_writes(lock_timeout: float) -> type[sqlite3.Connection]:
    """A sqlite3 connection class whose write transactions take turns on one in-process lock.

    SQLite admits one writer; the others wait in its busy handler, which sleeps 1, 2, 5 ... up to
    100 ms between tries, so under a burst of webhooks the lock often sits free while every
    waiter sleeps (measured under bench/load.py: most of a request's time was spent there).
    Threads of one process queue on a Python lock instead and get the database the moment it is
    free; other processes still meet SQLite's own lock and busy timeout. The lock is taken at a
    transaction's first write and given back at its commit, rollback or close; waiting longer
    than `lock_timeout` raises "database is locked", as SQLite itself would.
    """
    lock = threading.Lock()

    class Cursor(sqlite3.Cursor):
        def execute(self, sql, parameters=(), /):  # type: ignore[override]
            self.connection._before(sql)  # type: ignore[attr-defined]
            return super().execute(sql, parameters)

        def executemany(self, sql, seq_of_parameters, /):  # type: ignore[override]
            self.connection._before(sql)  # type: ignore[attr-defined]
            return super().executemany(sql, seq_of_parameters)

    class Connection(sqlite3.Connection):
        _writing = False

        def _before(self, sql: str) -> None:
            if self._writing or sql.lstrip()[:9].upper().startswith(_READS):
                return
            if not lock.acquire(timeout=lock_timeout):
                raise sqlite3.OperationalError("database is locked (another thread of this process kept it)")
            self._writing = True

        def _done(self) -> None:
            if self._writing:
                self._writing = False
                lock.release()

        def cursor(self, factory=Cursor):  # type: ignore[override]
            return super().cursor(factory)

        def execute(self, sql, parameters=(), /):  # type: ignore[override]
            return self.cursor().execute(sql, parameters)

        def commit(self) -> None:
            try:
                super().commit()
            finally:
                self._done()

        def rollback(self) -> None:
            try:
                super().rollback()
            finally:
                self._done()

        def close(self) -> None:
            try:
                super().close()
            finally:
                self._done()

    return Connection


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
        connect_args: dict = {"check_same_thread": False, "timeout": lock_timeout}
        if pool:  # a file: many connections, one writer at a time
            connect_args["factory"] = serialised_writes(lock_timeout)
        engine = create_engine(url, connect_args=connect_args, **pool)

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


def get_session() -> Session:
    """The current request's session, opened on first use."""
    if "db_session" not in g:
        g.db_session = services().sessionmaker()
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
