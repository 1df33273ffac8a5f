"""Twilio Media Streams wire format, apart from what the call does with it.

Like Pipecat's TwilioFrameSerializer: text frames of JSON in, typed events out, and the three
messages a bidirectional stream may send back (`media`, `mark`, `clear`). Shapes follow
https://www.twilio.com/docs/voice/media-streams/websocket-messages:

* `connected` {protocol, version} - first message on the socket;
* `start` {sequenceNumber, streamSid, start: {accountSid, streamSid, callSid, tracks,
  customParameters, mediaFormat: {encoding: audio/x-mulaw, sampleRate: 8000, channels: 1}}};
* `media` {sequenceNumber, streamSid, media: {track, chunk, timestamp, payload (base64 mu-law)}};
* `dtmf` {streamSid, sequenceNumber, dtmf: {track: inbound_track, digit}};
* `mark` {streamSid, sequenceNumber, mark: {name}} - our mark, echoed once the audio queued
  before it has played, or when a `clear` dropped it;
* `stop` {streamSid, sequenceNumber, stop: {accountSid, callSid}}.

Numbers inside these messages arrive as strings; they are parsed here.
"""
from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SAMPLE_RATE = 8000
FRAME_MS = 20
FRAME_BYTES = SAMPLE_RATE * FRAME_MS // 1000  # 160 bytes of mu-law = 20 ms
ULAW_SILENCE = 0xFF


class ProtocolError(ValueError):
    """A message that is not Twilio Media Streams JSON; the message says what is wrong."""


@dataclass(frozen=True)
class Connected:
    protocol: str
    version: str


@dataclass(frozen=True)
class Start:
    stream_sid: str
    call_sid: str
    account_sid: str
    tracks: tuple[str, ...] = ("inbound",)
    custom_parameters: Mapping[str, str] = field(default_factory=dict)
    encoding: str = "audio/x-mulaw"
    sample_rate: int = SAMPLE_RATE
    channels: int = 1


@dataclass(frozen=True)
class Media:
    track: str
    chunk: int
    timestamp_ms: int
    payload: bytes  # raw mu-law, no header


@dataclass(frozen=True)
class Dtmf:
    digit: str
    track: str = "inbound_track"


@dataclass(frozen=True)
class Mark:
    name: str


@dataclass(frozen=True)
class Stop:
    account_sid: str
    call_sid: str


