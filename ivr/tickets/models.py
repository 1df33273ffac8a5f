"""Tickets: what the machine could not answer, handed to people (voicemail, callback requests, web messages)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, utcnow

TICKET_STATUSES = ("new", "in_progress", "waiting", "resolved")
# voicemail: a recorded message; callback: the caller asked to be called back; web: the help page's form.
TICKET_KINDS = ("voicemail", "callback", "web")


class Ticket(Base):
    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(primary_key=True)
    # What the caller heard, e.g. "KX17"; unique so staff can look it up when the caller rings back.
    reference: Mapped[str | None] = mapped_column(String(16), unique=True, nullable=True)
    call_sid: Mapped[str] = mapped_column(String(64), index=True)
    caller: Mapped[str] = mapped_column(String(64), default="", index=True)
    kind: Mapped[str] = mapped_column(String(16), default="voicemail", server_default="voicemail", index=True)
    # Only voicemail has a recording; unique so Twilio's repeated callbacks never make two tickets.
    recording_sid: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    recording_url: Mapped[str] = mapped_column(String(500), default="")
    recording_duration: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(16), default="new", index=True)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Where our own copy of the audio lives (relative to the recording store), once fetched.
    recording_path: Mapped[str | None] = mapped_column(String(500), nullable=True)
    recording_stored_at: Mapped[datetime | None] = mapped_column(nullable=True)
    recording_purged_at: Mapped[datetime | None] = mapped_column(nullable=True)
    transcript: Mapped[str | None] = mapped_column(Text, nullable=True)
    transcript_confidence: Mapped[float | None] = mapped_column(nullable=True)
    # none | pending | done | failed
    transcript_status: Mapped[str] = mapped_column(String(16), default="none")
    transcript_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Which engine wrote the transcript: "vosk" (ours) or "twilio" (fallback when no model is installed).
    transcript_engine: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # The caller was being put through to a person and nobody answered.
    missed_transfer: Mapped[bool] = mapped_column(default=False, server_default=sa_false())
    # Callback: the number to ring (the caller's own, or one they typed and confirmed).
    callback_number: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Web messages: who wrote and what they said.
    contact_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    contact_email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
