"""A call driver that behaves like Twilio: it posts signed webhooks and follows the TwiML.

Used by `python -m ivr simulate` (a person types) and by the tests (code types), over the
Flask test client or real HTTP. Every document it receives is checked with `check_twiml`.
"""
from __future__ import annotations

import secrets
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

from twilio.request_validator import RequestValidator

from .twiml_check import check_twiml

MAX_REDIRECTS = 25


class Transport(Protocol):
    def post(self, url: str, params: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
        """POST form params to an absolute URL; return (status, body)."""


class FlaskTransport:
    """Deliver webhooks to a Flask app in this process (no network)."""

    def __init__(self, client: Any):
        self.client = client

    def post(self, url: str, params: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        resp = self.client.post(path, data=params, headers=headers,
                                base_url=f"{parts.scheme}://{parts.netloc}")
        return resp.status_code, resp.get_data(as_text=True)


class HttpTransport:
    """Deliver webhooks over real HTTP, as Twilio does."""

    def __init__(self, timeout: float = 15.0):
        import requests

        self.session = requests.Session()
        self.timeout = timeout

    def post(self, url: str, params: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
        resp = self.session.post(url, data=params, headers=headers, timeout=self.timeout)
        return resp.status_code, resp.text


class CallError(AssertionError):
    """The app answered something Twilio would treat as an application error."""


@dataclass
class Step:
    """What happened between two caller actions."""

    heard: list[str] = field(default_factory=list)
    waiting: str | None = None  # "gather" | "record" | None when the call has ended
    gather: dict[str, str] = field(default_factory=dict)
    ended: str | None = None  # "hangup" | "end-of-document"
    dialled: list[list[str]] = field(default_factory=list)  # each <Dial>'s destinations, in order


# How a <Dial> ends, given its destinations: one of Twilio's DialCallStatus values.
DialOutcome = Callable[[list[str]], str]


class CallDriver:
    def __init__(self, transport: Transport, base_url: str, auth_token: str, *,
                 account_sid: str = "AC" + "0" * 32, caller: str = "+15005550006",
                 to: str = "+15005550001", api_base: str = "https://api.twilio.com",
                 fallback_url: str | None = None, dial_outcome: DialOutcome | None = None):
        self.transport = transport
        self.base_url = base_url.rstrip("/") + "/"
        self.validator = RequestValidator(auth_token)
        self.account_sid = account_sid
        self.call_sid = "CA" + secrets.token_hex(16)
        self.caller, self.to = caller, to
        self.api_base = api_base.rstrip("/")
        # The number's "primary handler fails" URL: Twilio requests it when a webhook errs or times out.
        self.fallback_url = fallback_url
        self.documents: list[str] = []
        self.heard: list[str] = []  # everything heard during the whole call
        self.recordings: list[dict[str, str]] = []
        self._pending: list[ET.Element] = []
        self._waiting_el: ET.Element | None = None
        self._current_url = ""
        self.ended: str | None = None
        # url -> the sentence a <Play> clip speaks, when the app is in this process (see simulate)
        self.clip_words: Callable[[str], str | None] | None = None
        # Nobody answers unless a test says otherwise (Twilio: DialCallStatus=no-answer).
        self.dial_outcome: DialOutcome = dial_outcome or (lambda destinations: "no-answer")
        self.dials: list[dict[str, Any]] = []  # every <Dial>: destinations, attributes and outcome

    # ------------------------------------------------------------------ HTTP
    def _base_params(self) -> dict[str, str]:
        return {"CallSid": self.call_sid, "AccountSid": self.account_sid, "From": self.caller,
                "To": self.to, "Caller": self.caller, "Called": self.to, "Direction": "inbound",
                "ApiVersion": "2010-04-01"}

    def signed_post(self, url: str, params: dict[str, str]) -> tuple[int, str]:
        url = urljoin(self._current_url or self.base_url, url)
        signature = self.validator.compute_signature(url, params)
        return self.transport.post(url, params, {"X-Twilio-Signature": signature})

    def _fetch(self, url: str, extra: dict[str, str] | None = None) -> None:
        absolute = urljoin(self._current_url or self.base_url, url)
        params = {**self._base_params(), "CallStatus": "in-progress", **(extra or {})}
        try:
            status, body = self.signed_post(absolute, params)
        except Exception as exc:  # noqa: BLE001 - a timeout or refused connection, as Twilio sees it
            status, body = 0, f"{type(exc).__name__}: {exc}"
        if status != 200 and self.fallback_url:
            # Twilio's error 11200 (HTTP retrieval failure), then the fallback URL with the error.
            absolute = urljoin(self.base_url, self.fallback_url)
            params = {**params, "ErrorCode": "11200", "ErrorUrl": url}
            status, body = self.signed_post(absolute, params)
        if status != 200:
            raise CallError(f"POST {absolute} answered HTTP {status}: {body[:200]}")
        self.documents.append(body)
        root = check_twiml(body)
        self._current_url = absolute
        self._pending = list(root)

    # ------------------------------------------------------------------ call control
    def start(self) -> Step:
        """Place the call: POST the entry webhook and run until the caller must act."""
        self._fetch(urljoin(self.base_url, "voice"), {"CallStatus": "ringing"})
        return self._run()

    def press(self, digits: str) -> Step:
        return self._answer({"Digits": digits})

    def say(self, text: str, confidence: float = 0.92) -> Step:
        if self._waiting_el is not None and self._waiting_el.tag == "Record":
            raise CallError("the app is recording, not listening for speech: use record()")
        return self._answer({"SpeechResult": text, "Confidence": f"{confidence:.2f}"})

    def silence(self) -> Step:
        """Say and press nothing until the verb times out."""
        self._require_waiting()
        self._waiting_el = None
        return self._run()

    def record(self, seconds: int = 12, recording_sid: str | None = None, hangup: bool = False) -> Step:
        """Leave a recording, as Twilio reports it: the action callback, then the status callback."""
        el = self._require_waiting()
        if el.tag != "Record":
            raise CallError(f"the app is not recording (waiting in <{el.tag}>)")
        sid = recording_sid or "RE" + secrets.token_hex(16)
        url = f"{self.api_base}/2010-04-01/Accounts/{self.account_sid}/Recordings/{sid}"
        rec = {"RecordingSid": sid, "RecordingUrl": url, "RecordingDuration": str(seconds)}
        self.recordings.append(rec)
        self._waiting_el = None
        action = el.get("action") or self._current_url
        status_cb = el.get("recordingStatusCallback")
        if hangup:
            rec_digits = {"Digits": "hangup"}
            self._fetch(action, {**rec, **rec_digits})
            self._pending = []
            self._send_recording_status(status_cb, rec)
            return self.hangup()
        self._fetch(action, {**rec, "Digits": el.get("finishOnKey", "#")[:1] or ""})
        self._send_recording_status(status_cb, rec)
        return self._run()

    def _send_recording_status(self, url: str | None, rec: dict[str, str]) -> None:
        if not url:
            return
        params = {**self._base_params(), **rec, "RecordingStatus": "completed",
                  "RecordingChannels": "1", "RecordingSource": "RecordVerb"}
        status, body = self.signed_post(url, params)
        if status >= 400:
            raise CallError(f"recording status callback answered HTTP {status}: {body[:200]}")

    def hangup(self) -> Step:
        """The caller hangs up: Twilio posts the final status callback."""
        self.ended = self.ended or "caller-hangup"
        self._pending, self._waiting_el = [], None
        self.signed_post(urljoin(self.base_url, "voice/status"),
                         {**self._base_params(), "CallStatus": "completed", "CallDuration": "42"})
        return Step(ended=self.ended)

    # ------------------------------------------------------------------ interpreter
    def _require_waiting(self) -> ET.Element:
        if self._waiting_el is None:
            ended = f" (ended: {self.ended})" if self.ended else ""
            raise CallError(f"the call is not waiting for the caller{ended}")
        return self._waiting_el

    def _answer(self, params: dict[str, str]) -> Step:
        el = self._require_waiting()
        if el.tag != "Gather":
            raise CallError(f"the app is not gathering input (waiting in <{el.tag}>)")
        kinds = set((el.get("input") or "dtmf").split())
        if "Digits" in params and "dtmf" not in kinds:
            raise CallError("this Gather does not accept keys")
        if "SpeechResult" in params and "speech" not in kinds:
            raise CallError("this Gather does not accept speech")
        self._waiting_el = None
        self._fetch(el.get("action") or self._current_url, params)
        return self._run()

    def _run(self) -> Step:
        step = Step()
        redirects = 0
        while True:
            if not self._pending:
                self.ended = "end-of-document"
                self._finish(step)
                return step
            el = self._pending.pop(0)
            if el.tag in ("Say", "Play"):
                self._hear(el, step)
            elif el.tag == "Gather":
                for child in el:
                    if child.tag in ("Say", "Play"):
                        self._hear(child, step)
                self._waiting_el = el
                step.waiting, step.gather = "gather", dict(el.attrib)
                return step
            elif el.tag == "Record":
                self._waiting_el = el
                step.waiting, step.gather = "record", dict(el.attrib)
                return step
            elif el.tag == "Redirect":
                redirects += 1
                if redirects > MAX_REDIRECTS:
                    raise CallError("too many redirects in a row (a loop with no caller turn)")
                self._fetch((el.text or "").strip())
            elif el.tag == "Dial":
                if self._dial(el, step):
                    redirects = 0
            elif el.tag in ("Hangup", "Reject"):
                self.ended = "hangup"
                self._finish(step)
                return step
            # Pause and anything else take no caller action.

    def _dial(self, el: ET.Element, step: Step) -> bool:
        """Ring the destinations as Twilio would; returns True when the action URL was requested.

        Twilio requests the Dial's action with DialCallStatus (and DialCallSid/DialCallDuration
        when a leg was created) once the dialled call ends; without an action it goes on with
        the next verb.
        """
        destinations = [(child.text or "").strip() for child in el if child.tag in ("Number", "Sip")]
        if not destinations and (el.text or "").strip():
            destinations = [(el.text or "").strip()]
        status = self.dial_outcome(destinations)
        self.dials.append({"destinations": destinations, "attrs": dict(el.attrib), "status": status})
        step.dialled.append(destinations)
        action = el.get("action")
        if not action:
            return False
        params = {"DialCallStatus": status}
        if status in ("completed", "answered", "busy", "no-answer"):
            params.update(DialCallSid="CA" + secrets.token_hex(16),
                          DialCallDuration="37" if status in ("completed", "answered") else "0")
        self._fetch(action, params)
        return True

    def _hear(self, el: ET.Element, step: Step) -> None:
        text = (el.text or "").strip()
        if el.tag == "Play":
            words = self.clip_words(text) if self.clip_words else None
            text = f"{words} [audio]" if words else f"[audio {text}]"
        step.heard.append(text)
        self.heard.append(text)

    def _finish(self, step: Step) -> None:
        step.ended = self.ended
        step.waiting = None
        self.hangup_quietly()

    def hangup_quietly(self) -> None:
        self.signed_post(urljoin(self.base_url, "voice/status"),
                         {**self._base_params(), "CallStatus": "completed", "CallDuration": "42"})
