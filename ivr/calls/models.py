"""Calls and everything that happened in them."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base, utcnow


class Call(Base):
    __tablename__ = "calls"

    sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    from_number: Mapped[str] = mapped_column(String(64), default="", index=True)
    to_number: Mapped[str] = mapped_column(String(64), default="")
    started_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    ended_at: Mapped[datetime | None] = mapped_column(nullable=True)
    status: Mapped[str] = mapped_column(String(32), default="in-progress")
    # The caller's 1-5 keypad rating at the end of the call, when ratings are switched on.
    rating: Mapped[int | None] = mapped_column(nullable=True)
    # What decides things about the call lives here, written in the turn's own transaction, never
    # in the call log (whose events may be written later from the spool; ivr/calls/journal.py):
    # failed order checks in this call (MAX_FAILURES locks order look-ups) ...
    order_failures: Mapped[int] = mapped_column(default=0, server_default="0")
    # ... and the TwiML a Media Stream handed the call to, served by the `<Connect>` action.
    handoff_twiml: Mapped[str | None] = mapped_column(Text, nullable=True)
    events: Mapped[list[CallEvent]] = relationship(
        back_populates="call", order_by="CallEvent.id", cascade="all, delete-orphan"
    )


class CallEvent(Base):
    __tablename__ = "call_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_sid: Mapped[str] = mapped_column(ForeignKey("calls.sid"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    # An `Event` (ivr/calls/events.py): every kind is declared there.
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    call: Mapped[Call] = relationship(back_populates="events")
