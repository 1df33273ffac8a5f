"""Real-time calls over Twilio Media Streams: the second transport of the call flow.

`protocol` is Twilio's wire format; `recognizer`, `endpoint`, `player`, `clips` and
`voicemail` are the audio pipeline; `utterance` assembles what the caller says from them;
`waits` holds one wait per kind of waiting action (a choice, a spoken question, a message, a
hand-off); `session` plays each turn, feeds its wait and runs the shared call flow (`flowrun`)
with what the wait yields; `handoff` leaves the stream for TwiML; `routes` is the WebSocket
endpoint. The `<Connect><Stream>` answer that moves a call here is the webhook transport's
(ivr/webhook/stream_offer.py).
"""
from __future__ import annotations

import numpy as np
from flask import Flask

from ..language import line_language
from ..services import services
from .audio import mulaw_payload, ulaw_to_pcm16


def warm_speech(app: Flask) -> None:
    """Warm-up: load the call language's Vosk model and ready pooled recognisers, so neither the
    first stream nor the first recorded question pays for it (model ~2 s, a new recogniser's
    first utterance ~1-2 s)."""
    svc = services(app)
    engine = svc.speech.engine(line_language(svc.settings))
    if engine is None:
        raise RuntimeError("the Vosk model could not be loaded (see the log); speech goes to Twilio")
    engine.warm_up(_warm_up_audio(app), 8000, svc.settings.speech_warm_recognizers)


def _warm_up_audio(app: Flask) -> bytes:
    """A few seconds of speech-like 8 kHz PCM: the greeting as we render it, else shaped noise."""
    svc = services(app)
    text = svc.prompts.text("greeting", business=svc.settings.business_name)
    path = svc.tts.cached_path(text)
    if path is not None:
        return ulaw_to_pcm16(mulaw_payload(path.read_bytes()))
    noise = np.random.default_rng(0).normal(0, 3000, 8000 * 3)
    return noise.astype("<i2").tobytes()
