"""Our rendered voice as stream audio: the TTS cache's 8 kHz mu-law clips, header removed.

A sentence not rendered yet (an order status, a new answer) is rendered here, in the calling
call's own thread, so other calls keep their pacing. Caller data (`private`) is rendered
into a throw-away folder and never reaches the long-lived clip cache.
"""
from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Sequence

from ..tts.service import TTSService
from .audio import mulaw_payload

log = logging.getLogger(__name__)


class ClipError(RuntimeError):
    """A sentence could not be rendered; the stream hands the call to TwiML, which can <Say> it."""


class ClipSource:
    def __init__(self, service: TTSService):
        self.service = service
        self._memory: dict[str, bytes] = {}  # recent clips' payloads, by cache key

    def payloads(self, texts: Sequence[tuple[str, bool]]) -> list[bytes]:
        """Mu-law payload for each (text, private), rendering what is missing in one batch."""
        public = [t for t, private in texts if not private and self._cached(t) is None]
        if public:
            result = self.service.render(public)
            if result.failed:
                raise ClipError(f"could not render {result.failed[0][0][:60]!r}: {result.failed[0][1]}")
        private = [t for t, p in texts if p]
        private_audio = self._render_private(private) if private else {}
        out = []
        for text, is_private in texts:
            data = private_audio[text] if is_private else self._cached(text)
            if data is None:
                raise ClipError(f"no audio for {text[:60]!r}")
            out.append(data)
        return out

    def _cached(self, text: str) -> bytes | None:
        key = self.service.key(text)
        if key in self._memory:
            return self._memory[key]
        path = self.service.path_for_key(key)
        if not path.is_file():
            return None
        data = mulaw_payload(path.read_bytes())
        if len(self._memory) > 512:
            self._memory.pop(next(iter(self._memory)))
        self._memory[key] = data
        return data

    def _render_private(self, texts: list[str]) -> dict[str, bytes]:
        with tempfile.TemporaryDirectory(prefix="tts-private-") as tmp:
            scratch = TTSService(Path(tmp), voice=self.service.voice, rate=self.service.rate,
                                 volume=self.service.volume, timeout=self.service.timeout)
            scratch._version = self.service.engine_version
            result = scratch.render(texts)
            if result.failed:
                raise ClipError(f"could not render a private sentence: {result.failed[0][1]}")
            return {t: mulaw_payload(scratch.path_for_key(scratch.key(t)).read_bytes()) for t in texts}
