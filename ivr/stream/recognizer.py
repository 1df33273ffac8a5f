"""Streaming recognition: the caller's frames go into a Vosk recogniser as they arrive.

One `StreamingRecognizer` per utterance over the process-wide model (ivr/speech/engine.py);
partial results are there while the caller speaks, and the final result costs only the last
few hundred milliseconds of decoding because everything before was decoded on arrival.
The knowledge-base biasing of the record path carries over: a runtime grammar where the
model allows one, else the same correction toward the knowledge base's words afterwards.
"""
from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass

from ..speech.engine import SpeechEngine
from ..speech.vocabulary import correct_toward, grammar_for, model_words

FEED_BYTES = 3200  # 100 ms of 16-bit 8 kHz PCM: fewer, larger calls into the decoder


class RecognizerError(RuntimeError):
    """The recogniser broke mid-call; the stream hands the call to TwiML."""


@dataclass(frozen=True)
class Heard:
    text: str
    confidence: float
    audio_seconds: float
    final_seconds: float  # time spent producing the final result after the utterance ended

    @classmethod
    def join(cls, parts: list[Heard]) -> Heard:
        """One utterance from the segments it was finished in (split where the caller paused)."""
        texts = [p.text for p in parts if p.text]
        spoken = [p for p in parts if p.text]
        confidence = sum(p.confidence for p in spoken) / len(spoken) if spoken else 0.0
        return cls(text=" ".join(texts), confidence=confidence, audio_seconds=sum(p.audio_seconds for p in parts),
                   final_seconds=parts[-1].final_seconds if parts else 0.0)


def menu_grammar(engine: SpeechEngine, choices: Sequence[str]) -> list[str] | None:
    """A menu takes a closed set of phrases: recognise only those (and [unk] for anything else).

    Vosk drops words its model doesn't know (a model without a word list can't tell us first),
    so one menu serves a model of any language; None when the model has no dynamic graph.
    """
    if not engine.supports_grammar or not choices:
        return None
    known = model_words(engine.path)
    phrases = sorted({" ".join(c.lower().split()) for c in choices if c.strip()})
    if known is not None:
        phrases = [p for p in phrases if all(w in known for w in p.split())]
    return phrases + ["[unk]"] if phrases else None


class StreamingRecognizer:
    """`phrases` bias a free-form utterance (a question) toward the knowledge base's words;
    `choices` restrict a menu's answer to its phrases."""

    def __init__(self, engine: SpeechEngine, phrases: Sequence[str] | None = None, *,
                 choices: Sequence[str] | None = None):
        self.engine = engine
        self.phrases = list(phrases or [])
        if choices:
            grammar = menu_grammar(engine, choices)
            self.phrases = []
        else:
            words = grammar_for(engine.path, self.phrases) if self.phrases and engine.supports_grammar else None
            grammar = words + ["[unk]"] if words else None
        self._grammar = grammar
        try:
            self._rec = engine.acquire(8000, grammar)  # warm from the engine's pool when one is idle
        except Exception as exc:
            raise RecognizerError(f"could not start the recogniser: {exc}") from exc
        self._pending = bytearray()
        self._results: list[dict] = []
        self._bytes = 0
        self.partial = ""

    def close(self) -> None:
        """Give the recogniser back to the engine's pool (reset); this object takes no more audio."""
        rec, self._rec = self._rec, None
        if rec is not None:
            self.engine.release(rec, 8000, self._grammar)

    def accept(self, pcm16: bytes) -> None:
        """Feed 16-bit 8 kHz PCM; decodes every 100 ms of audio."""
        self._pending += pcm16
        self._bytes += len(pcm16)
        if len(self._pending) >= FEED_BYTES:
            self._feed()

    def _feed(self) -> None:
        chunk, self._pending = bytes(self._pending), bytearray()
        if self._rec is None:
            raise RecognizerError("the recogniser was already closed")
        try:
            if self._rec.AcceptWaveform(chunk):
                self._results.append(json.loads(self._rec.Result()))
        except Exception as exc:
            self._rec = None  # not pooled again
            raise RecognizerError(f"recogniser failed: {exc}") from exc

    def partial_text(self) -> str:
        """What has been heard so far in this utterance (may still change)."""
        try:
            self.partial = json.loads(self._rec.PartialResult()).get("partial", "")
        except Exception as exc:
            raise RecognizerError(f"recogniser failed: {exc}") from exc
        done = " ".join(r.get("text", "") for r in self._results)
        return " ".join(f"{done} {self.partial}".replace("[unk]", "").split())

    def finish(self) -> Heard:
        start = time.perf_counter()
        if self._pending:
            self._feed()
        try:
            self._results.append(json.loads(self._rec.FinalResult()))
        except Exception as exc:
            self._rec = None
            raise RecognizerError(f"recogniser failed: {exc}") from exc
        self.close()
        words = [w for r in self._results for w in r.get("result", []) if w.get("word") != "[unk]"]
        text = " ".join(" ".join(r.get("text", "") for r in self._results).replace("[unk]", "").split())
        if self.phrases and self._grammar is None:
            text = correct_toward(text, sorted({w for p in self.phrases for w in p.lower().split()}))
        confidence = sum(float(w.get("conf", 0.0)) for w in words) / len(words) if words else 0.0
        return Heard(text=text, confidence=confidence, audio_seconds=self._bytes / 16000,
                     final_seconds=time.perf_counter() - start)
