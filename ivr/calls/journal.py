"""The call log of one turn: kept in memory while a state runs, written with the turn's commit.

A webhook must answer in well under Twilio's 15 s even when the database is locked or down.
States therefore never write the call log as they go (an INSERT would wait on the lock); the
events are collected and written at the end of the turn. If the database can't take them
within the lock timeout, they go to the durable spool and are written later, in order, with
the times they happened, and the caller still hears the turn that was built.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import spool
from ..db import session_scope, utcnow
from ..kb.models import QuestionAsked
from ..services import services
from ..spool import Rejected
from .events import Event
from .log import ensure_call, mark_ended
from .models import Call, CallEvent

log = logging.getLogger(__name__)

SPOOL_KIND = "call_log"


@dataclass
class PendingEvent:
    kind: str
    detail: dict[str, Any]
    at: datetime = field(default_factory=utcnow)


def write_events(session: Session, call_sid: str, caller: str, to: str, events: list[PendingEvent]) -> None:
    """Add the call (if new) and its events to `session`; the caller commits."""
    ensure_call(session, call_sid, caller, to)
    for event in events:
        session.add(CallEvent(call_sid=call_sid, kind=event.kind, detail=event.detail, at=event.at))


def journal(instance_path: Path, call_sid: str, caller: str, to: str, events: list[PendingEvent]) -> None:
    """Keep the events durably (fsynced) for the worker to write once the database is back."""

    payload = {"call_sid": call_sid, "caller": caller, "to": to,
               "events": [{"kind": e.kind, "detail": e.detail, "at": e.at.isoformat()} for e in events]}
    spool.append(instance_path, SPOOL_KIND, payload, at=events[0].at if events else None)


def replay_events(app: Flask, payload: dict[str, Any], at: datetime) -> None:
    call_sid = payload.get("call_sid")
    raw_events = payload.get("events")
    if not isinstance(call_sid, str) or not call_sid or len(call_sid) > 64 or not isinstance(raw_events, list):
        raise Rejected("call log entry without a call sid and a list of events")
    try:
        events = [PendingEvent(str(e["kind"])[:32], dict(e.get("detail") or {}), datetime.fromisoformat(e["at"]))
                  for e in raw_events]
    except (KeyError, TypeError, ValueError) as exc:
        raise Rejected(f"malformed call log event: {exc}") from None
    with session_scope(services(app).sessionmaker) as session:
        # Idempotent: an entry replayed twice (a crash between applying and forgetting it) adds nothing.
        if events and session.scalar(select(CallEvent.id).where(
                CallEvent.call_sid == call_sid, CallEvent.kind == events[0].kind, CallEvent.at == events[0].at)):
            return
        write_events(session, call_sid, str(payload.get("caller") or "")[:64], str(payload.get("to") or "")[:64],
                     events)
        _apply_feedback(session, events)
        _apply_order_failures(session, call_sid, events)


def _apply_feedback(session: Session, events: list[PendingEvent]) -> None:
    """A caller's "that helped / it didn't" is also stored on the question (what `kb gaps` reads)."""

    for event in events:
        if event.kind == Event.FEEDBACK and isinstance(event.detail.get("question_id"), int):
            asked = session.get(QuestionAsked, event.detail["question_id"])
            if asked is not None and isinstance(event.detail.get("helped"), bool):
                asked.helped = event.detail["helped"]


def _apply_order_failures(session: Session, call_sid: str, events: list[PendingEvent]) -> None:
    """A failed order check in a spooled turn still counts towards the lock-out.

    The flow counts it on the call in the turn's own transaction; a turn whose commit failed lost
    that count with its rollback, and its log comes back here.
    """
    failures = sum(1 for event in events if event.kind == Event.ORDER_CHECK_FAILED)
    if failures:
        call = session.get(Call, call_sid)
        if call is not None:
            call.order_failures = (call.order_failures or 0) + failures


STATUS_KIND = "call_status"


def journal_status(instance_path: Path, call_sid: str, status: str, duration: str | None) -> None:
    spool.append(instance_path, STATUS_KIND, {"call_sid": call_sid, "status": status, "duration": duration})


def replay_status(app: Flask, payload: dict[str, Any], at: datetime) -> None:
    call_sid, status = payload.get("call_sid"), payload.get("status")
    if not isinstance(call_sid, str) or not call_sid or len(call_sid) > 64 or not isinstance(status, str):
        raise Rejected("call status entry without a call sid and a status")
    with session_scope(services(app).sessionmaker) as session:
        call = session.get(Call, call_sid)
        if call is not None and call.status == status[:32]:
            return  # already applied
        duration = payload.get("duration")
        mark_ended(session, call_sid, status[:32], str(duration)[:16] if duration is not None else None, at=at)

