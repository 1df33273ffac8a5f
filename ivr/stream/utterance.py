"""Utterances from the caller's frames: where speech starts and ends, and the words said.

The endpointer (WebRTC VAD) says when speech starts (the moment to barge in) and when it ends;
the streaming recogniser decodes the frames as they arrive, with the vocabulary the waiting
action carries. When a pause may be the end, the segment so far is finished at once while the
endpointer waits out the rest of the trailing silence (held back, in case the caller goes on),
so the words are ready the moment it decides; segments split at pauses are joined again.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Literal

from ..flow.actions import Vocabulary
from ..speech.engine import SpeechEngine
from .endpoint import Endpointer, EndpointSettings
from .recognizer import Heard, StreamingRecognizer

log = logging.getLogger(__name__)

MAX_UTTERANCE_S = 20.0  # a caller who never pauses is cut here and heard
DECODE_TAIL_MS = 200  # trailing silence decoded before an utterance's words are finished (early)

STARTED: Literal["started"] = "started"


@dataclass
class Metrics:
    """Timestamps the benchmark and the logs read (monotonic seconds)."""

    utterances: list[dict[str, Any]] = field(default_factory=list)
    barge_ins: int = 0


class UtteranceAssembler:
    """Feed 20 ms PCM frames; `feed` says when speech started and hands over each utterance heard."""

    def __init__(self, engine: SpeechEngine, settings: EndpointSettings, metrics: Metrics):
        self.engine = engine
        self.endpointer = Endpointer(settings)
        self.metrics = metrics
        self.vocabulary = Vocabulary()
        self.started_at = 0.0
        self._recognizer: StreamingRecognizer | None = None
        self._held: list[bytes] = []
        self._segments: list[Heard] = []  # an utterance's finished parts (split at pauses)

    @property
    def in_speech(self) -> bool:
        return self.endpointer.in_speech

    def reset(self, vocabulary: Vocabulary | None = None) -> None:
        """Forget any utterance under way (a key, a new turn); the next one uses `vocabulary`."""
        self.drop()
        self.endpointer.reset()
        self._held, self._segments = [], []
        if vocabulary is not None:
            self.vocabulary = vocabulary

    def drop(self) -> None:
        """Abandon the utterance's recogniser (back to the engine's pool)."""
        recognizer, self._recognizer = self._recognizer, None
        if recognizer is not None:
            recognizer.close()

    def feed(self, pcm: bytes, now: float) -> Literal["started"] | Heard | None:
        """One frame: "started" when speech starts, the utterance when it ends, else None."""
        was_in_speech = self.endpointer.in_speech
        change = self.endpointer.feed(pcm)
        if change == "started":
            self._held, self._segments = [], []
            self.started_at = now
            self.drop()
            self._recognizer = self._new_recognizer()
            for earlier in self.endpointer.pre_roll:
                self._recognizer.accept(earlier)
            return STARTED
        if was_in_speech:
            if self.endpointer.silence_ms <= DECODE_TAIL_MS:
                if self._recognizer is None:  # the caller went on after a pause: a new segment
                    self._recognizer = self._new_recognizer()
                for held in self._held:
                    self._recognizer.accept(held)
                self._held.clear()
                self._recognizer.accept(pcm)
            else:  # probably the end: finish this segment now, hold the silence back
                if self._recognizer is not None:
                    self._segments.append(self._recognizer.finish())
                    self._recognizer = None
                self._held.append(pcm)
        if change == "ended":
            return self.finish(now)
        return None

    def overlong(self, now: float) -> bool:
        return self.endpointer.in_speech and now - self.started_at > MAX_UTTERANCE_S

    def finish(self, now: float) -> Heard | None:
        """End the utterance now (speech ended, or went on too long): what was heard, if anything."""
        recognizer, self._recognizer = self._recognizer, None
        segments, self._segments, self._held = self._segments, [], []
        self.endpointer.reset()
        if recognizer is not None:
            segments.append(recognizer.finish())
        if not segments:
            return None
        heard = Heard.join(segments)
        self.metrics.utterances.append({"ended_at": now, "text": heard.text, "final_s": heard.final_seconds,
                                        "audio_s": heard.audio_seconds})
        log.debug("utterance of %.1f s ended -> final %.0f ms", heard.audio_seconds, heard.final_seconds * 1000)
        return heard

    def _new_recognizer(self) -> StreamingRecognizer:
        vocabulary = self.vocabulary
        if vocabulary.closed:
            return StreamingRecognizer(self.engine, choices=vocabulary.phrases)
        return StreamingRecognizer(self.engine, vocabulary.phrases)
