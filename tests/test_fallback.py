"""Twilio's fallback URL: when our primary handler fails, the caller still leaves a message,
and it still becomes a ticket, with no database at all while the call is on."""
from __future__ import annotations

from sqlalchemy import select

from ivr import spool
from ivr.calls.models import CallEvent
from ivr.services import services
from ivr.simulate.driver import CallDriver, FlaskTransport
from ivr.tickets.models import Ticket

from .conftest import ACCOUNT_SID, AUTH_TOKEN


def test_fallback_takes_a_message_with_the_database_gone(settings_overrides, tmp_path):
    from .conftest import make_test_app

    db_dir = tmp_path / "db"
    db_dir.mkdir()
    app = make_test_app({**settings_overrides, "database_url": f"sqlite:///{db_dir / 'ivr.db'}"})
    catalogue = services(app).prompts
    # The database disappears (disk unmounted, server down): nothing can connect any more.
    services(app).engine.dispose()
    db_dir.rename(tmp_path / "db-away")

    # The primary URL fails (here: a path that isn't ours), so Twilio requests the fallback URL.
    driver = CallDriver(FlaskTransport(app.test_client()), "http://localhost/broken/", AUTH_TOKEN,
                        account_sid=ACCOUNT_SID, caller="+15550002222", fallback_url="/voice/fallback")
    step = driver.start()
    assert catalogue.text("error_apology") in " ".join(step.heard)
    assert step.waiting == "record"
    end = driver.record(seconds=9)
    assert catalogue.text("message_saved_no_reference") in " ".join(end.heard)
    assert end.ended == "hangup"

    # The database is back: the spooled message becomes a ticket.
    (tmp_path / "db-away").rename(db_dir)
    sessions = services(app).sessionmaker
    # Both the fallback's action and Twilio's status callback kept it: one ticket all the same.
    assert spool.replay(app).quarantined == 0
    with sessions() as session:
        kinds = [e.kind for e in session.scalars(select(CallEvent).where(CallEvent.call_sid == driver.call_sid))]
        assert kinds == ["error", "message_prompt", "ticket"]  # the call's log says what happened
        ticket = session.scalars(select(Ticket)).one()
        assert (ticket.caller, ticket.recording_sid, ticket.recording_duration) == (
            "+15550002222", driver.recordings[0]["RecordingSid"], 9)


def test_fallback_is_signed_like_every_webhook(app):
    assert app.test_client().post("/voice/fallback", data={"CallSid": "CA" + "1" * 32}).status_code == 403


def test_fallback_with_nothing_recorded_says_so_and_hangs_up(app):
    driver = CallDriver(FlaskTransport(app.test_client()), "http://localhost/broken/", AUTH_TOKEN,
                        account_sid=ACCOUNT_SID, fallback_url="/voice/fallback")
    driver.start()
    end = driver.silence()
    heard = " ".join(end.heard)
    assert services(app).prompts.text("no_message") in heard and end.ended == "hangup"
