"""The Media Streams WebSocket endpoint (the `<Connect>` action after it is a webhook: ivr/webhook).

The handshake carries Twilio's `X-Twilio-Signature`, computed like a webhook's over the
`wss://` URL Twilio connected to (no parameters: a `<Stream>` URL has no query string); it is
checked before the upgrade. The `start` message then names the call: a stream for a call we
never answered, or one already over, is closed at once.
"""
from __future__ import annotations

import logging
import time

from flask import Blueprint, abort, current_app, request
from flask_sock import Sock
from simple_websocket import ConnectionClosed

from ..calls.models import Call
from ..language import call_language
from ..services import services
from ..twilio import paths
from ..twilio.signature import base_url_twilio_used, is_valid_twilio_request
from . import protocol
from .session import SocketGone, StreamCall

log = logging.getLogger(__name__)

STREAM_PATH = paths.STREAM
START_TIMEOUT_S = 10.0  # Twilio sends `connected` and `start` at once; anything slower is not Twilio

bp = Blueprint("stream", __name__)
sock = Sock()


def handshake_is_from_twilio() -> bool:
    return is_valid_twilio_request(request, websocket=True)


@bp.before_request
def check_handshake() -> None:
    if request.path == STREAM_PATH and not handshake_is_from_twilio():
        log.warning("refused a Media Streams handshake to %s: missing or invalid Twilio signature", request.url)
        abort(403)


def call_is_live(call_sid: str) -> bool:
    """We answered this call (its /voice webhook ran) and Twilio hasn't reported it over."""
    session = services().sessionmaker()
    try:
        call = session.get(Call, call_sid)
        return call is not None and call.ended_at is None
    finally:
        session.close()


@sock.route(STREAM_PATH, bp=bp)
def media_stream(ws) -> None:
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
    engine = services(app).speech.engine(call_language(settings, start.call_sid))

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
