"""No voicemail lost: duplicate and out-of-order callbacks, kill -9 of the real service between the
callback and the ticket, and reconciliation with Twilio's recordings list for callbacks that never came."""
from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta

import pytest
import requests
from sqlalchemy import create_engine, func, select
from twilio.request_validator import RequestValidator

from ivr import spool
from ivr.db import utcnow
from ivr.recordings.reconcile import reconcile
from ivr.services import services
from ivr.simulate.driver import CallDriver, HttpTransport
from ivr.tickets.models import Ticket

from .conftest import ACCOUNT_SID, AUTH_TOKEN, ROOT, cli_app, cli_env, invoke_cli, make_test_app
from .fake_twilio_api import FakeServer, recordings_list, twilio_recording


def _tickets(sessions):
    with sessions() as s:
        return s.scalars(select(Ticket).order_by(Ticket.id)).all()


def _status_params(driver, sid, seconds=9):
    return {**driver._base_params(), "RecordingSid": sid, "RecordingDuration": str(seconds),
            "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{sid}",
            "RecordingStatus": "completed", "RecordingChannels": "1", "RecordingSource": "RecordVerb"}


# --------------------------------------------------------------------------- duplicates, order

def test_status_callback_before_the_action_and_twice_makes_one_ticket(app, call, db):
    driver = call()
    driver.start()
    driver.press("8")  # the message key
    sid = "RE" + "a" * 32
    first = driver.signed_post("/voice/recording-status", _status_params(driver, sid))  # arrives first
    assert first[0] == 204
    arrived = utcnow()
    step = driver.record(seconds=9, recording_sid=sid)  # then the action callback and the status again
    assert "Your reference is" in " ".join(step.heard)
    assert driver.signed_post("/voice/recording-status", _status_params(driver, sid))[0] == 204  # a retry
    [ticket] = _tickets(services(app).sessionmaker)
    assert ticket.recording_sid == sid and ticket.recording_duration == 9
    assert ticket.created_at <= arrived  # the first callback's time, not a later one's
    assert spool.replay(app).applied == 4  # every spooled copy finds the ticket: still one
    assert len(_tickets(services(app).sessionmaker)) == 1


def test_two_voicemails_in_one_call_are_two_tickets(app, call):
    driver = call()
    driver.start()
    driver.press("8")  # the message key
    driver.signed_post("/voice/recording-status", _status_params(driver, "RE" + "b" * 32))
    driver.signed_post("/voice/recording-status", _status_params(driver, "RE" + "c" * 32))
    assert {t.recording_sid for t in _tickets(services(app).sessionmaker)} == {"RE" + "b" * 32, "RE" + "c" * 32}


# --------------------------------------------------------------------------- reconciliation

def test_reconciliation_tickets_recordings_whose_callback_never_came(settings_overrides, call):
    with FakeServer(auth=(ACCOUNT_SID, AUTH_TOKEN)) as api:
        app = make_test_app({**settings_overrides, "twilio_api_base": api.url})
        from ivr.simulate.driver import FlaskTransport

        def driver():
            return CallDriver(FlaskTransport(app.test_client()), "http://localhost", AUTH_TOKEN, account_sid=ACCOUNT_SID)

        lost = driver()  # reached the message prompt, recorded, but no callback ever reached us
        lost.start()
        lost.press("8")  # the message key
        lost.hangup()
        received = driver()  # a normal voicemail
        received.start()
        received.press("8")  # the message key
        received.record(seconds=5)
        browsing = driver()  # a call that never left a message
        browsing.start()
        browsing.hangup()
        left_at = datetime(2026, 11, 23, 8, 15, 42)
        now = utcnow()
        recordings = [
            twilio_recording(ACCOUNT_SID, lost.call_sid, "RE" + "1" * 32, left_at, duration=17),
            twilio_recording(ACCOUNT_SID, received.call_sid, received.recordings[0]["RecordingSid"], now),
            twilio_recording(ACCOUNT_SID, browsing.call_sid, "RE" + "2" * 32, now),  # not a voicemail
            twilio_recording(ACCOUNT_SID, "CA" + "9" * 32, "RE" + "3" * 32, now),  # another app's call
            twilio_recording(ACCOUNT_SID, lost.call_sid, "RE" + "4" * 32, now, status="processing"),
        ]
        recordings_list(api, ACCOUNT_SID, recordings, page_size=2)
        report = reconcile(app, lookback_hours=24 * 365)
        assert report.listed == 4 and report.ours == 3
        assert [c["recording_sid"] for c in report.created] == ["RE" + "1" * 32]
        pages = api.queries[f"/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings.json"]
        assert len(pages) == 3 and "DateCreated%3E=" in pages[0]  # followed Twilio's next_page_uri
        tickets = {t.recording_sid: t for t in _tickets(services(app).sessionmaker)}
        made = tickets["RE" + "1" * 32]
        assert made.call_sid == lost.call_sid and made.caller == lost.caller
        assert made.created_at == left_at and made.recording_duration == 17  # when the caller left it
        assert len(tickets) == 2
        assert reconcile(app, lookback_hours=24 * 365).created == []  # idempotent
        assert api.hits.get(f"/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/RE{'1' * 32}", 0) == 0


