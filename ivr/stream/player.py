"""Paced playback: 20 ms mu-law frames sent on a real-time clock, each clip followed by a `mark`.

One sender thread per call keeps the clock, so decoding speech or running the flow in the
call's receive thread (or in another call) never delays a frame. A small lead (a few frames
ahead) absorbs network jitter without dumping the whole clip into Twilio's buffer, which
would make barge-in (`clear`) pointless. Twilio echoes each mark once the audio before it has
played, or when a `clear` drops it; the call listens for those echoes to know a prompt ended.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .protocol import FRAME_MS, clear_message, mark_message, media_message

log = logging.getLogger(__name__)

LEAD_FRAMES = 3  # sent ahead of the play-out clock: 60 ms of jitter buffer at Twilio


@dataclass(frozen=True)
class Clip:
    """One prompt's audio as 20 ms frames; `interruptible` says whether barge-in may cut it."""

    frames: list[bytes]
    mark: str
    interruptible: bool = True
    text: str = ""


class Player:
    def __init__(self, send: Callable[[str], None], stream_sid: str, *,
                 clock: Callable[[], float] = time.monotonic):
        self._send = send
        self.stream_sid = stream_sid
        self._clock = clock
        self._queue: queue.Queue[Clip | None] = queue.Queue()
        self._lock = threading.Lock()  # one writer on the socket at a time
        self._generation = 0  # bumped by clear(): frames of older clips are dropped
        self.current: Clip | None = None
        self.queued = 0  # clips queued or playing whose mark is not yet sent
        self.first_frame_at: float | None = None  # monotonic time of the first frame since last mark_first()
        self.failed: BaseException | None = None
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"pacer-{stream_sid[-6:]}", daemon=True)
        self._thread.start()

    # -------------------------------------------------------------- called by the call's thread
    def play(self, clip: Clip) -> None:
        with self._lock:
            self.queued += 1
        self._queue.put(clip)

    @property
    def busy(self) -> bool:
        """Audio is queued or being sent (the caller may still be hearing more after this)."""
        return self.queued > 0

    def interruptible(self) -> bool:
        current = self.current
        return current is None or current.interruptible

    def clear(self) -> None:
        """Stop our audio now: drop what is queued here and tell Twilio to drop its buffer."""
        with self._lock:
            self._generation += 1
            dropped = 0
            while True:
                try:
                    if self._queue.get_nowait() is not None:
                        dropped += 1
                except queue.Empty:
                    break
            self.queued = max(0, self.queued - dropped)
            self._write(clear_message(self.stream_sid))

    def close(self) -> None:
        self._closed.set()
        self._queue.put(None)
        self._thread.join(timeout=2)

    # -------------------------------------------------------------- the pacing thread
    def _write(self, message: str) -> None:
        try:
            self._send(message)
        except BaseException as exc:  # noqa: BLE001 - the receive side notices the closed socket
            self.failed = exc
            self._closed.set()

    def _run(self) -> None:
        next_at = self._clock()
        frame_s = FRAME_MS / 1000
        while not self._closed.is_set():
            clip = self._queue.get()
            if clip is None:
                break
            with self._lock:
                generation = self._generation
                self.current = clip
            now = self._clock()
            if next_at < now:  # idle since the last clip: restart the clock with a small lead
                next_at = now - LEAD_FRAMES * frame_s
            for frame in clip.frames:
                delay = next_at - self._clock()
                if delay > 0:
                    time.sleep(delay)
                with self._lock:
                    if generation != self._generation or self._closed.is_set():
                        break
                    if self.first_frame_at is None:
                        self.first_frame_at = self._clock()
                    self._write(media_message(self.stream_sid, frame))
                next_at += frame_s
            with self._lock:
                if generation == self._generation:
                    self._write(mark_message(self.stream_sid, clip.mark))
                    self.queued = max(0, self.queued - 1)
                else:  # cleared mid-clip: Twilio returns this mark only if it had it; send it so it does
                    self._write(mark_message(self.stream_sid, clip.mark))
                self.current = None
