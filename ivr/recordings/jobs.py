"""Background work on a new voicemail: keep our own copy, then transcribe it with Vosk.

Both steps are durable jobs (see ivr/jobs): a crash mid-way is picked up on restart, failures
retry with back-off, and a final failure is written on the ticket — which, like its
recording, is never deleted by any of this.
"""
from __future__ import annotations

from flask import Flask

from ..db import session_scope, utcnow
from ..jobs.queue import enqueue, job_handler, on_final_failure
from ..tickets.models import Ticket
from .fetch import delete_recording, fetch_recording
from .store import get_store


@job_handler("recording.fetch")
def fetch_voicemail(app: Flask, payload: dict) -> None:
    settings = app.config["IVR_SETTINGS"]
    sessions = app.extensions["ivr.sessionmaker"]
    with session_scope(sessions) as session:
        ticket = session.get(Ticket, payload["ticket_id"])
        if ticket is None:
            return
        store = get_store(app)
        captured = store.captured_path(ticket.recording_sid)  # recorded from a Media Stream, not at Twilio
        if not (ticket.recording_path and store.exists(ticket.recording_path)):
            if captured.is_file():
                data = captured.read_bytes()
            else:
                budget = float(settings.extra.get("IVR_RECORDING_JOB_FETCH_SECONDS") or 30)
                data = fetch_recording(settings, ticket.recording_sid, timeout_seconds=budget)
            ticket.recording_path = store.save(ticket.id, ticket.recording_sid, data)
            ticket.recording_stored_at = utcnow()
        if captured.is_file():
            pass  # Twilio never had it; our copy is dropped once the ticket points at the stored one
        elif (settings.extra.get("IVR_DELETE_AT_TWILIO") or "false").lower() in {"1", "true", "yes", "on"}:
            # Our copy is on disk (fsynced): Twilio's can go. Deleting twice is harmless (404 = done),
            # so a retried job skips the download and only retries this.
            delete_recording(settings, ticket.recording_sid)
        if ticket.transcript_status in ("none", "failed"):
            ticket.transcript_status = "pending"
            enqueue(session, "voicemail.transcribe", {"ticket_id": ticket.id})
    if captured.is_file():
        captured.unlink()  # committed: the ticket now points at the stored (fsynced) copy
    worker = app.extensions.get("ivr.worker")
    if worker is not None:
        worker.wake()


@job_handler("voicemail.transcribe")
def transcribe_voicemail(app: Flask, payload: dict) -> None:
    from ..speech.audio import AudioError
    from ..speech.engine import get_engine

    settings = app.config["IVR_SETTINGS"]
    with session_scope(app.extensions["ivr.sessionmaker"]) as session:
        ticket = session.get(Ticket, payload["ticket_id"])
        if ticket is None or ticket.transcript_status == "done":
            return
        engine = get_engine(settings, settings.say_language.split("-")[0])
        if engine is None:
            ticket.transcript_status = "failed"
            ticket.transcript_error = "no speech model installed (python -m ivr models download en)"
            return
        audio = get_store(app).path_for(ticket.recording_path).read_bytes()
        try:
            transcript = engine.transcribe(audio)
        except AudioError as exc:  # the file won't get better by retrying
            ticket.transcript_status, ticket.transcript_error = "failed", f"unreadable recording: {exc}"
            return
        ticket.transcript = transcript.text
        ticket.transcript_confidence = round(transcript.confidence, 4)
        ticket.transcript_status = "done"
        ticket.transcript_error = None


def _mark_failed(app: Flask, payload: dict, error: str) -> None:
    with session_scope(app.extensions["ivr.sessionmaker"]) as session:
        ticket = session.get(Ticket, payload.get("ticket_id"))
        if ticket is not None and ticket.transcript_status != "done":
            ticket.transcript_status = "failed"
            ticket.transcript_error = error


on_final_failure("recording.fetch")(_mark_failed)
on_final_failure("voicemail.transcribe")(_mark_failed)
