"""Staff dashboard, API, CLI, notifications and retention, on the real app and database."""
from __future__ import annotations

import csv
import io
import json
import re
import subprocess
from datetime import timedelta

import pytest
from sqlalchemy import select

from ivr.db import session_scope, utcnow
from ivr.jobs.models import Job
from ivr.jobs.queue import Worker
from ivr.services import services
from ivr.tickets.activity import TicketChange, TicketNote
from ivr.tickets.models import Ticket
from ivr.users.models import ApiToken, User

from .conftest import ACCOUNT_SID, AUTH_TOKEN, PASSWORD, cli_app, invoke_cli
from .fake_twilio_api import FakeServer


def leave_voicemail(app, call, caller="+15551230001", transcript=None) -> Ticket:
    driver = call(caller=caller)
    driver.start()
    driver.press("8")  # the message key
    driver.record(seconds=14)
    with session_scope(services(app).sessionmaker) as s:
        ticket = s.scalars(select(Ticket).where(Ticket.call_sid == driver.call_sid)).one()
        if transcript:
            ticket.transcript, ticket.transcript_confidence, ticket.transcript_status = transcript, 0.87, "done"
        s.flush()
        s.expunge(ticket)
        return ticket


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def login(client, email="agent@example.com", password=PASSWORD):
    page = client.get("/login")
    return client.post("/login", data={"email": email, "password": password,
                                       "csrf_token": csrf_of(page.get_data(as_text=True))})


def test_every_page_and_recording_needs_login(app, call, staff):
    t = leave_voicemail(app, call)
    client = app.test_client()
    for url in ("/", "/tickets", "/tickets.csv", f"/tickets/{t.id}", f"/tickets/{t.id}/audio", "/users"):
        resp = client.get(url)
        assert resp.status_code == 302 and "/login" in resp.headers["Location"], url


def test_wrong_password_and_disabled_user_cannot_log_in(app, staff):
    client = app.test_client()
    assert login(client, password="nope nope nope").status_code == 401
    with session_scope(services(app).sessionmaker) as s:
        s.get(User, staff["agent"]).active = False
    assert login(client).status_code == 401


def test_forms_without_csrf_token_are_rejected(app, call, staff):
    t = leave_voicemail(app, call)
    client = app.test_client()
    assert client.post("/login", data={"email": "agent@example.com", "password": PASSWORD}).status_code == 400
    login(client)
    assert client.post(f"/tickets/{t.id}/note", data={"body": "sneaky"}).status_code == 400
    with session_scope(services(app).sessionmaker) as s:
        assert s.scalars(select(TicketNote)).all() == []


def test_work_a_ticket_from_search_to_resolution(app, call, staff):
    wanted = leave_voicemail(app, call, transcript="hi my blender arrived cracked please call me back")
    leave_voicemail(app, call, caller="+15559990000", transcript="question about my invoice")
    leave_voicemail(app, call, transcript="calling again about the blender")  # same caller again
    client = app.test_client()
    assert login(client).status_code == 302
    listing = client.get("/tickets?q=blender+cracked").get_data(as_text=True)
    assert wanted.reference in listing and "invoice" not in listing
    assert "New (3)" in listing
    page = client.get(f"/tickets/{wanted.id}").get_data(as_text=True)
    assert "blender arrived cracked" in page and f'href="tel:{wanted.caller}"' in page
    assert "Other tickets from this number" in page
    token = csrf_of(page)
    client.post(f"/tickets/{wanted.id}/note", data={"body": "Sent a replacement.", "csrf_token": token})
    client.post(f"/tickets/{wanted.id}/update", data={"status": "resolved", "assignee": str(staff["agent"]),
                                                      "csrf_token": token})
    page = client.get(f"/tickets/{wanted.id}").get_data(as_text=True)
    assert "Sent a replacement." in page and "agent@example.com" in page
    with session_scope(services(app).sessionmaker) as s:
        t = s.get(Ticket, wanted.id)
        assert t.status == "resolved" and t.assignee_id == staff["agent"]
        changes = {(c.field, c.old, c.new, c.author_id) for c in s.scalars(select(TicketChange))}
        assert ("status", "new", "resolved", staff["agent"]) in changes
        assert ("assignee", None, "agent@example.com", staff["agent"]) in changes
    csv_text = client.get("/tickets.csv?status=resolved").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    assert [r["reference"] for r in rows] == [wanted.reference]
    assert rows[0]["assignee_email"] == "agent@example.com" and rows[0]["kind"] == "voicemail"
    # The caller's number starts with "+": a spreadsheet must not read it as a formula.
    assert rows[0]["caller"] == "'" + wanted.caller
    client.post("/logout", data={"csrf_token": token})
    assert client.get("/tickets").status_code == 302


