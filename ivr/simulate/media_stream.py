"""Twilio's side of a Media Stream, for `simulate --stream`, the tests and bench/stream.py.

It does what Twilio does on a real call, over real HTTP and a real WebSocket: requests the
signed `/voice` webhook, follows `<Connect><Stream>` to the WebSocket URL with a signed
handshake, sends `connected` and `start`, then a 20 ms mu-law `media` frame every 20 ms
(the caller's speech when there is some, line silence otherwise) and `dtmf` for keys. What
the service sends back is played on a real-time clock: a `mark` is returned once the audio
queued before it has played, `clear` drops what is queued (and returns its marks).
"""
from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import requests
from simple_websocket import Client, ConnectionClosed
from twilio.request_validator import RequestValidator
from wsproto.utilities import LocalProtocolError

from ..speech.audio import read_wav
from ..stream.audio import frames, pcm16_to_ulaw
from ..stream.protocol import FRAME_BYTES, FRAME_MS, TwilioSide

SILENCE = bytes([0xFF]) * FRAME_BYTES


class _Client(Client):
    """simple-websocket's client, sending the port in the Host header as browsers and Twilio do
    (the URL Twilio signs includes it)."""

    def handshake(self) -> None:
        if self.port not in (80, 443):
            self.host = f"{self.host}:{self.port}"
        super().handshake()


class NotStreamed(RuntimeError):
    """The service answered with plain TwiML, not <Connect><Stream>."""


def speech_ulaw(text: str, voice: str = "ko", speed: int | None = None) -> bytes:
    """`text` spoken by espeak-ng, as Twilio would carry it: 8 kHz mu-law, edges trimmed of silence."""
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        raise RuntimeError("espeak-ng and sox are needed to speak into the stream")
    with tempfile.TemporaryDirectory(prefix="sim-say-") as tmp:
        raw, out = Path(tmp) / "raw.wav", Path(tmp) / "ulaw.wav"
        cmd = ["espeak-ng", "-v", voice, "-w", str(raw)] + (["-s", str(speed)] if speed else []) + [text]
        subprocess.run(cmd, check=True, capture_output=True)
        subprocess.run(["sox", str(raw), "-r", "8000", "-c", "1", "-e", "mu-law", str(out)], check=True,
                       capture_output=True)
        pcm = read_wav(out.read_bytes())
    samples = pcm.samples.astype(np.int32)
    loud = np.flatnonzero(np.abs(samples) > 500)
    if len(loud):
        samples = samples[max(0, loud[0] - 400): loud[-1] + 1]
    return pcm16_to_ulaw(samples)


@dataclass
class HeardClip:
    """Audio the caller heard between two marks (or up to a clear)."""

    mark: str | None
    frames: int
    first_at: float
    last_at: float
    cleared: bool = False


@dataclass
class Utterance:
    started_at: float = 0.0
    ended_at: float = 0.0  # when the last frame of speech went out
    sent: threading.Event = field(default_factory=threading.Event)


