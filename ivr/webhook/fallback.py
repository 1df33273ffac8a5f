"""Twilio's "primary handler fails" URL: an apology and a message, with no database at all.

Twilio requests this URL when /voice errs or times out (set it as the number's Voice fallback
URL). Everything here works from memory: the words come from the loaded prompt catalogue and
are spoken with <Say>, and the message is kept in the durable spool, from which the worker
makes the ticket once the database is back. It is the last line: it must not depend on any of
the things whose failure brought the caller here.
"""
from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, request
from twilio.twiml.voice_response import VoiceResponse

from ..calls.events import Event
from ..calls.journal import PendingEvent, journal
from ..services import services
from ..tickets.service import RecordingCallback, spool_callback
from ..twilio.signature import twilio_only
from ..twiml.speaker import SaySpeaker

log = logging.getLogger(__name__)
bp = Blueprint("voice_fallback", __name__, url_prefix="/voice/fallback")

DEFAULT_WORDS = {
    "error_apology": "Sorry, something went wrong on our side. Please leave a message after the tone.",
    "message_saved_no_reference": "Thank you. Your message is saved and our team will get back to you.",
    "no_message": "I didn't get a message.",
    "goodbye": "Thank you for calling. Goodbye.",
}


def t(prompt_id: str) -> str:
    """A prompt's words from the loaded catalogue (named `t` like every lookup, so `prompts check` sees it)."""
    try:
        return services().prompts.text(prompt_id)
    except Exception:  # noqa: BLE001 - even a broken catalogue must not silence the caller
        return DEFAULT_WORDS[prompt_id]


def _twiml(resp: VoiceResponse) -> Response:
    return Response(str(resp), mimetype="text/xml")


def _speaker() -> SaySpeaker:
    settings = current_app.config["IVR_SETTINGS"]
    return SaySpeaker(settings.say_voice, settings.say_language)


def _note_in_spool(settings) -> None:
    """Note the call and the failure in the spool (a file, not the database): the call's log shows
    what happened, and reconciliation knows this call was offered a message."""

    sid = request.form.get("CallSid", "")
    if not sid:
        return
    try:
        journal(settings.instance_path, sid[:64], request.form.get("From", "")[:64], request.form.get("To", "")[:64],
                [PendingEvent(Event.ERROR, {"path": "/voice/fallback",
                                            "twilio_error": request.form.get("ErrorCode", "")[:16],
                                            "error_url": request.form.get("ErrorUrl", "")[:300]}),
                 PendingEvent(Event.MESSAGE_PROMPT, {"via": "fallback"})])
    except Exception:
        log.exception("could not note fallback call %s in the spool", sid)


def apology_twiml(record_action: str, *, say_if_nothing_recorded: bool) -> VoiceResponse:
    """An apology and a chance to leave a message, from memory only: the catalogue's words spoken
    with <Say>, touching neither the database nor the TTS cache, since either may be what failed.
    The route that answers when a state breaks and the fallback URL both use it."""
    settings = current_app.config["IVR_SETTINGS"]
    speaker = _speaker()
    resp = VoiceResponse()
    speaker.speak(resp, t("error_apology"))
    resp.record(action=record_action, method="POST", max_length=settings.max_message_seconds,
                finish_on_key="#", play_beep=True, timeout=5,
                recording_status_callback="/voice/recording-status", recording_status_callback_method="POST",
                recording_status_callback_event="completed")
    # Twilio goes on here only when nothing was recorded.
    if say_if_nothing_recorded:
        speaker.speak(resp, t("no_message"))
    speaker.speak(resp, t("goodbye"))
    resp.hangup()
    return resp


@bp.post("")
@twilio_only
def answer() -> Response:
    """Apologise and record a message."""
    log.error("Twilio used the fallback URL for call %s: error %s at %s", request.form.get("CallSid"),
              request.form.get("ErrorCode"), request.form.get("ErrorUrl"))
    _note_in_spool(current_app.config["IVR_SETTINGS"])
    return _twiml(apology_twiml("/voice/fallback/saved", say_if_nothing_recorded=True))


@bp.post("/saved")
@twilio_only
def saved() -> Response:
    """The message was recorded: keep it in the spool (no database) and say goodbye."""
    speaker = _speaker()
    resp = VoiceResponse()
    if request.form.get("RecordingSid"):
        try:
            spool_callback(current_app.config["IVR_SETTINGS"].instance_path,
                           RecordingCallback.from_form(request.form.to_dict(flat=True)))
        except Exception:
            log.exception("could not spool fallback recording %s", request.form.get("RecordingSid"))
        speaker.speak(resp, t("message_saved_no_reference"))
    else:
        speaker.speak(resp, t("no_message"))
    speaker.speak(resp, t("goodbye"))
    resp.hangup()
    return _twiml(resp)
