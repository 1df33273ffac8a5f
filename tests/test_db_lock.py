"""A database locked by another process: callers are answered in time, and nothing is lost.

Another process holds SQLite's write lock (as a long `kb load`, a backup or a stuck worker
would) while a caller dials in and leaves a message. Every webhook must still answer with the
normal TwiML within the lock timeout, and what the turns wanted to write (the call, its log,
the voicemail) must be written later, in order, with the times it happened.
"""
from __future__ import annotations

import subprocess
import sys
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from ivr import spool
from ivr.calls.models import Call, CallEvent
from ivr.db import utcnow
from ivr.services import services
from ivr.simulate.driver import CallDriver, FlaskTransport
from ivr.tickets.models import Ticket

from .conftest import ACCOUNT_SID, AUTH_TOKEN

HOLDER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.read()
conn.execute("ROLLBACK")
"""


@pytest.fixture
def settings_overrides(settings_overrides):
    return {**settings_overrides, "db_lock_timeout": 1.0}


@pytest.fixture
def locked_db(app):
    """Start another process holding the write lock; yields a function that releases it."""
    path = services(app).engine.url.database
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, path], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "locked"

    def release() -> None:
        proc.stdin.close()
        proc.wait(timeout=30)

    yield release
    if proc.poll() is None:
        release()


@pytest.mark.slow
def test_a_call_and_a_voicemail_while_another_process_holds_the_lock(app, locked_db):
    settings = app.config["IVR_SETTINGS"]
    catalogue = services(app).prompts
    budget = settings.db_lock_timeout + 5  # the lock wait, and generous room on a busy machine
    driver = CallDriver(FlaskTransport(app.test_client()), "http://localhost", AUTH_TOKEN,
                        account_sid=ACCOUNT_SID, caller="+15550003333")

    began = time.monotonic()
    step = driver.start()
    assert time.monotonic() - began < budget
    heard = " ".join(step.heard)
    assert catalogue.text("choice_ask", key="1") in heard and step.waiting == "gather"  # the normal menu, no apology
    assert catalogue.text("error_apology") not in heard

    driver.press("8")  # leave a message (the message key)
    left_at = utcnow()
    began = time.monotonic()
    end = driver.record(seconds=7)
    assert time.monotonic() - began < 2 * budget  # the action and the status callback
    assert catalogue.text("message_saved_no_reference") in " ".join(end.heard)
    assert end.ended == "hangup"

    sessions = services(app).sessionmaker
    with sessions() as session:
        assert session.get(Call, driver.call_sid) is None  # nothing could be written yet

    locked_db()
    result = spool.replay(app)
    assert result.quarantined == 0 and result.kept == 0
    with sessions() as session:
        call = session.get(Call, driver.call_sid)
        assert call is not None and call.from_number == "+15550003333"
        kinds = [e.kind for e in session.scalars(select(CallEvent).where(CallEvent.call_sid == driver.call_sid)
                                                 .order_by(CallEvent.at, CallEvent.id))]
        assert kinds[0] == "call_started" and "message_prompt" in kinds
        ticket = session.scalars(select(Ticket)).one()
        assert ticket.recording_sid == driver.recordings[0]["RecordingSid"]
        # The ticket keeps the time the caller left the message, not the time it was replayed.
        assert abs(ticket.created_at - left_at) < timedelta(seconds=budget)
        assert ticket.created_at < utcnow() - timedelta(milliseconds=1)
    assert spool.replay(app).applied == 0  # replayed once; nothing left


@pytest.mark.slow
def test_a_question_while_locked_gets_the_apology_and_a_message_never_silence(app, locked_db):
    """Asking needs to store the question (the answer's follow-ups refer to it): with the write lock
    held that can't happen in time, so the caller hears the apology and can leave a message."""
    catalogue = services(app).prompts
    driver = CallDriver(FlaskTransport(app.test_client()), "http://localhost", AUTH_TOKEN, account_sid=ACCOUNT_SID)
    driver.start()
    driver.press("1")
    step = driver.say("how long do I have to return something")
    assert catalogue.text("error_apology") in " ".join(step.heard) and step.waiting == "record"
    locked_db()
    spool.replay(app)
    with services(app).sessionmaker() as session:
        kinds = {e.kind for e in session.scalars(select(CallEvent).where(CallEvent.call_sid == driver.call_sid))}
    assert {"call_started", "error"} <= kinds


def test_threads_of_one_process_take_turns_at_writing(tmp_path):
    """In-process writers queue on a lock and get the database the moment it is free; readers never wait."""
    import threading

    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    from ivr.db import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'w.db'}", lock_timeout=2.0)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    first = engine.connect()
    first.execute(text("INSERT INTO t VALUES (1)"))  # holds the write turn, uncommitted
    done: dict[str, float] = {}

    def second_writer() -> None:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (2)"))
        done["at"] = time.monotonic()

    thread = threading.Thread(target=second_writer)
    thread.start()
    time.sleep(0.3)
    assert "at" not in done  # waiting for its turn
    with engine.connect() as reader:  # a reader is not held up by the writer
        assert reader.execute(text("SELECT count(*) FROM t")).scalar() == 0
    released = time.monotonic()
    first.commit()
    thread.join(5)
    assert done["at"] >= released  # it went once the first writer had committed (how fast: bench/load.py)
    first.close()

    # A turn that never comes within the lock timeout is "database is locked", as SQLite says it.
    quick = make_engine(f"sqlite:///{tmp_path / 'w.db'}", lock_timeout=0.2)
    holder = quick.connect()
    holder.execute(text("INSERT INTO t VALUES (3)"))
    started = time.monotonic()
    with pytest.raises(OperationalError, match="locked"):
        result: list = []
        waiter = threading.Thread(target=lambda: result.append(_try_write(quick)))
        waiter.start()
        waiter.join(5)
        raise result[0]
    assert time.monotonic() - started < 1.5
    holder.rollback()
    holder.close()
    with engine.connect() as conn:
        assert sorted(conn.execute(text("SELECT x FROM t")).scalars()) == [1, 2]


def _try_write(engine) -> BaseException | None:
    from sqlalchemy import text

    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (4)"))
    except BaseException as exc:  # noqa: BLE001 - handed back to the test thread
        return exc
    return None
