"""Where an order is looked up: our own orders table (filled from CSV), or the shop's own database.

With IVR_ORDERS_SQL_URL and IVR_ORDERS_SQL_QUERY set, each look-up runs the shop's SELECT with
the order number as the bound parameter `:number` (never pasted into the SQL), on a connection
that is read-only and time-limited, so a slow or busy shop database costs a caller a few seconds
at most and can never be written to. The query's columns are read by name: `number`, `status`
(required), `detail`, `phone`, `postcode` — alias them (`SELECT ref AS number, ...`).
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from flask import Flask
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from ..services import services
from .lookup import find_order, is_order_number

log = logging.getLogger(__name__)
_lock = threading.Lock()


class OrderSourceError(RuntimeError):
    """The shop's database could not answer (down, too slow, or the query is wrong)."""


@dataclass(frozen=True)
class OrderRecord:
    number: str
    status: str
    detail: str = ""
    phone: str | None = None
    postcode: str | None = None

    @property
    def protected(self) -> bool:
        """Details are read only after the caller matches the phone or postcode."""
        return bool(self.phone or self.postcode)


def lookup_order(app: Flask, session: Session, number: str) -> OrderRecord | None:
    """The order with this number from the configured source, or None. Raises OrderSourceError."""
    if not is_order_number(number):
        return None
    settings = app.config["IVR_SETTINGS"]
    if settings.orders_sql_url:
        return _sql_lookup(_shop_engine(app), settings.orders_sql_query, number, settings.orders_sql_timeout)
    order = find_order(session, number)
    if order is None:
        return None
    return OrderRecord(order.number, order.status, order.detail or "", order.phone, order.postcode)


def _shop_engine(app: Flask) -> Engine:
    engine = services(app).orders_engine
    if engine is None:
        with _lock:
            engine = services(app).orders_engine
            if engine is None:
                settings = app.config["IVR_SETTINGS"]
                engine = make_readonly_engine(settings.orders_sql_url, settings.orders_sql_timeout)
                services(app).orders_engine = engine
    return engine


def make_readonly_engine(url: str, timeout_s: int) -> Engine:
    """An engine whose every connection refuses writes and gives up on slow statements."""
    name = url.split(":", 1)[0].split("+", 1)[0].lower()
    connect_args: dict = {}
    if name == "postgresql":
        connect_args = {"connect_timeout": timeout_s,
                        "options": f"-c default_transaction_read_only=on -c statement_timeout={timeout_s * 1000}"}
    elif name == "sqlite":
        connect_args = {"timeout": timeout_s}
    elif name in {"mysql", "mariadb"}:
        connect_args = {"connect_timeout": timeout_s, "read_timeout": timeout_s}
    engine = create_engine(url, connect_args=connect_args, pool_pre_ping=True, pool_size=2, max_overflow=2) \
        if name != "sqlite" else create_engine(url, connect_args={**connect_args, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _read_only(dbapi_conn, _record):  # pragma: no cover - exercised through lookups
        cur = dbapi_conn.cursor()
        if name == "sqlite":
            cur.execute("PRAGMA query_only = ON")
        elif name in {"mysql", "mariadb"}:
            cur.execute("SET SESSION TRANSACTION READ ONLY")
            cur.execute(f"SET SESSION max_execution_time = {int(timeout_s * 1000)}")
        cur.close()

    return engine


def _sql_lookup(engine: Engine, query: str, number: str, timeout_s: int) -> OrderRecord | None:
    started = time.monotonic()
    try:
        with engine.connect() as conn:
            raw = conn.connection.dbapi_connection
            if engine.dialect.name == "sqlite":
                # SQLite has no statement timeout: abort from its progress callback instead.
                deadline = started + timeout_s
                raw.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
            try:
                row = conn.execute(text(query), {"number": number}).mappings().first()
            finally:
                if engine.dialect.name == "sqlite":
                    raw.set_progress_handler(None, 0)
                conn.rollback()
    except Exception as exc:  # noqa: BLE001 - any driver error means "can't check orders now"
        elapsed = time.monotonic() - started
        log.warning("order look-up in the shop database failed after %.1fs: %s", elapsed, exc)
        raise OrderSourceError(f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}") from None
    if row is None:
        return None
    if "status" not in row:
        raise OrderSourceError("IVR_ORDERS_SQL_QUERY returned no 'status' column (alias one: ... AS status)")

    def col(key: str) -> str | None:
        value = row.get(key)
        return None if value is None or str(value).strip() == "" else str(value).strip()

    status = (col("status") or "unknown").lower().replace(" ", "_")
    return OrderRecord(number=col("number") or number, status=status, detail=" ".join((col("detail") or "").split()),
                       phone=col("phone"), postcode=(col("postcode") or "").upper() or None)