def test_stored_recording_plays_only_for_staff(app, call, staff):
    from ivr.recordings.store import get_store

    t = leave_voicemail(app, call)
    wav = subprocess.run(["espeak-ng", "--stdout", "hello"], capture_output=True, check=True).stdout
    with session_scope(services(app).sessionmaker) as s:
        ticket = s.get(Ticket, t.id)
        ticket.recording_path = get_store(app).save(t.id, t.recording_sid, wav)
    client = app.test_client()
    assert client.get(f"/tickets/{t.id}/audio").status_code == 302
    login(client)
    page = client.get(f"/tickets/{t.id}").get_data(as_text=True)
    assert f'<audio controls preload="metadata" src="/tickets/{t.id}/audio"' in page
    audio = client.get(f"/tickets/{t.id}/audio")
    assert audio.status_code == 200 and audio.data == wav and audio.headers["Content-Type"] == "audio/wav"
    assert client.get(f"/tickets/{t.id}/audio", headers={"Range": "bytes=0-99"}).status_code == 206


def test_only_admins_manage_users(app, staff):
    client = app.test_client()
    login(client)
    assert client.get("/users").status_code == 403
    admin = app.test_client()
    login(admin, "boss@example.com")
    page = admin.get("/users").get_data(as_text=True)
    admin.post("/users", data={"email": "new@example.com", "role": "agent", "password": "",
                               "csrf_token": csrf_of(page)})
    assert "new@example.com" in admin.get("/users").get_data(as_text=True)


def test_api_needs_a_token_and_works_with_one(app, call, staff):
    t = leave_voicemail(app, call, transcript="where is my parcel")
    client = app.test_client()
    assert client.get("/api/tickets").status_code == 401
    assert client.get("/api/tickets", headers={"Authorization": "Bearer wrong"}).status_code == 401
    with session_scope(services(app).sessionmaker) as s:
        row, token = ApiToken.issue(staff["agent"], "zammad")
        s.add(row)
    auth = {"Authorization": f"Bearer {token}"}
    listing = client.get("/api/tickets?status=new", headers=auth).get_json()
    assert listing["total"] == 1 and listing["tickets"][0]["reference"] == t.reference
    one = client.get(f"/api/tickets/{t.reference}", headers=auth).get_json()
    assert one["transcript"] == "where is my parcel" and one["notes"] == []
    updated = client.patch(f"/api/tickets/{t.id}", json={"status": "in_progress", "assignee_id": staff["agent"]},
                           headers=auth).get_json()
    assert updated["status"] == "in_progress" and updated["changes"][0]["author"] == "agent@example.com"
    assert client.patch(f"/api/tickets/{t.id}", json={"status": "bogus"}, headers=auth).status_code == 400
    note = client.post(f"/api/tickets/{t.id}/notes", json={"body": "Synced from helpdesk"}, headers=auth)
    assert note.status_code == 201
    assert client.get("/api/tickets/nope", headers=auth).status_code == 404
    with session_scope(services(app).sessionmaker) as s:
        s.get(User, staff["agent"]).active = False
    assert client.get("/api/tickets", headers=auth).status_code == 401


def test_webhook_notification_is_retried_until_delivered(settings_overrides, call):
    from ivr.simulate.driver import CallDriver, FlaskTransport

    from .conftest import make_test_app

    with FakeServer() as hook:
        hook.routes["/hook"] = lambda n: (500, b"down") if n == 1 else (200, b"ok")
        hook.routes[f"/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/"] = lambda n: (404, b"")
        app = make_test_app({**settings_overrides, "twilio_api_base": hook.url, "extra": {
            "IVR_TTS": "off", "IVR_RECORDING_JOB_FETCH_SECONDS": "0.5",
                                                          "IVR_NOTIFY_WEBHOOK_URL": hook.url + "/hook"}})
        driver = CallDriver(FlaskTransport(app.test_client()), "http://localhost", AUTH_TOKEN, account_sid=ACCOUNT_SID)
        driver.start()
        driver.press("8")  # the message key
        step = driver.record(seconds=5)
        assert "Your reference is" in " ".join(step.heard)  # the ticket did not wait for anyone
        worker = Worker(app)
        worker.run_until_idle()
        assert hook.hits["/hook"] == 1
        with session_scope(services(app).sessionmaker) as s:
            job = s.scalars(select(Job).where(Job.kind == "notify.webhook")).one()
            assert job.status == "queued" and "HTTP 500" in job.last_error
            job.run_after = utcnow() - timedelta(seconds=1)
        worker.run_until_idle()
        assert hook.hits["/hook"] == 2
        sent = json.loads(hook.bodies[-1])
        assert sent["ticket"]["reference"] in sent["text"] and sent["ticket"]["caller"] == driver.caller
        with session_scope(services(app).sessionmaker) as s:
            assert s.scalars(select(Job).where(Job.kind == "notify.webhook")).one().status == "done"


def cli(tmp_path, db_url):
    """Runs `python -m ivr ARGS` in this process on the app it builds from that environment."""
    app = cli_app(tmp_path / "instance", DATABASE_URL=db_url)
    return lambda *args: invoke_cli(app, *args)


