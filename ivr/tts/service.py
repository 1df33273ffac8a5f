"""Render text to phone-ready audio once, and find it again by content.

A clip's key is an HMAC, under a key derived from SECRET_KEY, of (text, voice, rate, volume,
format, engine version): a changed prompt gets a new file and a new URL while unchanged ones are
never rendered twice, and nobody without the secret can test a guessed sentence ("order 4512
has shipped") against the audio route. Clips of sentences holding a caller's data (order
details, ticket references) are kept in a folder per day and deleted once that day is over.
Audio is 8 kHz mono mu-law WAV, which Twilio plays without transcoding; sox converts pyttsx3's
output.
"""
from __future__ import annotations

import hashlib
import hmac
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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from ..clock import system_clock
from ..kb.models import Article
from ..services import services
from ..speech.audio import AudioError, read_wav

log = logging.getLogger(__name__)

FORMAT = "wav-8000-mono-mulaw"
RENDERER_VERSION = "1"
KEY_RE = r"[0-9a-f]{32}"
PRIVATE_DIR = "private"
# A private clip's day folder is deleted this long after the day ends (a call at 23:59 still plays it).
PRIVATE_GRACE = timedelta(minutes=15)


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


@dataclass
class RenderResult:
    rendered: int
    cached: int
    failed: list[tuple[str, str]]
    seconds: float
    audio_seconds: float


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

    def _stop(self, why: str) -> str:
        """Kill the child; returns why, with the last line it wrote to stderr."""
        proc, self._proc = self._proc, None
        detail = ""
        if proc is not None and self._owner == os.getpid():
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
                self._stop("restart")
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
                    return results, self._stop(f"pyttsx3 did not finish within {timeout:.0f}s (killed)")
                return results, self._stop("the renderer exited")
            if "path" in result:
                results[result["path"]] = result
        return results, ""

    def close(self) -> None:
        if self._proc is not None:
            self._stop("closed")


class TTSService:
    def __init__(self, cache_dir: Path, voice: str = "gmw/en-us", rate: int = 165, volume: float = 1.0,
                 timeout: float = 20.0, secret: str = ""):
        self.cache_dir = Path(cache_dir)
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
        )

    # ------------------------------------------------------------------ keys and files
    @property
    def engine_version(self) -> str:
        if self._version is None:
            self._version = _engine_version()
        return self._version

    def key(self, text: str) -> str:
        blob = json.dumps([" ".join(text.split()), self.voice, self.rate, self.volume, FORMAT, self.engine_version])
        return hmac.new(self._key_secret, blob.encode(), hashlib.sha256).hexdigest()[:32]

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

    def cached_path(self, text: str, private: bool = False) -> Path | None:
        key = self.key(text)
        path = self._target(key, private) if private else self.path_for_key(key)
        return path if path.is_file() else None

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
            if self.cached_path(text, private) is not None:
                cached += 1
            else:
                todo.setdefault(self.key(text), text)
        failed: list[tuple[str, str]] = []
        audio_seconds = 0.0
        if todo:
            with self._lock:
                done, failed = self._render_batch(todo, timeout or self.timeout + 0.5 * len(todo), private)
            for key in done:
                audio_seconds += (self._target(key, private).stat().st_size - 58) / 8000
        return RenderResult(rendered=len(todo) - len(failed), cached=cached, failed=failed,
                            seconds=time.perf_counter() - start, audio_seconds=audio_seconds)

    def _render_batch(self, todo: dict[str, str], timeout: float,
                      private: bool = False) -> tuple[list[str], list[tuple[str, str]]]:
        if shutil.which("espeak-ng") is None and shutil.which("espeak") is None:
            return [], [(t, "espeak-ng is not installed (apt-get install espeak-ng)") for t in todo.values()]
        if shutil.which("sox") is None:
            return [], [(t, "sox is not installed (apt-get install sox)") for t in todo.values()]
        done: list[str] = []
        failed: list[tuple[str, str]] = []
        with tempfile.TemporaryDirectory(prefix="tts-") as tmp:
            jobs = [{"text": text, "path": str(Path(tmp) / f"{key}.raw.wav"), "out": str(Path(tmp) / f"{key}.wav"),
                     "voice": self.voice, "rate": self.rate, "volume": self.volume} for key, text in todo.items()]
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
            log.warning("could not render %r: %s", text[:60], error)
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
