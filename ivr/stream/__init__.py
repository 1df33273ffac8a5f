"""Real-time calls over Twilio Media Streams: the second transport of the call flow.

`protocol` is Twilio's wire format; `recognizer`, `endpoint`, `player`, `clips` and
`voicemail` are the audio pipeline; `session` runs the shared call flow over them; `handoff`
leaves the stream for TwiML; `routes` is the WebSocket endpoint; `twiml` is the
`<Connect><Stream>` answer the TwiML transport gives when a call can stream.
"""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from .routes import bp

    app.register_blueprint(bp)
    csrf = app.extensions.get("ivr.csrf")
    if csrf is not None:  # Twilio proves itself with signatures, not cookies
        csrf.exempt(bp)
    app.extensions.setdefault("ivr.startup_hooks", []).append(preload_speech_model)


def preload_speech_model(app: Flask) -> None:
    """Load the call language's Vosk model at start-up, not in the first caller's stream."""
    from ..speech.engine import get_engine

    settings = app.config["IVR_SETTINGS"]
    if settings.stream_enabled:
        get_engine(settings, settings.say_language.split("-")[0])
