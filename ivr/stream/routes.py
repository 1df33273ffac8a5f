"""The Media Streams WebSocket endpoint and the `<Connect>` action that follows a stream.

The handshake carries Twilio's `X-Twilio-Signature`, computed like a webhook's over the
`wss://` URL Twilio connected to (no parameters: a `<Stream>` URL has no query string); it is
checked before the upgrade. The `start` message then names the call: a stream for a call we
never answered, or one already over, is closed at once.
"""
from __future__ import annotations

import logging
import time

from flask import Blueprint, Response, abort, current_app, request
from flask_sock import Sock
from simple_websocket import ConnectionClosed
from sqlalchemy import select

from ..calls.models import Call, CallEvent
from ..db import get_session
from ..voice.signature import base_url_twilio_used, is_valid_twilio_request, twilio_only
from . import protocol
from .handoff import HANDOFF_EVENT

log = logging.getLogger(__name__)

STREAM_PATH = "/voice/stream"
STREAM_ENDED_PATH = "/voice/stream/ended"
START_TIMEOUT_S = 10.0  # Twilio sends `connected` and `start` at once; anything slower is not Twilio

bp = Blueprint("stream", __name__)
sock = Sock()


def stream_url(req, public_base_url: str) -> str:
    """The wss:// URL of the stream endpoint, as Twilio will request (and sign) it."""
    base = base_url_twilio_used(req, public_base_url)
    return base.replace("https://", "wss://", 1).replace("http://", "ws://", 1) + STREAM_PATH


def handshake_is_from_twilio() -> bool:
    return is_valid_twilio_request(request, websocket=True)


@bp.before_request
def check_handshake() -> None:
    if request.path == STREAM_PATH and not handshake_is_from_twilio():
        log.warning("refused a Media Streams handshake to %s: missing or invalid Twilio signature", request.url)
        abort(403)


def call_is_live(call_sid: str) -> bool:
    """We answered this call (its /voice webhook ran) and Twilio hasn't reported it over."""
    session = current_app.extensions["ivr.sessionmaker"]()
    try:
        call = session.get(Call, call_sid)
        return call is not None and call.ended_at is None
    finally:
        session.close()


@sock.route(STREAM_PATH, bp=bp)
def media_stream(ws) -> None:
    from ..speech.engine import get_engine
    from .session import SocketGone, StreamCall

    app = current_app._get_current_object()
    settings = app.config["IVR_SETTINGS"]
    base_url = base_url_twilio_used(request, settings.public_base_url)
    start = _wait_for_start(ws)
    if start is None:
        return
    if not call_is_live(start.call_sid):
        log.warning("refused stream %s: call %s is unknown or over", start.stream_sid, start.call_sid)
        ws.close(reason=1008, message="unknown or finished call")
        return
    engine = get_engine(settings, settings.say_language.split("-")[0])
    def receive(timeout: float) -> str | None:
        try:
            return ws.receive(timeout=timeout)
        except ConnectionClosed as exc:
            raise SocketGone(str(exc)) from None

    call = StreamCall(app, ws.send, receive, start, engine, base_url)
    if engine is None:  # the model vanished since /voice answered: TwiML from the first state
        call.fail_over_now(RuntimeError("no speech model"))
        return
    call.run()


def _wait_for_start(ws) -> protocol.Start | None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            raw = ws.receive(timeout=max(0.05, deadline - time.monotonic()))
        except ConnectionClosed:
            return None
        if raw is None:
            continue
        try:
            event = protocol.parse(raw)
        except protocol.ProtocolError as exc:
            log.warning("refused a stream: %s", exc)
            ws.close(reason=1003, message="not a Media Streams message")
            return None
        if isinstance(event, protocol.Start):
            return event
    ws.close(reason=1008, message="no start message")
    return None


@bp.post(STREAM_ENDED_PATH)
@twilio_only
def stream_ended() -> Response:
    """Twilio's `<Connect action>`: the stream is over and the call is still up. Carry on in TwiML
    with what the stream decided (a transfer, a hang-up, the same question after a failure); a
    stream that broke without deciding sends the caller to the main menu, never to silence."""
    from ..voice.actions import Step
    from ..voice.routes import call_context, render, twiml
    from ..voice.flow import run_state

    session = get_session()
    sid = request.form.get("CallSid", "")
    decided = session.scalars(select(CallEvent).where(CallEvent.call_sid == sid, CallEvent.kind == HANDOFF_EVENT)
                              .order_by(CallEvent.id.desc()).limit(1)).first()
    if decided is not None and decided.detail.get("twiml"):
        return Response(decided.detail["twiml"], mimetype="text/xml")
    try:
        ctx = call_context(session)
        ctx.log("stream_lost")
        turn = run_state(ctx, Step("menu", {"name": "main"}))
        session.commit()
        return twiml(render(turn))
    except Exception:  # noqa: BLE001 - never a 500 to Twilio
        session.rollback()
        log.exception("could not continue call %s after its stream", sid)
        from ..voice.routes import apology

        return twiml(apology())
