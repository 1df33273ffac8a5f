"""Background work on a new voicemail: keep our own copy, then transcribe it with Vosk.

Both steps are durable jobs (see ivr/jobs): a crash mid-way is picked up on restart, failures
retry with back-off, and a final failure is written on the ticket — which, like its
recording, is never deleted by any of this.
"""
from __future__ import annotations

from flask import Flask

from ..db import session_scope, utcnow
from ..jobs.queue import enqueue
from ..language import line_language
from ..services import services
from ..speech.audio import AudioError
from ..tickets.models import Ticket
from .fetch import delete_recording, fetch_recording
from .store import captured_path, get_store


def fetch_voicemail(app: Flask, payload: dict) -> None:
    settings = app.config["IVR_SETTINGS"]
    sessions = services(app).sessionmaker
    store = get_store(app)
    with session_scope(sessions) as session:  # short: no network while a transaction is open
        ticket = session.get(Ticket, payload["ticket_id"])
        if ticket is None:
            return
        ticket_id, recording_sid, stored = ticket.id, ticket.recording_sid, ticket.recording_path
    captured = captured_path(settings, recording_sid)  # recorded from a Media Stream: Twilio never had it
    if not (stored and store.exists(stored)):
        if captured.is_file():
            data = captured.read_bytes()
        else:
            budget = settings.recording_job_fetch_seconds
            data = fetch_recording(settings, recording_sid, timeout_seconds=budget)
        stored = store.save(ticket_id, recording_sid, data)
        with session_scope(sessions) as session:
            ticket = session.get(Ticket, ticket_id)
            ticket.recording_path, ticket.recording_stored_at = stored, utcnow()
    if captured.is_file():
        captured.unlink()  # the store has it now (fsynced or committed), and the ticket points at it
    elif settings.delete_at_twilio:
        # Our copy is stored (fsynced or committed): Twilio's can go. Deleting twice is harmless
        # (404 = done), so a retried job skips the download and only retries this.
        delete_recording(settings, recording_sid)
    with session_scope(sessions) as session:
        ticket = session.get(Ticket, ticket_id)
        if ticket.transcript_status in ("none", "failed"):
            ticket.transcript_status = "pending"
            enqueue(session, "voicemail.transcribe", {"ticket_id": ticket.id})
    worker = services(app).worker
    if worker is not None:
        worker.wake()


def transcribe_voicemail(app: Flask, payload: dict) -> None:
    settings = app.config["IVR_SETTINGS"]
    sessions = services(app).sessionmaker
    with session_scope(sessions) as session:
        ticket = session.get(Ticket, payload["ticket_id"])
        if ticket is None or ticket.transcript_status == "done":
            return
        ticket_id, stored = ticket.id, ticket.recording_path
    # Model loading and decoding take seconds: done with no transaction open.
    engine = services(app).speech.engine(line_language(settings))
    transcript, error = None, None
    if engine is None:
        error = "no speech model installed (python -m ivr models download en)"
    else:
        audio = get_store(app).read(stored)
        try:
            transcript = engine.transcribe(audio)
        except AudioError as exc:  # the file won't get better by retrying
            error = f"unreadable recording: {exc}"
    with session_scope(sessions) as session:
        ticket = session.get(Ticket, ticket_id)
        if ticket is None:
            return
        if transcript is None:
            ticket.transcript_status, ticket.transcript_error = "failed", error
            return
        ticket.transcript = transcript.text
        ticket.transcript_confidence = round(transcript.confidence, 4)
        ticket.transcript_status = "done"
        ticket.transcript_error = None
        ticket.transcript_engine = "vosk"


def mark_failed(app: Flask, payload: dict, error: str) -> None:
    with session_scope(services(app).sessionmaker) as session:
        ticket = session.get(Ticket, payload.get("ticket_id"))
        if ticket is not None and ticket.transcript_status != "done":
            ticket.transcript_status = "failed"
            ticket.transcript_error = error
