"""The scale-out path: the same app, flow and job queue on a real PostgreSQL server.

Uses IVR_TEST_POSTGRES_URL (default: the local server, database `test`) to create a
throw-away database. Skipped, with the reason, only where no PostgreSQL server is reachable.
"""
from __future__ import annotations

import os
import secrets
import threading

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from ivr.db import session_scope
from ivr.jobs import queue
from ivr.jobs.models import Job
from ivr.services import services
from ivr.tickets.models import Ticket

from .conftest import ACCOUNT_SID, AUTH_TOKEN, ROOT

ADMIN_URL = os.environ.get("IVR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture
def pg_url():
    try:
        admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"no PostgreSQL server at {ADMIN_URL}: {exc.__class__.__name__}")
    name = f"ivr_test_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def pg_app(pg_url, tmp_path):
    from ivr.kb.loader import load_knowledge_base

    from .conftest import make_test_app

    app = make_test_app({"twilio_account_sid": ACCOUNT_SID, "twilio_auth_token": AUTH_TOKEN,
                      "secret_key": "s" * 32, "database_url": pg_url, "instance_path": tmp_path,
                      "extra": {"IVR_TTS": "off"}})
    with session_scope(services(app).sessionmaker) as session:
        load_knowledge_base(session, ROOT / "kb_data")
    yield app
    services(app).engine.dispose()


def test_call_and_voicemail_on_postgres(pg_app):
    from ivr.simulate.driver import CallDriver, FlaskTransport

    driver = CallDriver(FlaskTransport(pg_app.test_client()), "http://localhost", AUTH_TOKEN, account_sid=ACCOUNT_SID)
    driver.start()
    driver.press("1")
    step = driver.say("how long do I have to return something")
    assert "Did that help?" in " ".join(step.heard)
    driver.press("8")  # the message key
    driver.record(seconds=11)
    session = services(pg_app).sessionmaker()
    assert session.scalar(select(func.count()).select_from(Ticket)) == 1
    session.close()


def test_job_queue_on_postgres_skip_locked(pg_app, monkeypatch):
    seen, lock = [], threading.Lock()

    def handler(app, payload):
        with lock:
            seen.append(payload["n"])

    monkeypatch.setitem(services(pg_app).jobs.kinds, "test.pg", queue.JobKind(handler))
    with session_scope(services(pg_app).sessionmaker) as s:
        for n in range(40):
            queue.enqueue(s, "test.pg", {"n": n})
    workers = [queue.Worker(pg_app) for _ in range(4)]
    threads = [threading.Thread(target=w.run_until_idle) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(seen) == list(range(40))
    with session_scope(services(pg_app).sessionmaker) as s:
        assert {j.status for j in s.scalars(select(Job))} == {"done"}
