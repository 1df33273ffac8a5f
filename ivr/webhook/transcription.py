"""Twilio's transcription of a voicemail, for when no Vosk model is installed (the fallback).

The message's <Record> then carries `transcribe="true" transcribeCallback="/voice/transcription"`;
Twilio posts TranscriptionStatus (completed | failed), TranscriptionText and the RecordingSid
here, signed like every webhook. The transcript is stored on the voicemail's ticket with
transcript_engine="twilio". Idempotent: a repeated callback changes nothing, and a transcript
our own engine already wrote is kept. If the ticket doesn't exist yet (its other callbacks were
lost), it is made from this callback: a voicemail is never lost.

The route joins the voice blueprint (imported before it is registered), so it shares its
signature check and its exemption from the dashboard's CSRF protection.
"""
from __future__ import annotations

import logging

from flask import Blueprint, current_app, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import get_session
from ..language import call_language
from ..recordings.fetch import RECORDING_SID_RE
from ..speech.policy import SpeechPolicy
from ..tickets.models import Ticket
from ..tickets.service import RecordingCallback, create_ticket
from ..twilio import paths
from ..twilio.signature import twilio_only

log = logging.getLogger(__name__)
TRANSCRIPTION_PATH = paths.TRANSCRIPTION
bp = Blueprint("voice_transcription", __name__, url_prefix=paths.VOICE)
ENGINE = "twilio"


def needs_twilio_transcript(settings, call_sid: str = "") -> bool:
    """Whether a voicemail's <Record> should ask Twilio to transcribe it (the fallback): the speech
    policy's answer for the call's language. Cheap (a folder listing, no model loading): safe on
    the request path. Use it as `record(..., transcribe=True, transcribe_callback=TRANSCRIPTION_PATH)`.
    """
    return SpeechPolicy(settings).twilio_transcribes_messages(call_language(settings, call_sid))


def store_twilio_transcript(session: Session, ticket: Ticket, status: str, text: str) -> bool:
    """Write Twilio's result on the ticket unless a transcript is already there. Returns True if changed."""
    if ticket.transcript_status == "done":
        return False
    if status == "completed":
        ticket.transcript = " ".join((text or "").split())
        ticket.transcript_status = "done"
        ticket.transcript_error = None
        ticket.transcript_confidence = None
    else:
        ticket.transcript_status = "failed"
        ticket.transcript_error = f"Twilio could not transcribe this message (status {status or 'unknown'})"
    ticket.transcript_engine = ENGINE
    return True


@bp.post(TRANSCRIPTION_PATH.removeprefix(paths.VOICE))
@twilio_only
def transcription() -> tuple[str, int]:
    """Twilio's transcribeCallback. Always 204 to Twilio (it ignores the body and never retries)."""
    form = request.form
    recording_sid = form.get("RecordingSid", "")
    status = (form.get("TranscriptionStatus") or "").lower()
    if not RECORDING_SID_RE.match(recording_sid) or status not in {"completed", "failed"}:
        log.warning("ignored a transcription callback without a recording sid or status: %r %r", recording_sid, status)
        return "", 204
    session = get_session()
    try:
        ticket = session.scalar(select(Ticket).where(Ticket.recording_sid == recording_sid))
        if ticket is None:
            ticket, _ = create_ticket(session, RecordingCallback.from_form(dict(form)))
        changed = store_twilio_transcript(session, ticket, status, form.get("TranscriptionText", ""))
        session.commit()
        if changed:
            log.info("Twilio transcription %s stored on ticket %s", status, ticket.reference)
    except Exception:
        session.rollback()
        current_app.logger.exception("could not store Twilio's transcription of %s", recording_sid)
    return "", 204