def test_reconciliation_walks_every_page_through_the_librarys_paging(settings_overrides):
    with FakeServer(auth=(ACCOUNT_SID, AUTH_TOKEN)) as api:
        app = make_test_app({**settings_overrides, "twilio_api_base": api.url})
        from ivr.simulate.driver import FlaskTransport

        lost = []
        for _ in range(5):  # five voicemails whose callbacks never came: three pages of two
            driver = CallDriver(FlaskTransport(app.test_client()), "http://localhost", AUTH_TOKEN,
                                account_sid=ACCOUNT_SID)
            driver.start()
            driver.press("8")  # the message key
            driver.hangup()
            lost.append(driver.call_sid)
        now = utcnow()
        sids = [f"RE{n:032x}" for n in range(1, 6)]
        recordings_list(api, ACCOUNT_SID, [twilio_recording(ACCOUNT_SID, c, r, now) for c, r in zip(lost, sids)],
                        page_size=2)
        report = reconcile(app, lookback_hours=24)
        assert report.listed == report.ours == 5
        assert sorted(c["recording_sid"] for c in report.created) == sids
        pages = api.queries[f"/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings.json"]
        assert len(pages) == 3 and all("DateCreated%3E=" in q for q in pages)
        assert ["Page=1" in pages[1], "Page=2" in pages[2]] == [True, True] and "PageToken=PA" in pages[2]


def test_reconciliation_never_follows_a_next_page_off_the_api_base(settings_overrides):
    from ivr.recordings.reconcile import ReconcileError

    with FakeServer(auth=(ACCOUNT_SID, AUTH_TOKEN)) as api:
        app = make_test_app({**settings_overrides, "twilio_api_base": api.url})
        path = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings.json"
        page = {"recordings": [twilio_recording(ACCOUNT_SID, "CA" + "9" * 32, "RE" + "9" * 32, utcnow())],
                "meta": {"key": "recordings", "page": 0, "page_size": 1,  # the paging newer APIs use
                         "next_page_url": f"http://127.0.0.1:{api.httpd.server_address[1] + 1}/steal"}}
        api.routes[path] = lambda n: (200, json.dumps(page).encode())
        with pytest.raises(ReconcileError, match="unexpected next page"):
            reconcile(app, lookback_hours=24)
        assert api.hits[path] == 1


@pytest.mark.slow
def test_reconcile_command_reports_twilio_failure_in_one_line(tmp_path):
    with FakeServer() as api:
        api.routes[f"/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings.json"] = lambda n: (500, b"oops")
        app = cli_app(tmp_path / "instance", TWILIO_API_BASE=api.url)
        out = invoke_cli(app, "recordings", "reconcile")
    assert out.returncode == 1
    assert out.stderr.strip() == "error: Twilio's recordings list answered HTTP 500"


# --------------------------------------------------------------------------- kill -9

