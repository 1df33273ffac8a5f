"""Is this caller allowed to hear this order? And the order number as a caller says it.

An order with a phone number or postcode is read only to a caller who calls from that phone or
types that postcode. Failed attempts (unknown numbers, wrong postcodes) are counted per call in
the call's own event log, so going back to the main menu doesn't reset them: after
`MAX_FAILURES` the call can't look orders up any more and the caller is offered a message.
"""
from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..calls.models import CallEvent
from .source import OrderRecord

MAX_FAILURES = 3
FAILURE_EVENT = "order_check_failed"

_WORD_DIGITS = {
    "zero": "0", "oh": "0", "o": "0", "nought": "0", "one": "1", "won": "1", "two": "2", "to": "2", "too": "2",
    "three": "3", "tree": "3", "four": "4", "for": "4", "fore": "4", "five": "5", "six": "6", "seven": "7",
    "eight": "8", "ate": "8", "nine": "9", "niner": "9",
}
_MULTIPLIERS = {"double": 2, "triple": 3}
_FILLER = {"my", "order", "number", "is", "it's", "its", "the", "uh", "um", "er", "and", "a", "it", "that's",
           "thats", "hash", "pound", "please"}


def digits_from_speech(text: str) -> str:
    """'four five one two' -> '4512'; 'double seven 3 4 1' -> '77341'; '45 12' -> '4512'.

    Returns "" when anything said is neither a digit nor filler ("my order number is"), so a
    sentence is never mistaken for an order number.
    """
    tokens = re.sub(r"[^a-z0-9' ]+", " ", (text or "").lower().replace("-", " ")).split()
    out: list[str] = []
    repeat = 1
    for token in tokens:
        if token in _MULTIPLIERS:
            repeat = _MULTIPLIERS[token]
            continue
        if token.isdigit():
            digits = token
        elif token in _WORD_DIGITS:
            digits = _WORD_DIGITS[token]
        elif token in _FILLER:
            continue
        else:
            return ""
        out.append(digits[0] * repeat + digits[1:])
        repeat = 1
    return "".join(out)


def _digits(value: str | None) -> str:
    return re.sub(r"\D", "", value or "")


def phones_match(order_phone: str | None, caller: str | None) -> bool:
    """Same line: equal in E.164, or equal national numbers (the last ten digits) when one lacks a country code."""
    a, b = _digits(order_phone), _digits(caller)
    if len(a) < 7 or len(b) < 7:
        return False
    if (order_phone or "").strip().startswith("+") and (caller or "").strip().startswith("+"):
        return a == b
    return a[-10:] == b[-10:]


def normalise_postcode(value: str | None) -> str:
    return re.sub(r"[^A-Z0-9]", "", (value or "").upper())


def postcodes_match(order_postcode: str | None, typed: str | None) -> bool:
    """'04101' == '04101'; a US ZIP+4 on the order also matches its first five digits; letters count for UK-style codes."""
    want, got = normalise_postcode(order_postcode), normalise_postcode(typed)
    if not want or not got:
        return False
    if want == got:
        return True
    return want.isdigit() and len(want) == 9 and got == want[:5]


def caller_may_hear(order: OrderRecord, caller: str | None) -> bool:
    """Without asking anything: an unprotected order, or the caller's own phone on the order."""
    return not order.protected or phones_match(order.phone, caller)


def postcode_can_prove(order: OrderRecord) -> bool:
    """Whether asking for a postcode can prove the caller's claim to this order."""
    return bool(normalise_postcode(order.postcode))


def failed_attempts(session: Session, call_sid: str) -> int:
    return session.scalar(select(func.count()).select_from(CallEvent)
                          .where(CallEvent.call_sid == call_sid, CallEvent.kind == FAILURE_EVENT)) or 0


def locked_out(session: Session, call_sid: str) -> bool:
    return failed_attempts(session, call_sid) >= MAX_FAILURES


VERIFIED_EVENT = "order_verified"


def order_verified(session: Session, call_sid: str, number: str) -> bool:
    """Whether this call proved it may hear order `number` (logged by the flow when it read the details)."""
    details = session.scalars(select(CallEvent.detail).where(CallEvent.call_sid == call_sid,
                                                             CallEvent.kind == VERIFIED_EVENT))
    return any((d or {}).get("number") == number for d in details)
