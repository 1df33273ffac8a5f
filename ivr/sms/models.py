"""Every text we send a caller, with its outcome (what the flow reads to tell the caller)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, utcnow

# queued (job waiting) | sent (Twilio accepted it) | failed (see error)
SMS_STATUSES = ("queued", "sent", "failed")


class TextMessage(Base):
    __tablename__ = "sms_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(64), index=True)
    # Always the call's own From number (copied from the call log when the text was asked for).
    to_number: Mapped[str] = mapped_column(String(64), index=True)
    # article | order | ticket, and which one (article id, order number, ticket reference).
    kind: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(64), default="")
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    twilio_sid: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    sent_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # What the carrier did with it, from Twilio's status callback: delivered | undelivered | failed.
    delivery: Mapped[str | None] = mapped_column(String(16), nullable=True)
    delivery_error: Mapped[str | None] = mapped_column(String(16), nullable=True)
