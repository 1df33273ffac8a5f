"""Security and robustness of the Twilio-facing routes: signatures, errors, settings."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from twilio.request_validator import RequestValidator

from ivr import spool
from ivr.config import ConfigError, load_settings
from ivr.flow import engine as flow
from ivr.services import services
from ivr.simulate.twiml_check import TwimlError, check_twiml
from ivr.tickets.models import Ticket

from .conftest import ACCOUNT_SID, AUTH_TOKEN, ROOT, cli_env

TWILIO_ROUTES = [
    "/voice",
    "/voice/state/menu?name=main",
    "/voice/state/ask",
    "/voice/input/main?attempt=0",
    "/voice/state/message_saved",
    "/voice/status",
    "/voice/recording-status",
]
PARAMS = {"CallSid": "CA" + "a" * 32, "From": "+15005550006", "To": "+15005550001", "Digits": "1",
          "RecordingSid": "RE" + "b" * 32, "RecordingUrl": "https://api.twilio.com/x", "RecordingDuration": "3"}


def sign(url: str, params: dict, token: str = AUTH_TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, params)


@pytest.mark.parametrize("route", TWILIO_ROUTES)
def test_missing_signature_is_forbidden(app, route):
    resp = app.test_client().post(route, data=PARAMS)
    assert resp.status_code == 403


@pytest.mark.parametrize("route", TWILIO_ROUTES)
def test_forged_signature_is_forbidden(app, route):
    forged = sign("http://localhost" + route, PARAMS, token="9" * 32)
    resp = app.test_client().post(route, data=PARAMS, headers={"X-Twilio-Signature": forged})
    assert resp.status_code == 403


def test_tampered_parameters_are_forbidden(app):
    good = sign("http://localhost/voice", PARAMS)
    resp = app.test_client().post("/voice", data={**PARAMS, "From": "+19999999999"},
                                  headers={"X-Twilio-Signature": good})
    assert resp.status_code == 403


# What each Twilio route answers to a valid request: TwiML (200) or an empty acknowledgement (204).
ROUTE_STATUS = {"/voice/status": 204, "/voice/recording-status": 204}


@pytest.mark.parametrize("route", TWILIO_ROUTES)
def test_valid_signature_is_accepted(app, route):
    resp = app.test_client().post(route, data=PARAMS,
                                  headers={"X-Twilio-Signature": sign("http://localhost" + route, PARAMS)})
    assert resp.status_code == ROUTE_STATUS.get(route.split("?")[0], 200)
    if resp.status_code == 200:
        check_twiml(resp.data)


@pytest.mark.parametrize("route", TWILIO_ROUTES)
def test_twilio_routes_take_only_post(app, route):
    """Twilio is configured to POST; a GET (even a correctly signed one) is refused as a method."""
    signed = sign("http://localhost" + route, {})
    assert app.test_client().get(route, headers={"X-Twilio-Signature": signed}).status_code == 405


FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "ivr.example.org", "X-Forwarded-For": "203.0.113.9"}


def test_forwarded_headers_are_ignored_unless_a_proxy_is_trusted(app):
    """Without IVR_TRUSTED_PROXIES anyone could send X-Forwarded-Host and pick the URL that gets checked."""
    resp = app.test_client().post("/voice", data=PARAMS, headers={
        "X-Twilio-Signature": sign("https://ivr.example.org/voice", PARAMS), **FORWARDED})
    assert resp.status_code == 403
    resp = app.test_client().post("/voice", data=PARAMS, headers={
        "X-Twilio-Signature": sign("http://localhost/voice", PARAMS), **FORWARDED})
    assert resp.status_code == 200


def test_signature_checked_against_the_url_a_trusted_proxy_received(settings_overrides):
    """Behind one trusted TLS-terminating proxy Twilio signs the https URL the caller-facing host has."""
    from .conftest import make_test_app

    app = make_test_app({**settings_overrides, "trusted_proxies": 1})
    resp = app.test_client().post("/voice", data=PARAMS, headers={
        "X-Twilio-Signature": sign("https://ivr.example.org/voice", PARAMS), **FORWARDED})
    assert resp.status_code == 200
    resp = app.test_client().post("/voice", data=PARAMS, headers={
        "X-Twilio-Signature": sign("http://localhost/voice", PARAMS), **FORWARDED})
    assert resp.status_code == 403


def test_public_base_url_is_what_gets_verified(settings_overrides):
    from .conftest import make_test_app

    app = make_test_app({**settings_overrides, "public_base_url": "https://help.example.com"})
    good = sign("https://help.example.com/voice", PARAMS)
    assert app.test_client().post("/voice", data=PARAMS, headers={"X-Twilio-Signature": good}).status_code == 200
    local = sign("http://localhost/voice", PARAMS)
    assert app.test_client().post("/voice", data=PARAMS, headers={"X-Twilio-Signature": local}).status_code == 403


def test_turning_the_check_off_needs_a_setting_and_warns(settings_overrides, caplog):
    from .conftest import make_test_app

    with caplog.at_level("WARNING"):
        app = make_test_app({**settings_overrides, "validate_twilio_signature": False})
    assert "TWILIO_VALIDATE_SIGNATURE is off" in caplog.text
    assert app.test_client().post("/voice", data=PARAMS).status_code == 200


def test_exception_inside_a_route_is_answered_with_an_apology(app, call, monkeypatch):
    def broken(ctx, **params):
        raise RuntimeError("database on fire")

    monkeypatch.setitem(flow.STATES, "order", broken)
    driver = call()
    driver.start()
    step = driver.press("3")
    assert services(app).prompts.text("error_apology") in " ".join(step.heard)
    assert step.waiting == "record"  # the apology offers a message
    driver.record(seconds=5)  # and that message still becomes a ticket
    session = services(app).sessionmaker()
    assert session.scalar(select(func.count()).select_from(Ticket)) == 1
    session.close()


def test_unknown_state_or_menu_goes_to_main_menu(app):
    client = app.test_client()
    for route in ("/voice/state/nope", "/voice/input/nope"):
        resp = client.post(route, data=PARAMS, headers={"X-Twilio-Signature": sign("http://localhost" + route, PARAMS)})
        assert resp.status_code == 200
        assert services(app).prompts.text("choice_ask", key="1") in resp.get_data(as_text=True)


def test_voicemail_survives_a_database_failure(app, call, monkeypatch):
    """If the ticket can't be written when Twilio calls back, the spooled copy becomes it later."""
    import ivr.tickets.service as service

    def db_down(session, cb):
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    monkeypatch.setattr(service, "create_ticket", db_down)
    driver = call()
    driver.start()
    driver.press("8")  # the message key
    step = driver.record(seconds=8)
    assert services(app).prompts.text("message_saved_no_reference") in " ".join(step.heard)
    settings = app.config["IVR_SETTINGS"]
    assert spool.pending(settings.instance_path) == 2  # the action callback and the status callback
    session = services(app).sessionmaker()
    assert session.scalar(select(func.count()).select_from(Ticket)) == 0
    assert spool.replay(app).kept == 2  # still down: kept, in order
    monkeypatch.undo()
    assert spool.replay(app).applied == 2
    ticket = session.scalars(select(Ticket)).one()
    assert ticket.recording_sid == driver.recordings[0]["RecordingSid"]
    assert ticket.call_sid == driver.call_sid and ticket.recording_duration == 8
    assert spool.pending(settings.instance_path) == 0 and not spool.quarantined(settings.instance_path)
    session.close()


