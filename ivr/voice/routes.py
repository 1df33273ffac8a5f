"""Twilio-facing routes. Every one checks Twilio's signature and none ever answers with an error."""
from __future__ import annotations

import functools
import logging
from typing import Any, Callable

from flask import Blueprint, Response, current_app, request
from twilio.twiml.voice_response import VoiceResponse

from ..calls.log import mark_ended
from ..db import get_session
from ..spool import Rejected
from .context import CallContext
from .flow import STATES, handle_menu_input, store_voicemail
from .menus import MENUS
from .signature import twilio_only
from .speaker import SaySpeaker

log = logging.getLogger(__name__)
bp = Blueprint("voice", __name__, url_prefix="/voice")

RESERVED_ARGS = {"CallSid"}


def twiml(resp: VoiceResponse) -> Response:
    return Response(str(resp), mimetype="text/xml")


def apology() -> VoiceResponse:
    """What the caller hears when anything breaks: an apology and a chance to leave a message.

    Built from the in-memory catalogue with plain <Say>, touching neither the database nor the
    TTS cache, since either may be what failed.
    """
    settings = current_app.config["IVR_SETTINGS"]
    speaker = SaySpeaker(settings.say_voice, settings.say_language)
    resp = VoiceResponse()
    try:
        words = current_app.extensions["ivr.prompts"].text("error_apology")
        goodbye = current_app.extensions["ivr.prompts"].text("goodbye")
    except Exception:  # noqa: BLE001 - the catalogue itself is broken; still say something
        words, goodbye = "Sorry, something went wrong. Please leave a message after the tone.", "Goodbye."
    speaker.speak(resp, words)
    resp.record(action="/voice/state/message_saved", method="POST", max_length=settings.max_message_seconds,
                finish_on_key="#", play_beep=True, timeout=5,
                recording_status_callback="/voice/recording-status", recording_status_callback_method="POST",
                recording_status_callback_event="completed")
    speaker.speak(resp, goodbye)
    resp.hangup()
    return resp


def voice_route(view: Callable[..., VoiceResponse]) -> Callable[..., Response]:
    """Run a flow step in one transaction; on any error, log it and answer with the apology."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        session = get_session()
        try:
            ctx = CallContext(app=current_app._get_current_object(), session=session,
                              form=request.form, args=request.args)
            resp = view(ctx, *args, **kwargs)
            session.commit()
            return twiml(resp)
        except Exception:  # noqa: BLE001 - never answer Twilio with a 500
            log.exception("voice route %s failed for call %s", request.path, request.form.get("CallSid"))
            session.rollback()
            try:
                from ..calls.log import log_event

                if request.form.get("CallSid"):
                    log_event(session, request.form["CallSid"], "error", path=request.path)
                    session.commit()
            except Exception:  # noqa: BLE001
                session.rollback()
            return twiml(apology())

    return wrapper


def _params() -> dict[str, str]:
    return {k: v for k, v in request.args.items() if k not in RESERVED_ARGS}


@bp.post("")
@twilio_only
@voice_route
def incoming(ctx: CallContext) -> VoiceResponse:
    return STATES["start"](ctx)


@bp.post("/state/<name>")
@twilio_only
@voice_route
def run_state(ctx: CallContext, name: str) -> VoiceResponse:
    if name not in STATES:
        log.warning("unknown state %r requested; sending the caller to the main menu", name)
        return STATES["menu"](ctx, name="main")
    return STATES[name](ctx, **_params())


@bp.post("/input/<menu>")
@twilio_only
@voice_route
def menu_input(ctx: CallContext, menu: str) -> VoiceResponse:
    if menu not in MENUS:
        return STATES["menu"](ctx, name="main")
    params = _params()
    try:
        attempt = int(params.pop("attempt", 0))
    except ValueError:
        attempt = 0
    return handle_menu_input(ctx, menu, params, attempt)


@bp.post("/status")
@twilio_only
def call_status() -> tuple[str, int]:
    """Twilio's call status callback: close the call in the log. Twilio ignores the body."""
    session = get_session()
    sid = request.form.get("CallSid", "")
    if sid:
        try:
            mark_ended(session, sid, request.form.get("CallStatus", ""), request.form.get("CallDuration"))
            session.commit()
        except Exception:  # noqa: BLE001
            session.rollback()
            log.exception("could not record status for call %s", sid)
    return "", 204


@bp.post("/recording-status")
@twilio_only
def recording_status() -> tuple[str, int]:
    """Twilio's recording status callback: makes sure the ticket exists (idempotent)."""
    if request.form.get("RecordingStatus", "completed") != "completed" or not request.form.get("RecordingSid"):
        return "", 204
    ctx = CallContext(app=current_app._get_current_object(), session=get_session(),
                      form=request.form, args=request.args)
    try:
        store_voicemail(ctx)
    except Rejected as exc:  # malformed: Twilio never sends it, so retrying can't help
        log.warning("recording callback rejected: %s", exc)
        return str(exc), 400
    return "", 204
