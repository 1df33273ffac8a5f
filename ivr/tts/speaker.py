"""Speak by playing our own rendered clip; say it with <Say> while the clip isn't ready."""
from __future__ import annotations

import logging
import threading

from flask import has_request_context, request

from ..voice.signature import url_twilio_used
from ..voice.speaker import Container, SaySpeaker
from .service import TTSService

log = logging.getLogger(__name__)

# Short, call-specific sentences (order statuses, references) are rendered during the call
# when it fits this budget; longer or slower ones are spoken with <Say> and rendered for next time.
ON_DEMAND_MAX_CHARS = 160
ON_DEMAND_BUDGET_SECONDS = 1.5


class PlaySpeaker:
    def __init__(self, service: TTSService, fallback: SaySpeaker, public_base_url: str = ""):
        self.service = service
        self.fallback = fallback
        self.public_base_url = public_base_url

    def _base_url(self) -> str:
        if self.public_base_url:
            return self.public_base_url.rstrip("/")
        if has_request_context():
            full = url_twilio_used(request, "")
            return full[: len(full) - len(request.full_path if request.query_string else request.path)]
        return ""

    def clip_url(self, key: str) -> str:
        return f"{self._base_url()}/audio/{key}.wav"

    def speak(self, container: Container, text: str, *, private: bool = False) -> None:
        if private:
            # Caller data is never written to the long-lived clip cache: <Say> keeps nothing.
            self.fallback.speak(container, text)
            return
        try:
            path = self.service.cached_path(text)
            if path is None and len(text) <= ON_DEMAND_MAX_CHARS:
                self._render_within_budget(text)
                path = self.service.cached_path(text)
            if path is not None:
                container.play(self.clip_url(self.service.key(text)))
                return
            self.service.schedule([text])
        except Exception:  # noqa: BLE001 - the caller must hear the words whatever broke
            log.exception("audio for %r unavailable; using <Say>", text[:60])
        self.fallback.speak(container, text)

    def _render_within_budget(self, text: str) -> None:
        done = threading.Event()

        def work() -> None:
            try:
                self.service.render([text], timeout=ON_DEMAND_BUDGET_SECONDS * 4)
            finally:
                done.set()

        threading.Thread(target=work, name="tts-on-demand", daemon=True).start()
        done.wait(ON_DEMAND_BUDGET_SECONDS)
