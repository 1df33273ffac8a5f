"""Our rendered voice as stream audio: the TTS cache's 8 kHz mu-law clips, header removed.

A sentence not rendered yet (an order status, a new answer) is rendered here, in the calling
call's own thread, so other calls keep their pacing. Caller data (`private`) goes to the TTS
service's private folder, kept for the day only, like the TwiML transport's clips.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence

from ..tts.service import TTSService
from .audio import mulaw_payload

log = logging.getLogger(__name__)


class ClipError(RuntimeError):
    """A sentence could not be rendered; the stream hands the call to TwiML, which can <Say> it."""


class ClipSource:
    def __init__(self, service: TTSService):
        self.service = service
        self._memory: dict[str, bytes] = {}  # recent shared clips' payloads, by cache key

    def payloads(self, texts: Sequence[tuple[str, bool]]) -> list[bytes]:
        """Mu-law payload for each (text, private), rendering what is missing (one batch per kind)."""
        for private in (False, True):
            missing = [t for t, p in texts if p == private and self.service.cached_path(t, private) is None]
            if missing:
                result = self.service.render(missing, private=private)
                if result.failed:
                    raise ClipError(f"could not render {result.failed[0][0][:60]!r}: {result.failed[0][1]}")
        return [self._payload(text, private) for text, private in texts]

    def _payload(self, text: str, private: bool) -> bytes:
        key = self.service.key(text)
        if not private and key in self._memory:
            return self._memory[key]
        path = self.service.cached_path(text, private)
        if path is None:
            raise ClipError(f"no audio for {text[:60]!r}")
        data = mulaw_payload(path.read_bytes())
        if not private:
            if len(self._memory) > 512:
                self._memory.pop(next(iter(self._memory)))
            self._memory[key] = data
        return data
