"""`simulate --stream`: a call over Twilio Media Streams from the terminal.

The app runs in this process on a real socket (Werkzeug, port 0) unless `--url` names a
running service (gunicorn or `flask run`). Typed sentences are spoken into the stream with
espeak-ng, keys become `dtmf` events, and what the caller hears is printed as words: the
stream reports each clip's sentence to an in-process listener (`services(app).stream_tap`); against a
remote service only the clip lengths can be shown. `--save call.wav` keeps both sides.
"""
from __future__ import annotations

import threading
import time
import wave
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from ..speech.audio import ULAW
from .media_stream import HeardClip, NotStreamed, StreamCaller, speech_ulaw

SETTLE_S = 0.6  # the service is quiet this long after answering: the caller's turn


class Transcript:
    """Sentences by mark name, filled by the stream in this process."""

    def __init__(self) -> None:
        self.by_mark: dict[str, str] = {}
        self.lock = threading.Lock()

    def __call__(self, call_sid: str, mark: str, text: str) -> None:
        with self.lock:
            self.by_mark[mark] = text


def espeak_voice(language: str) -> str:
    lang = language.lower()
    return {"en": "en-us"}.get(lang.split("-")[0], lang.split("-")[0])


def run_stream_call(caller: StreamCaller, turns: Iterator[str], *, voice: str, words: Transcript | None,
                    out: Callable[[str], None] = print) -> None:
    def heard(clip: HeardClip) -> None:
        text = words.by_mark.get(clip.mark or "", "") if words else ""
        seconds = clip.frames * 0.02
        label = text or f"[{seconds:.1f} s of audio]"
        out(f"  IVR: {label}" + (" (interrupted)" if clip.cleared else ""))

    caller.on_clip = heard
    caller.start()
    while True:
        settle(caller)
        if caller.closed.is_set():
            out("[the stream closed: the call goes on in TwiML]" if caller.close_reason == "" else
                f"[the stream closed: {caller.close_reason}]")
            return
        out("[press keys, type a sentence to say it, empty = silence, 'hangup' to end]")
        turn = next(turns)
        if turn.lower() in {"hangup", "quit", "exit", "bye"}:
            caller.hang_up()
            out("[you hung up]")
            return
        if not turn:
            time.sleep(3)
        elif all(ch in "0123456789*#" for ch in turn):
            for key in turn:
                caller.press(key)
                time.sleep(0.15)
        else:
            caller.say_audio(speech_ulaw(turn, voice)).sent.wait(60)


def settle(caller: StreamCaller, timeout: float = 60.0) -> None:
    """Wait until the service has answered and gone quiet (or closed the stream)."""
    start = time.monotonic()
    caller.wait_until(lambda: caller.first_media_after(start) is not None or caller.closed.is_set(), timeout)
    caller.wait_until(lambda: caller.quiet_for(SETTLE_S) or caller.closed.is_set(), timeout)


def save_call(caller: StreamCaller, path: Path) -> float:
    """Both sides of the call, mixed, as 8 kHz 16-bit WAV; returns its length in seconds."""
    events = sorted(caller.timeline)
    if not events:
        raise ValueError("nothing was heard or said")
    t0 = events[0][0]
    total = int((events[-1][0] - t0) * 8000) + 160
    mix = np.zeros(total, dtype=np.int32)
    for at, payload in events:
        start = int((at - t0) * 8000)
        samples = ULAW[np.frombuffer(payload, dtype=np.uint8)].astype(np.int32)
        mix[start:start + len(samples)] += samples[: max(0, total - start)]
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(np.clip(mix, -32768, 32767).astype("<i2").tobytes())
    return total / 8000


__all__ = ["NotStreamed", "Transcript", "espeak_voice", "run_stream_call", "save_call"]
