"""Record what happens in a call, so staff and `calls show` can replay it."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from ..db import utcnow
from .events import Event
from .models import Call, CallEvent


def ensure_call(session: Session, sid: str, from_number: str = "", to_number: str = "") -> Call:
    call = session.get(Call, sid)
    if call is None:
        call = Call(sid=sid, from_number=from_number, to_number=to_number)
        session.add(call)
        session.flush()
    elif from_number and not call.from_number:
        call.from_number, call.to_number = from_number, to_number
    return call


def log_event(session: Session, sid: str, kind: str, **detail: Any) -> CallEvent:
    ensure_call(session, sid)
    event = CallEvent(call_sid=sid, kind=kind, detail=detail)
    session.add(event)
    return event


def record_handoff(session: Session, sid: str, twiml: str, **detail: Any) -> None:
    """A Media Stream handed the call to TwiML: keep the TwiML on the call (the `<Connect>` action
    serves it) and note the hand-off in the log, without the TwiML. The caller commits."""
    call = ensure_call(session, sid)
    call.handoff_twiml = twiml
    log_event(session, sid, Event.STREAM_HANDOFF, **detail)


def mark_ended(session: Session, sid: str, status: str, duration: str | None = None, *,
               at: datetime | None = None) -> None:
    """Twilio's status callback: the call's final state (`at`: when it was reported, if not now)."""
    call = ensure_call(session, sid)
    call.status = status
    if status in {"completed", "busy", "failed", "no-answer", "canceled"}:
        call.ended_at = call.ended_at or at or utcnow()
    event = log_event(session, sid, Event.HANGUP if status == "completed" else Event.STATUS, status=status,
                      duration=duration)
    if at is not None:
        event.at = at