class StreamCaller:
    def __init__(self, base_url: str, auth_token: str, account_sid: str, *, caller: str = "+15005550006",
                 to: str = "+15005550001", call_sid: str | None = None, signature_token: str | None = None):
        self.base_url = base_url.rstrip("/")
        self.auth_token, self.account_sid = auth_token, account_sid
        self.signature_token = signature_token or auth_token
        self.caller, self.to = caller, to
        self.call_sid = call_sid or "CA" + uuid.uuid4().hex
        self.stream_sid = "MZ" + uuid.uuid4().hex
        self.side = TwilioSide(self.stream_sid, self.call_sid, account_sid)
        self.ws: _Client | None = None
        self.stream_url = ""
        self.parameters: dict[str, str] = {}
        self._speech: deque[bytes] = deque()
        self._utterance: Utterance | None = None
        self._keys: deque[str] = deque()
        self._lock = threading.Lock()
        self._play_until = 0.0
        self._pending_marks: list[tuple[float, str]] = []
        self.clips: list[HeardClip] = []
        self._current: HeardClip | None = None
        self.received: list[tuple[float, str]] = []  # (time, event) for media/mark/clear from the service
        self.clears: list[float] = []
        self.closed = threading.Event()
        self.close_reason = ""
        self.heard_timeline: list[tuple[float, bytes]] = []  # (play time, frame) of our audio
        self.said_timeline: list[tuple[float, bytes]] = []  # (send time, frame) of the caller's speech
        self._threads: list[threading.Thread] = []
        self.on_clip: Callable[[HeardClip], None] | None = None

    # ------------------------------------------------------------------ the call
    def _sign(self, url: str, params: dict[str, str]) -> str:
        return RequestValidator(self.signature_token).compute_signature(url, params)

    def dial(self) -> str:
        """Twilio's first webhook; returns the TwiML. Raises NotStreamed unless it is <Connect><Stream>."""
        url = f"{self.base_url}/voice"
        params = {"CallSid": self.call_sid, "AccountSid": self.account_sid, "From": self.caller, "To": self.to,
                  "CallStatus": "ringing", "Direction": "inbound"}
        resp = requests.post(url, data=params, headers={"X-Twilio-Signature": self._sign(url, params)}, timeout=15)
        resp.raise_for_status()
        root = ET.fromstring(resp.text)
        stream = root.find("./Connect/Stream")
        if stream is None:
            raise NotStreamed(resp.text)
        self.stream_url = stream.get("url", "")
        self.parameters = {p.get("name", ""): p.get("value", "") for p in stream.findall("Parameter")}
        return resp.text

    def connect(self, *, signature: str | None = None) -> None:
        """Open the WebSocket (signed like Twilio signs it), send `connected` and `start`, start the clock."""
        headers = {"X-Twilio-Signature": signature if signature is not None else self._sign(self.stream_url, {})}
        self.ws = _Client.connect(self.stream_url, headers=headers)
        self.ws.send(self.side.connected())
        self.ws.send(self.side.start(self.parameters))
        for target, name in ((self._send_loop, "caller-send"), (self._receive_loop, "caller-receive")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def start(self) -> None:
        self.dial()
        self.connect()

    def say_audio(self, ulaw: bytes) -> Utterance:
        """Queue caller speech; it goes out frame by frame in real time. Wait on `.sent`."""
        utterance = Utterance()
        with self._lock:
            self._speech.extend(frames(ulaw))
            self._utterance = utterance
        return utterance

    def say(self, text: str, voice: str = "ko") -> Utterance:
        return self.say_audio(speech_ulaw(text, voice))

    def press(self, digit: str) -> None:
        with self._lock:
            self._keys.append(digit)

    def hang_up(self) -> None:
        """The caller hangs up: Twilio sends `stop` and closes the socket."""
        if self.ws is not None and not self.closed.is_set():
            try:
                with self._lock:
                    self.ws.send(self.side.stop())
            except ConnectionClosed:
                pass
        self.close()

    def drop(self) -> None:
        """The connection dies with no `stop` (network failure)."""
        self.close()

    def close(self) -> None:
        self.closed.set()
        if self.ws is not None:
            try:
                self.ws.close()
            except Exception:  # noqa: BLE001
                pass
        for thread in self._threads:
            thread.join(timeout=2)

    # ------------------------------------------------------------------ waiting on what was heard
    def wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            if self.closed.is_set():
                return predicate()
            time.sleep(0.01)
        return predicate()

    @property
    def timeline(self) -> list[tuple[float, bytes]]:
        return self.heard_timeline + self.said_timeline

    def marks_returned(self) -> list[str]:
        return [e.split(":", 1)[1] for _, e in self.received if e.startswith("mark-returned:")]

    def first_media_after(self, t: float) -> float | None:
        return next((at for at, e in self.received if e == "media" and at > t), None)

    def quiet_for(self, seconds: float) -> bool:
        """Nothing from the service for `seconds` and nothing left to play: waiting on the caller."""
        with self._lock:
            last = self.received[-1][0] if self.received else 0.0
            return time.monotonic() - max(last, self._play_until) >= seconds

    # ------------------------------------------------------------------ Twilio's two loops
    def _send_loop(self) -> None:
        next_at = time.monotonic()
        try:
            while not self.closed.is_set():
                now = time.monotonic()
                with self._lock:
                    while self._keys:
                        self.ws.send(self.side.dtmf(self._keys.popleft()))
                    due = [m for m in self._pending_marks if m[0] <= now]
                    self._pending_marks = [m for m in self._pending_marks if m[0] > now]
                    for _, name in due:
                        self._mark_played(name)
                    frame = self._speech.popleft() if self._speech else SILENCE
                    if frame is not SILENCE:
                        self.said_timeline.append((now, frame))
                        if self._utterance is not None and not self._utterance.started_at:
                            self._utterance.started_at = now
                    finished = self._utterance if not self._speech and self._utterance else None
                    if self.closed.is_set():
                        break
                    self.ws.send(self.side.media(frame))
                    if finished is not None:
                        finished.ended_at = time.monotonic()
                        finished.sent.set()
                        self._utterance = None
                next_at += FRAME_MS / 1000
                delay = next_at - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                else:
                    next_at = time.monotonic()
        except (ConnectionClosed, LocalProtocolError):  # closed by the service, or by us (hang-up) mid-send
            self.closed.set()

    def _mark_played(self, name: str) -> None:
        """Twilio returns the mark: everything before it has played (called with the lock held)."""
        self.ws.send(self.side.mark(name))
        self.received.append((time.monotonic(), f"mark-returned:{name}"))
        if self._current is not None:
            self._current.mark = name
            self._finish_clip()

    def _finish_clip(self) -> None:
        clip, self._current = self._current, None
        if clip is not None:
            self.clips.append(clip)
            if self.on_clip is not None:
                self.on_clip(clip)

    def _receive_loop(self) -> None:
        try:
            while not self.closed.is_set():
                raw = self.ws.receive(timeout=0.1)
                if raw is None:
                    continue
                message = json.loads(raw)
                now = time.monotonic()
                kind = message.get("event")
                with self._lock:
                    if kind == "media":
                        payload = base64.b64decode(message["media"]["payload"])
                        if len(payload) % 2 or not payload:
                            raise AssertionError(f"media payload of {len(payload)} bytes: Twilio wants even sizes")
                        play_at = max(self._play_until, now)
                        self._play_until = play_at + len(payload) / 8000
                        self.heard_timeline.append((play_at, payload))
                        self.received.append((now, "media"))
                        if self._current is None:
                            self._current = HeardClip(None, 0, now, now)
                        self._current.frames += 1
                        self._current.last_at = now
                    elif kind == "mark":
                        name = message["mark"]["name"]
                        self.received.append((now, f"mark:{name}"))
                        self._pending_marks.append((max(self._play_until, now), name))
                    elif kind == "clear":
                        self.received.append((now, "clear"))
                        self.clears.append(now)
                        self._play_until = now
                        self.heard_timeline = [(at, p) for at, p in self.heard_timeline if at <= now]
                        if self._current is not None:
                            self._current.cleared = True
                        for _, name in sorted(self._pending_marks):
                            self._mark_played(name)
                        self._pending_marks = []
                        self._finish_clip()
                    else:
                        raise AssertionError(f"the service sent {kind!r}: "
                                             "a bidirectional stream takes media, mark, clear")
        except ConnectionClosed as exc:
            self.close_reason = f"{exc.reason} {exc.message}".strip()
        finally:
            self.closed.set()