@pytest.mark.slow
def test_users_and_tickets_commands(app, call, tmp_path):
    url = app.config["IVR_SETTINGS"].sqlalchemy_url
    run = cli(tmp_path, url)
    added = run("users", "add", "ops@example.com", "--role", "admin", "--generate")
    assert added.returncode == 0 and "password: " in added.stdout
    assert run("users", "add", "ops@example.com", "--generate").returncode == 1
    assert json.loads(run("users", "list", "--json").stdout)[0]["email"] == "ops@example.com"
    token = run("users", "token", "ops@example.com").stdout.strip()
    assert token.startswith("ivr_")
    t = leave_voicemail(app, call, transcript="my order never came")
    listed = json.loads(run("tickets", "list", "--json").stdout)
    assert [r["reference"] for r in listed] == [t.reference]
    shown = run("tickets", "show", t.reference.lower())
    assert "my order never came" in shown.stdout
    assert "resolved" in run("tickets", "resolve", t.reference).stdout
    exported = run("tickets", "export", "--format", "json").stdout
    assert json.loads(exported)[0]["status"] == "resolved"
    assert run("tickets", "export", "--format", "csv").stdout.startswith("id,reference")
    missing = run("tickets", "show", "ZZ999")
    assert missing.returncode == 1 and "no ticket" in missing.stderr
    last_admin = run("users", "disable", "ops@example.com")
    assert last_admin.returncode == 1 and "last active admin" in last_admin.stderr
    assert run("users", "add", "temp@example.com", "--generate").returncode == 0
    assert run("users", "disable", "temp@example.com").returncode == 0


@pytest.mark.slow
def test_retention_purge_deletes_old_audio_and_keeps_tickets(app, call, tmp_path):
    from ivr.recordings.retention import purge_recordings
    from ivr.recordings.store import get_store

    old, new = leave_voicemail(app, call, transcript="old one"), leave_voicemail(app, call, transcript="new one")
    store = get_store(app)
    with session_scope(services(app).sessionmaker) as s:
        for t in (old, new):
            s.get(Ticket, t.id).recording_path = store.save(t.id, t.recording_sid, b"RIFF-audio")
        s.get(Ticket, old.id).created_at = utcnow() - timedelta(days=40)
    assert [d["ticket"] for d in purge_recordings(app, 30, dry_run=True)] == [old.reference]
    with session_scope(services(app).sessionmaker) as s:
        assert store.exists(s.get(Ticket, old.id).recording_path)
    url = app.config["IVR_SETTINGS"].sqlalchemy_url
    env_path = app.config["IVR_SETTINGS"].instance_path
    proc = invoke_cli(cli_app(env_path, DATABASE_URL=url), "tickets", "purge", "--days", "30", "--json")
    assert proc.returncode == 0, proc.stderr
    assert [d["ticket"] for d in json.loads(proc.stdout)["deleted"]] == [old.reference]
    with session_scope(services(app).sessionmaker) as s:
        o, n = s.get(Ticket, old.id), s.get(Ticket, new.id)
        assert o.recording_purged_at and not store.exists(o.recording_path) and o.transcript == "old one"
        assert n.recording_purged_at is None and store.exists(n.recording_path)


def start_smtp_server(controller_class, handler):
    """aiosmtpd can't listen on port 0, so take a free ephemeral port; retry if another process won it."""
    import socket

    for _ in range(5):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        controller = controller_class(handler, hostname="127.0.0.1", port=port)
        try:
            controller.start()
            return controller
        except OSError:
            continue
    raise RuntimeError("no free port for the SMTP server")


def test_email_notification_reaches_a_real_smtp_server(settings_overrides):
    """A real SMTP server (aiosmtpd, on 127.0.0.1) receives the notification."""
    from aiosmtpd.controller import Controller

    received = []

    class Capture:
        async def handle_DATA(self, server, session, envelope):
            received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content.decode()))
            return "250 OK"

    controller = start_smtp_server(Controller, Capture())
    port = controller.port
    from ivr.simulate.driver import CallDriver, FlaskTransport

    from .conftest import make_test_app

    with FakeServer() as api:
        app = make_test_app({**settings_overrides, "twilio_api_base": api.url, "extra": {
            "IVR_TTS": "off", "IVR_RECORDING_JOB_FETCH_SECONDS": "0.5", "IVR_SMTP_HOST": "127.0.0.1",
            "IVR_SMTP_PORT": str(port), "IVR_SMTP_TLS": "false", "IVR_SMTP_FROM": "ivr@shop.example",
            "IVR_NOTIFY_EMAILS": "desk@shop.example"}})
        driver = CallDriver(FlaskTransport(app.test_client()), "http://localhost", AUTH_TOKEN,
                            account_sid=ACCOUNT_SID, caller="+15550001111")
        driver.start()
        driver.press("8")  # the message key
        driver.record(seconds=5)
        Worker(app).run_until_idle()
    controller.stop()
    assert len(received) == 1
    mailfrom, rcpttos, data = received[0]
    assert mailfrom == "ivr@shop.example" and rcpttos == ["desk@shop.example"]
    assert "New voicemail" in data and "+15550001111" in data