# --------------------------------------------------------------------------- settings

BASE_ENV = {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "SECRET_KEY": "s" * 32}


@pytest.mark.parametrize("change,named", [
    ({"TWILIO_ACCOUNT_SID": ""}, "TWILIO_ACCOUNT_SID"),
    ({"TWILIO_ACCOUNT_SID": "XY123"}, "TWILIO_ACCOUNT_SID"),
    ({"TWILIO_AUTH_TOKEN": ""}, "TWILIO_AUTH_TOKEN"),
    ({"TWILIO_AUTH_TOKEN": "short"}, "TWILIO_AUTH_TOKEN"),
    ({"SECRET_KEY": ""}, "SECRET_KEY"),
    ({"DATABASE_URL": "not a url"}, "DATABASE_URL"),
    ({"PUBLIC_BASE_URL": "ivr.example.com"}, "PUBLIC_BASE_URL"),
    ({"TWILIO_VALIDATE_SIGNATURE": "maybe"}, "TWILIO_VALIDATE_SIGNATURE"),
    ({"IVR_MAX_MESSAGE_SECONDS": "lots"}, "IVR_MAX_MESSAGE_SECONDS"),
    ({"IVR_TTS_RATE": "fast"}, "IVR_TTS_RATE"),
    ({"IVR_TTS": "loud"}, "IVR_TTS"),
    ({"IVR_TTS_VOLUME": "2"}, "IVR_TTS_VOLUME"),
    ({"IVR_SPEECH": "google"}, "IVR_SPEECH"),
    ({"IVR_SMTP_PORT": "smtp"}, "IVR_SMTP_PORT"),
    ({"IVR_NOTIFY_EMAILS": "desk at shop", "IVR_SMTP_HOST": "mail"}, "IVR_NOTIFY_EMAILS"),
    ({"IVR_NOTIFY_EMAILS": "desk@shop.example"}, "IVR_SMTP_HOST"),
    ({"IVR_TRUSTED_PROXIES": "all"}, "IVR_TRUSTED_PROXIES"),
    ({"IVR_DB_LOCK_TIMEOUT": "60"}, "IVR_DB_LOCK_TIMEOUT"),
    ({"IVR_RECORDING_RETENTION_DAYS": "-1"}, "IVR_RECORDING_RETENTION_DAYS"),
    ({"LOG_LEVEL": "loud"}, "LOG_LEVEL"),
])
def test_bad_settings_fail_naming_the_setting(change, named):
    with pytest.raises(ConfigError, match=named):
        load_settings({**BASE_ENV, **change})