Event = Connected | Start | Media | Dtmf | Mark | Stop


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def parse(message: str | bytes) -> Event | None:
    """One text frame from Twilio -> an event; None for an event type we don't handle.

    Raises ProtocolError for anything that is not a JSON object with an `event`.
    """
    try:
        data = json.loads(message)
    except (TypeError, ValueError) as exc:
        raise ProtocolError(f"not JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("event"), str):
        raise ProtocolError("not a Media Streams message (no 'event')")
    kind = data["event"]
    body = data.get(kind) if isinstance(data.get(kind), dict) else {}
    if kind == "media":
        try:
            payload = base64.b64decode(body.get("payload") or "", validate=True)
        except (ValueError, TypeError) as exc:
            raise ProtocolError(f"media payload is not base64: {exc}") from None
        return Media(track=str(body.get("track") or "inbound"), chunk=_int(body.get("chunk")),
                     timestamp_ms=_int(body.get("timestamp")), payload=payload)
    if kind == "dtmf":
        digit = str(body.get("digit") or "")
        if len(digit) != 1 or digit not in "0123456789*#ABCD":
            raise ProtocolError(f"dtmf digit {digit!r} is not a key")
        return Dtmf(digit=digit, track=str(body.get("track") or "inbound_track"))
    if kind == "mark":
        return Mark(name=str(body.get("name") or ""))
    if kind == "start":
        fmt = body.get("mediaFormat") if isinstance(body.get("mediaFormat"), dict) else {}
        params = body.get("customParameters") if isinstance(body.get("customParameters"), dict) else {}
        stream_sid = str(body.get("streamSid") or data.get("streamSid") or "")
        if not stream_sid or not body.get("callSid"):
            raise ProtocolError("start message lacks streamSid or callSid")
        return Start(stream_sid=stream_sid, call_sid=str(body["callSid"]),
                     account_sid=str(body.get("accountSid") or ""),
                     tracks=tuple(body.get("tracks") or ("inbound",)),
                     custom_parameters={str(k): str(v) for k, v in params.items()},
                     encoding=str(fmt.get("encoding") or "audio/x-mulaw"),
                     sample_rate=_int(fmt.get("sampleRate"), SAMPLE_RATE), channels=_int(fmt.get("channels"), 1))
    if kind == "stop":
        return Stop(account_sid=str(body.get("accountSid") or ""), call_sid=str(body.get("callSid") or ""))
    if kind == "connected":
        return Connected(protocol=str(data.get("protocol") or ""), version=str(data.get("version") or ""))
    return None


# ---------------------------------------------------------------- what we send (bidirectional)

def media_message(stream_sid: str, payload: bytes) -> str:
    """Audio to play: raw 8 kHz mu-law (no file header), base64."""
    return json.dumps({"event": "media", "streamSid": stream_sid,
                       "media": {"payload": base64.b64encode(payload).decode("ascii")}})


def mark_message(stream_sid: str, name: str) -> str:
    return json.dumps({"event": "mark", "streamSid": stream_sid, "mark": {"name": name}})


def clear_message(stream_sid: str) -> str:
    """Drop every queued frame; Twilio then returns the marks that were still pending."""
    return json.dumps({"event": "clear", "streamSid": stream_sid})


# ---------------------------------------------------------------- what Twilio sends (for stand-ins)

class TwilioSide:
    """Builds the messages Twilio sends, numbered as Twilio numbers them (tests, simulate, bench)."""

    def __init__(self, stream_sid: str, call_sid: str, account_sid: str):
        self.stream_sid, self.call_sid, self.account_sid = stream_sid, call_sid, account_sid
        self.sequence = 0
        self.chunk = 0
        self.timestamp_ms = 0

    def _next(self) -> str:
        self.sequence += 1
        return str(self.sequence)

    @staticmethod
    def connected() -> str:
        return json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"})

    def start(self, custom_parameters: Mapping[str, str] | None = None) -> str:
        return json.dumps({
            "event": "start", "sequenceNumber": self._next(), "streamSid": self.stream_sid,
            "start": {"accountSid": self.account_sid, "streamSid": self.stream_sid, "callSid": self.call_sid,
                      "tracks": ["inbound"], "customParameters": dict(custom_parameters or {}),
                      "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": SAMPLE_RATE, "channels": 1}},
        })

    def media(self, payload: bytes) -> str:
        self.chunk += 1
        message = json.dumps({
            "event": "media", "sequenceNumber": self._next(), "streamSid": self.stream_sid,
            "media": {"track": "inbound", "chunk": str(self.chunk), "timestamp": str(self.timestamp_ms),
                      "payload": base64.b64encode(payload).decode("ascii")},
        })
        self.timestamp_ms += len(payload) * 1000 // SAMPLE_RATE
        return message

    def dtmf(self, digit: str) -> str:
        return json.dumps({"event": "dtmf", "streamSid": self.stream_sid, "sequenceNumber": self._next(),
                           "dtmf": {"track": "inbound_track", "digit": digit}})

    def mark(self, name: str) -> str:
        return json.dumps({"event": "mark", "sequenceNumber": self._next(), "streamSid": self.stream_sid,
                           "mark": {"name": name}})

    def stop(self) -> str:
        return json.dumps({"event": "stop", "sequenceNumber": self._next(), "streamSid": self.stream_sid,
                           "stop": {"accountSid": self.account_sid, "callSid": self.call_sid}})
