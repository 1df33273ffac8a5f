"""Real-time calls over Twilio Media Streams: the second transport of the call flow.

`protocol` is Twilio's wire format; `recognizer`, `endpoint`, `player`, `clips` and
`voicemail` are the audio pipeline; `utterance` assembles what the caller says from them;
`waits` holds one wait per kind of waiting action (a choice, a spoken question, a message, a
hand-off); `session` plays each turn, feeds its wait and runs the shared call flow (`flowrun`)
with what the wait yields; `handoff` leaves the stream for TwiML; `routes` is the WebSocket
endpoint; `twiml` is the `<Connect><Stream>` answer the TwiML transport gives when a call can stream.
"""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from .routes import bp

    app.register_blueprint(bp)
    csrf = app.extensions.get("ivr.csrf")
    if csrf is not None:  # Twilio proves itself with signatures, not cookies
        csrf.exempt(bp)
    from ..speech.engine import model_path_for

    settings = app.config["IVR_SETTINGS"]
    if model_path_for(settings, settings.say_language.split("-")[0]) is not None:
        app.extensions["ivr.readiness"].add("speech model", warm_speech)


def warm_speech(app: Flask) -> None:
    """Warm-up: load the call language's Vosk model and ready pooled recognisers, so neither the
    first stream nor the first recorded question pays for it (model ~2 s, a new recogniser's
    first utterance ~1-2 s)."""
    from ..speech.engine import get_engine

    settings = app.config["IVR_SETTINGS"]
    engine = get_engine(settings, settings.say_language.split("-")[0])
    if engine is None:
        raise RuntimeError("the Vosk model could not be loaded (see the log); speech goes to Twilio")
    engine.warm_up(_warm_up_audio(app), 8000, settings.speech_warm_recognizers)


def _warm_up_audio(app: Flask) -> bytes:
    """A few seconds of speech-like 8 kHz PCM: the greeting as we render it, else shaped noise."""
    import numpy as np

    from .audio import mulaw_payload, ulaw_to_pcm16

    tts = app.extensions.get("ivr.tts")
    catalogue = app.extensions["ivr.prompts"]
    if tts is not None:
        text = catalogue.text("greeting", business=app.config["IVR_SETTINGS"].business_name)
        path = tts.cached_path(text)
        if path is not None:
            return ulaw_to_pcm16(mulaw_payload(path.read_bytes()))
    noise = np.random.default_rng(0).normal(0, 3000, 8000 * 3)
    return noise.astype("<i2").tobytes()
