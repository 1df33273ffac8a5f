"""Recordings every host can read: IVR_RECORDINGS_STORAGE=database keeps our copy in the database,
so a voicemail fetched by one host is played on the dashboard of another (separate instance
folders, one database: SQLite here, PostgreSQL too)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from ivr.db import session_scope
from ivr.jobs.queue import Worker
from ivr.recordings.models import RecordingBlob
from ivr.recordings.store import DatabaseStore, get_store
from ivr.services import services
from ivr.simulate.driver import CallDriver, FlaskTransport
from ivr.tickets.models import Ticket
from ivr.users.service import create_user

from .conftest import ACCOUNT_SID, AUTH_TOKEN, make_test_app
from .fake_twilio_api import FakeServer
from .test_dashboard import PASSWORD, login
from .test_postgres import pg_url  # noqa: F401 - the throw-away database fixture

WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 40  # bytes as Twilio served them; content is opaque here


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_voicemail_stored_by_one_host_plays_on_another(backend, tmp_path, request):
    url = f"sqlite:///{tmp_path / 'shared.db'}" if backend == "sqlite" else request.getfixturevalue("pg_url")
    with FakeServer(auth=(ACCOUNT_SID, AUTH_TOKEN)) as api:
        def host(name):
            return make_test_app({"twilio_account_sid": ACCOUNT_SID, "twilio_auth_token": AUTH_TOKEN,
                                  "secret_key": "s" * 32, "database_url": url, "instance_path": tmp_path / name,
                                  "twilio_api_base": api.url, "recordings_storage": "database",
                                  "extra": {"IVR_TTS": "off", "IVR_RECORDING_JOB_FETCH_SECONDS": "2"}})

        first, second = host("host-a"), host("host-b")
        driver = CallDriver(FlaskTransport(first.test_client()), "http://localhost", AUTH_TOKEN,
                            account_sid=ACCOUNT_SID)
        driver.start()
        driver.press("8")
        sid = "RE" + "5" * 32
        api.routes[f"/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{sid}.wav"] = lambda n: (200, WAV)
        driver.record(seconds=6, recording_sid=sid)
        Worker(first).run_until_idle()  # host A fetches our copy
        assert isinstance(get_store(first), DatabaseStore)
        assert not (tmp_path / "host-a" / "recordings").exists()  # nothing on A's disk
        with session_scope(services(second).sessionmaker) as s:
            ticket = s.scalars(select(Ticket)).one()
            ticket_id, path = ticket.id, ticket.recording_path
            assert s.get(RecordingBlob, path).size == len(WAV)
            create_user(s, "agent@example.com", "agent", PASSWORD)
        client = second.test_client()  # host B's dashboard plays it
        login(client)
        resp = client.get(f"/tickets/{ticket_id}/audio")
        assert resp.status_code == 200 and resp.data == WAV and resp.mimetype == "audio/wav"
        assert get_store(second).delete(path) and not get_store(first).exists(path)
        assert client.get(f"/tickets/{ticket_id}/audio").status_code == 404
        for app in (first, second):
            services(app).engine.dispose()


def test_database_store_refuses_keys_outside_its_scheme(bare_app):
    store = DatabaseStore(services(bare_app).sessionmaker)
    for bad in ("../etc/passwd", "0000/1-RE" + "x" * 32 + ".wav", ""):
        with pytest.raises(ValueError):
            store.read(bad)
    with pytest.raises(ValueError):
        store.save(1, "not-a-sid", b"x")
