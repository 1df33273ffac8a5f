"""Speak by playing our own rendered clip; say it with <Say> while the clip isn't ready."""
from __future__ import annotations

import logging
import threading

from flask import has_request_context, request

from ..tts.service import TTSService
from ..twilio.signature import base_url_twilio_used
from .speaker import Container, SaySpeaker

log = logging.getLogger(__name__)

ON_DEMAND_MAX_CHARS = 400  # about 25 s of speech: longer lines are rendered ahead or not at all

# Every line known ahead is rendered before the service says it is ready (ivr/flow/prerender.py).
# Anything else (a caller's own sentence: an order's status, a reference, a number read back) is
# rendered during the call within IVR_TTS_BUDGET_SECONDS, in the same voice. <Say> is the fallback
# only when our renderer failed or could not finish in time: logged, and counted for `doctor`.


class PlaySpeaker:
    def __init__(self, service: TTSService, fallback: SaySpeaker, public_base_url: str = "",
                 budget_seconds: float = 0.8):
        self.service = service
        self.fallback = fallback
        self.public_base_url = public_base_url
        self.budget_seconds = budget_seconds

    def _base_url(self) -> str:
        if self.public_base_url:
            return self.public_base_url.rstrip("/")
        if has_request_context():
            return base_url_twilio_used(request, "")
        return ""

    def clip_url(self, key: str) -> str:
        return f"{self._base_url()}/audio/{key}.wav"

    def speak(self, container: Container, text: str, *, private: bool = False) -> None:
        """Play the clip for `text`; `private` marks a caller's data (its clip is kept for the day only)."""
        why = ""
        try:
            key = self.service.cached_key(text, private)
            if key is None:
                why = self._render_within_budget(text, private)
                key = self.service.cached_key(text, private)
            if key is not None:
                container.play(self.clip_url(key))
                return
            if not private and why != "render failed":
                self.service.schedule([text])  # ready for the next caller
        except Exception as exc:
            log.exception("audio for %r unavailable", text[:60])
            why = f"error: {type(exc).__name__}"
        self.service.note_say_fallback(why or "no clip", text)
        self.fallback.speak(container, text)

    def _render_within_budget(self, text: str, private: bool) -> str:
        """Render `text` now, waiting at most the budget; returns why it isn't ready ("" when it is).

        When the renderer is busy (a burst of calls, a background render) the sentence isn't queued:
        it would be ready only after the call had moved on."""
        if self.budget_seconds <= 0:
            return "no budget"
        if len(text) > ON_DEMAND_MAX_CHARS and not private:
            # A long line nobody rendered ahead (a knowledge base changed a moment ago): the
            # background render has it for the next caller; this one would wait too long.
            return "long line not rendered ahead"
        if self.service.busy:
            return "renderer busy"
        done = threading.Event()
        outcome: list[str] = []

        def work() -> None:
            try:
                result = self.service.render([text], timeout=max(self.budget_seconds * 4, 2.0), private=private)
                if result.failed:
                    outcome.append("render failed")
            finally:
                done.set()

        threading.Thread(target=work, name="tts-on-demand", daemon=True).start()
        if not done.wait(self.budget_seconds):
            return "over budget"
        return outcome[0] if outcome else ""