class Service:
    """`python -m ivr serve` as a real process on a port the OS chose."""

    def __init__(self, env: dict, *args: str):
        self.proc = subprocess.Popen([sys.executable, "-m", "ivr", "serve", "--port", "0", *args], cwd=ROOT,
                                     env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self.port = threading.Event()
        self.base = ""
        threading.Thread(target=self._read, daemon=True).start()
        if not self.port.wait(90):
            self.proc.kill()
            pytest.fail("service did not start:\n" + "".join(self.lines))

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)
            m = re.search(r"(?:Serving on|Listening at:) http://127\.0\.0\.1:(\d+)", line)
            if m and not self.port.is_set():
                self.base = f"http://127.0.0.1:{m.group(1)}"
                self.port.set()

    def kill9(self) -> None:
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def _wait_for(predicate, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


@pytest.mark.slow
def test_kill_9_between_callback_and_ticket_then_restart_makes_the_ticket(tmp_path):
    db_path = tmp_path / "k.db"
    instance = tmp_path / "instance"
    env = cli_env(instance, DATABASE_URL=f"sqlite:///{db_path}", IVR_RECONCILE_SECONDS="0")
    service = Service(env)
    try:
        driver = CallDriver(HttpTransport(timeout=60), service.base, AUTH_TOKEN, account_sid=ACCOUNT_SID)
        driver.start()
        driver.press("8")  # the message key
        # Another process holds the database's write lock: the ticket can't be written...
        blocker = sqlite3.connect(db_path, timeout=1, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        sid = "RE" + "d" * 32
        url = service.base + "/voice/recording-status"
        params = _status_params(driver, sid, seconds=14)
        headers = {"X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(url, params)}
        threading.Thread(target=lambda: _swallow(lambda: requests.post(url, data=params, headers=headers, timeout=60)),
                         daemon=True).start()
        # ...but the callback is on disk before anything else happens; then the process dies.
        _wait_for(lambda: spool.pending(instance) == 1, what="the spooled callback")
        service.kill9()
        blocker.execute("ROLLBACK")
        blocker.close()
        [line] = spool.entries_path(instance).read_text().splitlines()
        left_at = datetime.fromisoformat(json.loads(line)["at"])
        engine = create_engine(f"sqlite:///{db_path}")
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(Ticket)).scalar() == 0
        restarted_at = utcnow()
        service = Service(env)  # the restart replays the spool
        ticket = _wait_for(lambda: _ticket(engine, sid), what="the ticket after restart")
        assert ticket.created_at == left_at < restarted_at  # the time the caller left it
        assert ticket.call_sid == driver.call_sid and ticket.recording_duration == 14
        assert ticket.caller == driver.caller
        _wait_for(lambda: spool.pending(instance) == 0, what="the spool to drain")
        engine.dispose()
    finally:
        service.stop()


def _swallow(fn):
    try:
        fn()
    except requests.RequestException:
        pass


def _ticket(engine, sid):
    with engine.connect() as conn:
        return conn.execute(select(Ticket.__table__).where(Ticket.recording_sid == sid)).first()


@pytest.mark.slow
def test_kill_9_before_the_callback_then_reconciliation_makes_the_ticket(tmp_path):
    """The service died before Twilio's callback arrived (nothing spooled): Twilio's list has it."""
    db_path = tmp_path / "r.db"
    instance = tmp_path / "instance"
    with FakeServer(auth=(ACCOUNT_SID, AUTH_TOKEN)) as api:
        env = cli_env(instance, DATABASE_URL=f"sqlite:///{db_path}", TWILIO_API_BASE=api.url,
                      IVR_RECONCILE_SECONDS="0")
        service = Service(env)
        try:
            driver = CallDriver(HttpTransport(timeout=30), service.base, AUTH_TOKEN, account_sid=ACCOUNT_SID)
            driver.start()
            driver.press("8")  # the message key
            service.kill9()
            with pytest.raises(requests.ConnectionError):  # Twilio's callback finds nobody
                driver.signed_post(service.base + "/voice/recording-status", _status_params(driver, "RE" + "e" * 32))
            left_at = (utcnow() - timedelta(seconds=3)).replace(microsecond=0)
            recordings_list(api, ACCOUNT_SID, [twilio_recording(ACCOUNT_SID, driver.call_sid, "RE" + "e" * 32,
                                                                left_at, duration=21)])
            out = subprocess.run([sys.executable, "-m", "ivr", "recordings", "reconcile", "--json"], cwd=ROOT,
                                 env=env, capture_output=True, text=True, timeout=120)
            assert out.returncode == 0, out.stderr
            report = json.loads(out.stdout)
            assert [c["recording_sid"] for c in report["created"]] == ["RE" + "e" * 32]
            engine = create_engine(f"sqlite:///{db_path}")
            ticket = _ticket(engine, "RE" + "e" * 32)
            assert ticket.created_at == left_at and ticket.recording_duration == 21
            engine.dispose()
        finally:
            service.stop()


@pytest.mark.slow
def test_running_worker_replays_the_spool_within_seconds_with_the_original_time(app):
    """No later voicemail needed: the worker's loop applies a spooled callback by itself."""
    from ivr.jobs.queue import Worker
    from ivr.tickets.service import RecordingCallback, spool_callback

    left_at = datetime(2026, 11, 23, 9, 30, 0)
    cb = RecordingCallback("CA" + "7" * 32, "+15005550006", "RE" + "7" * 32, "", 33, left_at)
    spool_callback(app.config["IVR_SETTINGS"].instance_path, cb)  # as when the database refused it
    worker = Worker(app, poll_seconds=0.2)
    thread = worker.start_thread()
    try:
        ticket = _wait_for(lambda: next(iter(_tickets(services(app).sessionmaker)), None), timeout=10,
                           what="the worker to replay the spool")
    finally:
        worker.stop()
        thread.join(10)
    assert ticket.recording_sid == "RE" + "7" * 32 and ticket.created_at == left_at
    assert ticket.caller == "+15005550006" and ticket.recording_duration == 33
    assert spool.pending(app.config["IVR_SETTINGS"].instance_path) == 0
