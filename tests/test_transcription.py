"""Without a Vosk model, Twilio's transcription of a voicemail is stored on its ticket (engine "twilio")."""
from __future__ import annotations

import secrets

from sqlalchemy import func, select

from ivr.recordings.jobs import transcribe_voicemail
from ivr.services import services
from ivr.tickets.models import Ticket

TEXT = "Hi, my blender arrived with a cracked jug, please call me back."


def transcription_callback(driver, recording: dict, status: str = "completed", text: str = TEXT):
    """Twilio's transcribeCallback, as its documentation lists the parameters."""
    params = {**driver._base_params(), "RecordingSid": recording["RecordingSid"],
              "RecordingUrl": recording["RecordingUrl"], "TranscriptionSid": "TR" + secrets.token_hex(16),
              "TranscriptionStatus": status, "TranscriptionType": "fast",
              "TranscriptionUrl": f"https://api.twilio.com/2010-04-01/Accounts/{driver.account_sid}/Transcriptions/TR1",
              "url": driver.base_url + "voice/state/message_saved"}
    if status == "completed":
        params["TranscriptionText"] = text
    return driver.signed_post(driver.base_url + "voice/transcription", params)


def leave_message(call, db):
    driver = call(caller="+15551230001")
    driver.start()
    step = driver.press("8")  # the message key
    # No Vosk model here: the message's <Record> asks Twilio for the transcript.
    assert step.waiting == "record"
    record = driver._waiting_el
    assert (record.get("transcribe"), record.get("transcribeCallback")) == ("true", "/voice/transcription")
    driver.record(seconds=9)
    return driver, db.scalars(select(Ticket)).one()


def test_twilio_transcription_is_stored_on_the_ticket_once(app, call, db):
    driver, ticket = leave_message(call, db)
    assert ticket.transcript is None
    status, _ = transcription_callback(driver, driver.recordings[0])
    assert status == 204
    db.expire_all()
    ticket = db.get(Ticket, ticket.id)
    assert (ticket.transcript, ticket.transcript_status, ticket.transcript_engine) == (TEXT, "done", "twilio")
    # Twilio repeats itself: nothing changes. Our own job (no model here) doesn't undo it either.
    assert transcription_callback(driver, driver.recordings[0], text="something else")[0] == 204
    transcribe_voicemail(app, {"ticket_id": ticket.id})
    db.expire_all()
    ticket = db.get(Ticket, ticket.id)
    assert ticket.transcript == TEXT and ticket.transcript_status == "done" and ticket.transcript_engine == "twilio"
    # Staff search finds it, and the ticket page says which engine wrote it.
    assert db.scalar(select(func.count()).select_from(Ticket).where(Ticket.transcript.contains("blender"))) == 1
    from ivr.db import session_scope
    from ivr.users.service import create_user

    from .test_dashboard import PASSWORD, login

    with session_scope(services(app).sessionmaker) as s:
        create_user(s, "agent@example.com", "agent", PASSWORD)
    client = app.test_client()
    login(client)
    page = client.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert TEXT in page and "Transcribed by Twilio" in page


def test_our_failure_then_twilio_success_ends_with_a_transcript(app, call, db):
    driver, ticket = leave_message(call, db)
    transcribe_voicemail(app, {"ticket_id": ticket.id})  # no Vosk model installed for English
    db.expire_all()
    assert db.get(Ticket, ticket.id).transcript_status == "failed"
    transcription_callback(driver, driver.recordings[0])
    db.expire_all()
    ticket = db.get(Ticket, ticket.id)
    assert ticket.transcript_status == "done" and ticket.transcript_engine == "twilio" and ticket.transcript_error is None


def test_twilio_failing_to_transcribe_is_recorded(app, call, db):
    driver, ticket = leave_message(call, db)
    assert transcription_callback(driver, driver.recordings[0], status="failed")[0] == 204
    db.expire_all()
    ticket = db.get(Ticket, ticket.id)
    assert ticket.transcript_status == "failed" and ticket.transcript_engine == "twilio"
    assert "Twilio could not transcribe" in ticket.transcript_error


def test_transcription_for_a_voicemail_we_never_heard_of_makes_its_ticket(app, call, db):
    driver = call(caller="+15551230002")
    driver.start()
    recording = {"RecordingSid": "RE" + secrets.token_hex(16),
                 "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/{driver.account_sid}/Recordings/RE1"}
    transcription_callback(driver, recording)
    ticket = db.scalars(select(Ticket).where(Ticket.recording_sid == recording["RecordingSid"])).one()
    assert ticket.kind == "voicemail" and ticket.caller == "+15551230002" and ticket.transcript == TEXT


def test_transcription_callback_needs_twilios_signature(app, call, db):
    driver, ticket = leave_message(call, db)
    client = app.test_client()
    resp = client.post("/voice/transcription", data={"RecordingSid": ticket.recording_sid,
                                                     "TranscriptionStatus": "completed", "TranscriptionText": "pwned"})
    assert resp.status_code == 403
    db.expire_all()
    assert db.get(Ticket, ticket.id).transcript is None


def test_twilio_is_asked_only_when_no_model_of_ours_can_transcribe(app, tmp_path):
    from dataclasses import replace

    from ivr.webhook.transcription import needs_twilio_transcript

    settings = app.config["IVR_SETTINGS"]
    assert needs_twilio_transcript(replace(settings, vosk_model_path=""))  # English, no model here
    model = tmp_path / "vosk-model-small-en-us-0.15"
    for part in ("am", "conf", "graph"):
        (model / part).mkdir(parents=True)
    (model / "am" / "final.mdl").write_bytes(b"x")
    (model / "conf" / "model.conf").write_text("")
    with_model = replace(settings, vosk_model_path=f"en={model}")
    assert not needs_twilio_transcript(with_model)
    assert not needs_twilio_transcript(replace(settings, vosk_model_path="", say_language="ko-KR"))  # English only
