"""Twilio-facing routes. Every one checks Twilio's signature and none ever answers with an error."""
from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, current_app, request
from twilio.twiml.voice_response import VoiceResponse

from ..calls.events import Event
from ..calls.journal import journal_status
from ..calls.log import mark_ended
from ..calls.models import Call
from ..db import get_session
from ..flow.actions import Step, Turn
from ..flow.context import CallContext
from ..flow.engine import handle_input, start_call
from ..flow.engine import run_state as run_step
from ..language import call_language
from ..services import services
from ..spool import TRANSIENT, Rejected
from ..tickets.service import RecordingCallback, store_voicemail
from ..twilio import paths
from ..twilio.signature import twilio_only
from ..twiml.renderer import TwimlRenderer, input_from_form
from .fallback import apology_twiml
from .stream_offer import answer as media_stream_answer
from .transcription import needs_twilio_transcript

log = logging.getLogger(__name__)
bp = Blueprint("voice", __name__, url_prefix=paths.VOICE)

RESERVED_ARGS = {"CallSid"}


def twiml(resp: VoiceResponse) -> Response:
    return Response(str(resp), mimetype="text/xml")


def apology() -> VoiceResponse:
    """What the caller hears when anything breaks: an apology and a chance to leave a message."""
    return apology_twiml(paths.MESSAGE_SAVED, say_if_nothing_recorded=False)


def call_context(session) -> CallContext:
    """The call as Twilio's webhook form describes it, with what the caller just did."""
    form = request.form
    return CallContext(app=current_app._get_current_object(), session=session,
                       call_sid=form.get("CallSid", "") or request.args.get("CallSid", ""),
                       caller=form.get("From", ""), to=form.get("To", ""), input=input_from_form(form))


def render(turn: Turn) -> VoiceResponse:
    settings = current_app.config["IVR_SETTINGS"]
    call_sid = request.form.get("CallSid", "")
    return TwimlRenderer(services().speaker, call_language(settings, call_sid).tag,
                         twilio_transcripts=needs_twilio_transcript(settings, call_sid)).render(turn)


def voice_route(view: Callable[..., Turn]) -> Callable[..., Response]:
    """Run a flow step in one transaction; on any error, log it and answer with the apology.

    The transaction is committed before the turn is rendered: speaking may render audio, and
    nothing slow happens while the database is held.
    """

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        session = get_session()
        ctx = call_context(session)
        try:
            turn = view(ctx, *args, **kwargs)
            if not ctx.commit():
                log.warning("database busy: call %s answered, its log kept in the spool", ctx.call_sid)
            return twiml(render(turn))
        except Exception:
            log.exception("voice route %s failed for call %s", request.path, request.form.get("CallSid"))
            session.rollback()
            ctx.log(Event.ERROR, path=request.path)
            try:
                ctx.journal()  # what the turn noted is kept; no database wait on the error path
            except Exception:
                log.exception("could not keep the call log of %s", ctx.call_sid)
            return twiml(apology())

    return wrapper


def _params() -> dict[str, str]:
    return {k: v for k, v in request.args.items() if k not in RESERVED_ARGS}


@bp.post("")
@twilio_only
def incoming() -> Response:
    try:
        streamed = media_stream_answer(current_app._get_current_object(), request)
    except Exception:
        log.exception("could not offer a media stream for call %s", request.form.get("CallSid"))
        get_session().rollback()
        streamed = None
    if streamed is not None:
        return twiml(streamed)
    return first_turn()


@voice_route
def first_turn(ctx: CallContext) -> Turn:
    return start_call(ctx)


@bp.post("/state/<name>")
@twilio_only
@voice_route
def run_state(ctx: CallContext, name: str) -> Turn:
    return run_step(ctx, Step(name, _params()))


@bp.post("/input/<menu>")
@twilio_only
@voice_route
def menu_input(ctx: CallContext, menu: str) -> Turn:
    return handle_input(ctx, menu, _params(), ctx.input)


@bp.post("/status")
@twilio_only
def call_status() -> tuple[str, int]:
    """Twilio's call status callback: close the call in the log. Twilio ignores the body."""

    session = get_session()
    sid = request.form.get("CallSid", "")
    status, duration = request.form.get("CallStatus", ""), request.form.get("CallDuration")
    if sid:
        try:
            mark_ended(session, sid, status, duration)
            session.commit()
        except TRANSIENT:
            session.rollback()
            journal_status(current_app.config["IVR_SETTINGS"].instance_path, sid, status, duration)
        except Exception:
            session.rollback()
            log.exception("could not record status for call %s", sid)
    return "", 204


@bp.post("/recording-status")
@twilio_only
def recording_status() -> tuple[str, int]:
    """Twilio's recording status callback: makes sure the ticket exists (idempotent)."""
    if request.form.get("RecordingStatus", "completed") != "completed" or not request.form.get("RecordingSid"):
        return "", 204
    ctx = call_context(get_session())
    try:
        store_voicemail(ctx.app, ctx.session, RecordingCallback.from_form(request.form),
                        missed_transfer=request.args.get("missed_transfer") == "1", note=ctx.log)
    except Rejected as exc:  # malformed: Twilio never sends it, so retrying can't help
        log.warning("recording callback rejected: %s", exc)
        return str(exc), 400
    ctx.commit()  # what it noted in the call log (a missed transfer marked)
    return "", 204


@bp.post(paths.STREAM_ENDED.removeprefix(paths.VOICE))
@twilio_only
def stream_ended() -> Response:
    """Twilio's `<Connect action>`: the stream is over and the call is still up. Carry on in TwiML
    with what the stream decided (a transfer, a hang-up, the same question after a failure); a
    stream that broke without deciding sends the caller to the main menu, never to silence."""
    session = get_session()
    sid = request.form.get("CallSid", "")
    try:
        call = session.get(Call, sid) if sid else None
        if call is not None and call.handoff_twiml:
            return Response(call.handoff_twiml, mimetype="text/xml")
        ctx = call_context(session)
        ctx.log(Event.STREAM_LOST)
        turn = run_step(ctx, Step("menu", {"name": "main"}))
        ctx.commit()  # with the turn's call log (the stream lost, the menu), as every transport does
        return twiml(render(turn))
    except Exception:
        session.rollback()
        log.exception("could not continue call %s after its stream", sid)
        return twiml(apology())