def test_defaults_need_no_server():
    settings = load_settings(BASE_ENV)
    assert settings.sqlalchemy_url.startswith("sqlite:///") and "instance" in settings.sqlalchemy_url


def test_every_setting_is_typed_and_read_in_one_place():
    """Nothing but ivr/config.py reads the environment; every IVR_* variable is a Settings field."""
    from ivr.config import ENV_NAMES

    # Child processes (the TTS renderer, gunicorn) may inherit the environment whole; nobody reads it.
    reads = re.compile(r"os\.environ(\.get|\[|\.setdefault)|getenv\(")
    readers = [p.relative_to(ROOT).as_posix() for p in (ROOT / "ivr").rglob("*.py")
               if p.name != "config.py" and reads.search(p.read_text())]
    assert readers == []
    settings = load_settings({**BASE_ENV, "IVR_TTS_RATE": "180", "IVR_TTS": "off", "IVR_SPEECH": "twilio"})
    assert (settings.tts_rate, settings.tts_enabled, settings.speech) == (180, False, "twilio")
    assert "IVR_TTS_RATE" in ENV_NAMES and "VOSK_MODEL_PATH" in ENV_NAMES


def test_a_malformed_setting_stops_the_cli_with_one_line(tmp_path):
    env = cli_env(tmp_path, IVR_TTS_RATE="fast")
    proc = subprocess.run([sys.executable, "-m", "ivr", "calls", "list"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == ["error: IVR_TTS_RATE must be a whole number, got 'fast'"]


def test_service_refuses_to_start_with_one_clear_line(tmp_path):
    env = cli_env(tmp_path, TWILIO_ACCOUNT_SID=None)
    proc = subprocess.run([sys.executable, "-m", "ivr", "calls", "list"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0
    assert "TWILIO_ACCOUNT_SID is not set" in proc.stderr


# --------------------------------------------------------------------------- TwiML checker

@pytest.mark.parametrize("doc", [
    "<Response><Sayy>hi</Sayy></Response>",
    "<Response><Gather inputt='dtmf'/></Response>",
    "<Response><Gather input='keys'/></Response>",
    "<Response><Gather><Record/></Gather></Response>",
    "<Response><Redirect/></Response>",
    "<Response><Say>unclosed</Response>",
    "<Reply/>",
])
def test_twiml_checker_rejects_what_twilio_rejects(doc):
    with pytest.raises(TwimlError):
        check_twiml(doc)
