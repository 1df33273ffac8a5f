"""Check TwiML against the verbs, nesting and attribute values Twilio's Voice accepts.

Twilio rejects a malformed document with an "application error" message to the caller; this
catches such documents in tests and in `simulate` before a real call ever sees one. The rules
follow Twilio's TwiML Voice reference for the verbs this product uses (and a few neighbours).
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable

Check = Callable[[str], bool]

_INT = re.compile(r"^\d+$")


def _is_int(low: int = 0, high: int | None = None) -> Check:
    return lambda v: bool(_INT.match(v)) and int(v) >= low and (high is None or int(v) <= high)


def _one_of(*values: str) -> Check:
    return lambda v: v in values


_BOOL = _one_of("true", "false")
_METHOD = _one_of("GET", "POST")
_URL = lambda v: bool(v) and not any(ch.isspace() for ch in v)  # noqa: E731 - relative or absolute
_ANY = lambda v: True  # noqa: E731
_KEYS = lambda v: re.fullmatch(r"[0-9#*]?", v) is not None  # noqa: E731
_RECORD_KEYS = lambda v: re.fullmatch(r"[0-9#*]*", v) is not None  # noqa: E731
_INPUT = lambda v: set(v.split()) <= {"dtmf", "speech"} and bool(v.split())  # noqa: E731
_SPEECH_TIMEOUT = lambda v: v == "auto" or bool(_INT.match(v))  # noqa: E731
_LANG = lambda v: re.fullmatch(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*", v) is not None  # noqa: E731
_EVENTS = lambda v: set(v.split()) <= {"in-progress", "completed", "absent"}  # noqa: E731

VERBS: dict[str, dict[str, Check]] = {
    "Say": {"voice": _ANY, "language": _LANG, "loop": _is_int(0)},
    "Play": {"loop": _is_int(0), "digits": lambda v: re.fullmatch(r"[0-9wW#*]+", v) is not None},
    "Pause": {"length": _is_int(1, 600)},
    "Gather": {
        "action": _URL, "method": _METHOD, "timeout": _is_int(1, 600), "finishOnKey": _KEYS,
        "numDigits": _is_int(1), "input": _INPUT, "speechTimeout": _SPEECH_TIMEOUT, "language": _LANG,
        "hints": _ANY, "profanityFilter": _BOOL, "speechModel": _ANY, "enhanced": _BOOL,
        "partialResultCallback": _URL, "partialResultCallbackMethod": _METHOD,
        "actionOnEmptyResult": _BOOL, "bargeIn": _BOOL, "debug": _BOOL,
    },
    "Record": {
        "action": _URL, "method": _METHOD, "timeout": _is_int(0), "finishOnKey": _RECORD_KEYS,
        "maxLength": _is_int(1, 14400), "playBeep": _BOOL, "trim": _one_of("trim-silence", "do-not-trim"),
        "recordingStatusCallback": _URL, "recordingStatusCallbackMethod": _METHOD,
        "recordingStatusCallbackEvent": _EVENTS, "transcribe": _BOOL, "transcribeCallback": _URL,
        "storageUrl": _URL, "storageUrlMethod": _METHOD,
    },
    "Redirect": {"method": _METHOD},
    "Hangup": {},
    "Reject": {"reason": _one_of("rejected", "busy")},
    "Dial": {
        "action": _URL, "method": _METHOD, "timeout": _is_int(5, 600), "callerId": _ANY,
        "hangupOnStar": _BOOL, "timeLimit": _is_int(1), "record": _ANY, "answerOnBridge": _BOOL,
        "ringTone": _ANY, "recordingStatusCallback": _URL, "recordingStatusCallbackMethod": _METHOD,
    },
    "Number": {"sendDigits": _ANY, "url": _URL, "method": _METHOD},
    "Sip": {"username": _ANY, "password": _ANY, "url": _URL, "method": _METHOD},
}
TOP_LEVEL = {"Say", "Play", "Pause", "Gather", "Record", "Redirect", "Hangup", "Reject", "Dial"}
CHILDREN = {"Gather": {"Say", "Play", "Pause"}, "Dial": {"Number", "Sip"}}
NEEDS_TEXT = {"Say", "Play", "Redirect", "Number", "Sip"}
SAY_MAX_CHARS = 4096


class TwimlError(ValueError):
    """The document would be rejected by Twilio; the message says where."""


def check_twiml(document: str | bytes) -> ET.Element:
    """Parse and check a TwiML document; return its root or raise TwimlError."""
    try:
        root = ET.fromstring(document)
    except ET.ParseError as exc:
        raise TwimlError(f"not well-formed XML: {exc}") from None
    if root.tag != "Response":
        raise TwimlError(f"root element must be <Response>, got <{root.tag}>")
    if root.attrib:
        raise TwimlError(f"<Response> takes no attributes, got {sorted(root.attrib)}")
    for child in root:
        _check(child, TOP_LEVEL, "Response")
    return root


def _check(el: ET.Element, allowed: set[str], parent: str) -> None:
    if el.tag not in allowed:
        raise TwimlError(f"<{el.tag}> is not allowed inside <{parent}>")
    rules = VERBS[el.tag]
    for name, value in el.attrib.items():
        if name not in rules:
            raise TwimlError(f"<{el.tag}> has no attribute {name!r}")
        if not rules[name](value):
            raise TwimlError(f"<{el.tag} {name}={value!r}> is not a value Twilio accepts")
    text = (el.text or "").strip()
    if el.tag in NEEDS_TEXT and not text:
        raise TwimlError(f"<{el.tag}> needs text content")
    if el.tag == "Say" and len(text) > SAY_MAX_CHARS:
        raise TwimlError(f"<Say> text is {len(text)} characters; Twilio's limit is {SAY_MAX_CHARS}")
    if el.tag not in NEEDS_TEXT and text and el.tag not in CHILDREN:
        raise TwimlError(f"<{el.tag}> takes no text")
    if el.tag == "Number" and not re.fullmatch(r"\+?[0-9]{3,15}", text):
        raise TwimlError(f"<Number> {text!r} is not a phone number")
    if el.tag == "Sip" and not re.fullmatch(r"sips?:\S+@\S+", text):
        raise TwimlError(f"<Sip> {text!r} is not a SIP URI")
    for child in el:
        _check(child, CHILDREN.get(el.tag, set()), el.tag)
