"""Speak by playing our own rendered clip; say it with <Say> while the clip isn't ready."""
from __future__ import annotations

import logging
import threading

from flask import has_request_context, request

from ..tts.service import TTSService
from ..twilio.signature import base_url_twilio_used
from .speaker import Container, SaySpeaker

log = logging.getLogger(__name__)

# Short, call-specific sentences (order statuses, references) are rendered during the call
# when it fits the budget (IVR_TTS_BUDGET_SECONDS); longer or slower ones are spoken with <Say>
# and rendered for next time (never, for a caller's own data: it is kept only for the day).
ON_DEMAND_MAX_CHARS = 160


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
        try:
            path = self.service.cached_path(text, private)
            if (path is None and private and len(text) <= ON_DEMAND_MAX_CHARS and self.budget_seconds > 0
                    and not self.service.busy):
                # Only a caller's own sentence (an order's status, a reference) is worth a short wait:
                # anything else is spoken with <Say> now and rendered in the background for next time,
                # so no request thread queues behind the renderer. When the renderer is busy (a burst of
                # calls) a caller's sentence isn't queued at all: it would be ready only after the call
                # had moved on, and nobody else will ever hear it.
                self._render_within_budget(text, private)
                path = self.service.cached_path(text, private)
            if path is not None:
                container.play(self.clip_url(self.service.key(text)))
                return
            if not private:
                self.service.schedule([text])
        except Exception:
            log.exception("audio for %r unavailable; using <Say>", text[:60])
        self.fallback.speak(container, text)

    def _render_within_budget(self, text: str, private: bool) -> None:
        done = threading.Event()

        def work() -> None:
            try:
                self.service.render([text], timeout=max(self.budget_seconds * 4, 2.0), private=private)
            finally:
                done.set()

        threading.Thread(target=work, name="tts-on-demand", daemon=True).start()
        done.wait(self.budget_seconds)
