"""Is this caller allowed to hear this order? And the order number as a caller says it.

An order with a phone number or postcode is read only to a caller who calls from that phone or
types that postcode. Failed attempts (unknown numbers, wrong postcodes) are counted per call on
the call itself (`calls.order_failures`), so going back to the main menu doesn't reset them: after
`MAX_FAILURES` the call can't look orders up any more and the caller is offered a message. The
orders a call has proven are rows of `call_verified_orders`. Both are written in the turn's own
transaction as it decides, never through the call log (which may be written later, from the spool).
"""
from __future__ import annotations

import re

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..calls.log import ensure_call
from ..calls.models import Call
from .models import VerifiedOrder
from .source import OrderRecord

MAX_FAILURES = 3

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
    """'04101' == '04101'; a US ZIP+4 on the order also matches its first five digits; letters count
    for UK-style codes."""
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
    return session.scalar(select(Call.order_failures).where(Call.sid == call_sid)) or 0


def locked_out(session: Session, call_sid: str) -> bool:
    return failed_attempts(session, call_sid) >= MAX_FAILURES


def count_failure(session: Session, call_sid: str, caller: str = "", to: str = "") -> int:
    """Count a failed attempt now, in `session`'s transaction (flushed: raises if it can't be written).

    Returns the call's failures so far, this one included.
    """
    ensure_call(session, call_sid, caller, to)
    session.execute(update(Call).where(Call.sid == call_sid).values(order_failures=Call.order_failures + 1))
    return failed_attempts(session, call_sid)


def mark_verified(session: Session, call_sid: str, number: str, caller: str = "", to: str = "") -> None:
    """Remember that this call proved it may hear order `number` (flushed: raises if it can't be written)."""
    ensure_call(session, call_sid, caller, to)
    if session.get(VerifiedOrder, (call_sid, number)) is None:
        session.add(VerifiedOrder(call_sid=call_sid, number=number))
        session.flush()


def order_verified(session: Session, call_sid: str, number: str) -> bool:
    """Whether this call proved it may hear order `number` (marked by the flow when it read the details)."""
    return session.scalar(select(VerifiedOrder.number).where(VerifiedOrder.call_sid == call_sid,
                                                             VerifiedOrder.number == number)) is not None
