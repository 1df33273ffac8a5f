"""What decides things about a call is kept on the call, in the turn's transaction, not in its log.

The call log may be written later from the spool when the database is busy; the lock-out count,
the orders a call has proven and the TwiML a stream handed the call to can't wait for that, and
fail closed when they can't be written.
"""
from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import delete, select

from ivr import spool
from ivr.calls.events import Event
from ivr.calls.models import Call, CallEvent
from ivr.orders.models import Order, VerifiedOrder
from ivr.orders.verify import MAX_FAILURES
from ivr.services import services
from ivr.stream.flowrun import FlowRunner

from .test_db_lock import HOLDER
from .test_orders import heard, start_order, t


@pytest.fixture
def settings_overrides(settings_overrides):
    return {**settings_overrides, "db_lock_timeout": 1.0}


@pytest.fixture
def lock_db(app):
    """`lock_db()` makes another process take SQLite's write lock; it returns the function that frees it."""
    procs = []

    def lock():
        path = services(app).engine.url.database
        proc = subprocess.Popen([sys.executable, "-c", HOLDER, path], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                text=True)
        procs.append(proc)
        assert proc.stdout.readline().strip() == "locked"

        def release() -> None:
            proc.stdin.close()
            proc.wait(timeout=30)
        return release

    yield lock
    for proc in procs:
        if proc.poll() is None:
            proc.stdin.close()
            proc.wait(timeout=30)


def _call(app, sid: str) -> Call:
    with services(app).sessionmaker() as session:
        return session.get(Call, sid)


def test_failed_order_checks_are_counted_on_the_call_not_read_from_its_log(app, call, db):
    driver = call(caller="+15557654321")
    start_order(driver)
    for number in ("99999999", "88887777"):
        driver.press(f"{number}#")
        driver.press("1")
    assert _call(app, driver.call_sid).order_failures == 2
    # Staff still see each failure in the call's history...
    kinds = db.scalars(select(CallEvent.kind).where(CallEvent.call_sid == driver.call_sid)).all()
    assert kinds.count(Event.ORDER_CHECK_FAILED) == 2
    # ...but the lock-out doesn't depend on it: a log written late (or not yet) can't reset the count.
    db.execute(delete(CallEvent).where(CallEvent.call_sid == driver.call_sid,
                                       CallEvent.kind == Event.ORDER_CHECK_FAILED))
    db.commit()
    driver.press("77776666#")
    step = driver.press("1")
    assert t(app, "order_locked") in heard(step)
    assert _call(app, driver.call_sid).order_failures == MAX_FAILURES


def test_a_proven_order_is_kept_on_the_call(app, call, db):
    order = db.get(Order, "4512")
    driver = call(caller="+15557654321")
    start_order(driver)
    driver.press("4512#")
    driver.press("1")
    step = driver.press("04101#")
    assert order.detail in heard(step)
    assert db.scalars(select(VerifiedOrder.number).where(VerifiedOrder.call_sid == driver.call_sid)).all() == ["4512"]
    # The repeat key reads it again without asking for the postcode: the call proved it.
    db.execute(delete(CallEvent).where(CallEvent.call_sid == driver.call_sid))
    db.commit()
    step = driver.press("9")
    assert order.detail in heard(step) and t(app, "order_postcode_ask") not in heard(step)


@pytest.mark.slow  # another process holds the database lock
def test_a_failure_that_cannot_be_counted_locks_the_call_and_counts_once_the_database_is_back(app, call, lock_db):
    driver = call(caller="+15557654321")
    start_order(driver)
    driver.press("4512#")
    driver.press("1")  # the postcode is asked for
    release = lock_db()
    step = driver.press("11111#")  # a wrong postcode, while nothing can be written
    assert t(app, "order_locked") in heard(step) and "has shipped" not in heard(step)
    release()
    assert _call(app, driver.call_sid).order_failures == 0
    spool.replay(app)
    assert _call(app, driver.call_sid).order_failures == 1  # it still counts towards the lock-out
    with services(app).sessionmaker() as session:
        kinds = session.scalars(select(CallEvent.kind).where(CallEvent.call_sid == driver.call_sid)).all()
    assert Event.ORDER_CHECK_FAILED in kinds and Event.ORDER_LOCKED in kinds


@pytest.mark.slow  # another process holds the database lock
def test_an_order_whose_proof_cannot_be_kept_is_not_read(app, call, db, lock_db):
    order = db.get(Order, "1001")
    driver = call(caller=order.phone)  # its own phone: it may hear it
    start_order(driver)
    driver.press("1001#")
    release = lock_db()
    step = driver.press("1")
    release()
    assert t(app, "order_unavailable") in heard(step)
    assert order.detail not in heard(step) and "delivered" not in heard(step)
    spool.replay(app)
    assert db.scalars(select(VerifiedOrder).where(VerifiedOrder.call_sid == driver.call_sid)).all() == []
    # Once the database is back the same caller hears it.
    driver.press("1")
    driver.press("1001#")
    step = driver.press("1")
    assert order.detail in heard(step)


def test_the_stream_hand_off_twiml_is_kept_on_the_call_and_served_by_the_connect_action(app, call):
    driver = call()
    driver.start()
    twiml = '<?xml version="1.0" encoding="UTF-8"?><Response><Say>Goodbye.</Say><Hangup /></Response>'
    FlowRunner(app, driver.call_sid, driver.caller, driver.to).hand_off(twiml, reason="hangup")
    assert _call(app, driver.call_sid).handoff_twiml == twiml
    with services(app).sessionmaker() as session:
        [handoff] = session.scalars(select(CallEvent).where(CallEvent.call_sid == driver.call_sid,
                                                             CallEvent.kind == Event.STREAM_HANDOFF)).all()
    assert handoff.detail == {"reason": "hangup"}  # the history, not the TwiML
    status, body = driver.signed_post("http://localhost/voice/stream/ended", driver._base_params())
    assert status == 200 and body == twiml


def test_the_connect_action_without_a_hand_off_goes_to_the_main_menu(app, call):
    driver = call()
    driver.start()
    status, body = driver.signed_post("http://localhost/voice/stream/ended", driver._base_params())
    assert status == 200 and "<Gather" in body
    with services(app).sessionmaker() as session:
        kinds = session.scalars(select(CallEvent.kind).where(CallEvent.call_sid == driver.call_sid)).all()
    assert Event.STREAM_LOST in kinds


def test_the_upgrade_carries_a_live_calls_failed_checks_over(tmp_path):
    from alembic import command
    from sqlalchemy import text

    from ivr.db import make_engine
    from ivr.migrations import alembic_config

    url = f"sqlite:///{tmp_path / 'u.db'}"
    command.upgrade(alembic_config(url), "0006")
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO calls (sid, from_number, to_number, started_at, status)"
                          " VALUES ('CA1', '', '', '2026-12-01 10:00:00', 'in-progress')"))
        for kind in ("order_check_failed", "order_check_failed", "menu"):
            conn.execute(text("INSERT INTO call_events (call_sid, at, kind, detail)"
                              " VALUES ('CA1', '2026-12-01 10:00:01', :kind, '{}')"), {"kind": kind})
    engine.dispose()
    command.upgrade(alembic_config(url), "head")
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT order_failures FROM calls WHERE sid = 'CA1'")).scalar() == 2
    engine.dispose()
