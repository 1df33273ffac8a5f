"""The TwiML that moves a call onto a Media Stream: `<Connect><Stream>` (bidirectional).

Offered only when it can work: streaming is on, a Vosk model is installed for the call's
language, and this server speaks WebSockets (Werkzeug or gunicorn, not waitress; the
request that asks tells us which one it came through).
"""
from __future__ import annotations

from flask import Flask, Request
from twilio.twiml.voice_response import Connect, VoiceResponse

from ..calls.events import Event
from ..calls.log import ensure_call, log_event
from ..db import get_session
from ..language import call_language
from ..services import services
from ..twilio import paths
from ..twilio.signature import base_url_twilio_used


def stream_url(req: Request, public_base_url: str) -> str:
    """The wss:// URL of the stream endpoint, as Twilio will request (and sign) it."""
    base = base_url_twilio_used(req, public_base_url)
    return base.replace("https://", "wss://", 1).replace("http://", "ws://", 1) + paths.STREAM


# Servers whose WSGI environ lets simple-websocket take over the socket.
WEBSOCKET_SERVERS = ("werkzeug.socket", "gunicorn.socket", "eventlet.input")


def can_stream(app: Flask, req: Request) -> bool:
    if not any(key in req.environ for key in WEBSOCKET_SERVERS):
        return False
    svc = services(app)
    return svc.speech.streams(call_language(svc.settings, req.form.get("CallSid", "")))


def connect_stream(app: Flask, req: Request, call_sid: str, caller: str, to: str) -> VoiceResponse:
    """`<Connect action=...><Stream url="wss://.../voice/stream">` with the caller as parameters
    (a Stream URL may not carry a query string)."""
    settings = app.config["IVR_SETTINGS"]
    resp = VoiceResponse()
    connect: Connect = resp.connect(action=paths.STREAM_ENDED, method="POST")
    stream = connect.stream(url=stream_url(req, settings.public_base_url), name=f"ivr-{call_sid}"[:64])
    stream.parameter(name="From", value=caller)
    stream.parameter(name="To", value=to)
    return resp


def answer(app: Flask, req: Request) -> VoiceResponse | None:
    """The answer to Twilio's first webhook when the call can stream, else None (plain TwiML).

    The call is recorded now, so the stream's `start` finds a call we answered.
    """
    if not can_stream(app, req):
        return None

    form = req.form
    sid, caller, to = form.get("CallSid", ""), form.get("From", ""), form.get("To", "")
    if not sid:
        return None
    session = get_session()
    ensure_call(session, sid, caller, to)
    log_event(session, sid, Event.STREAM_OFFERED)
    session.commit()
    return connect_stream(app, req, sid, caller, to)
