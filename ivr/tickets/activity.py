"""What staff did on a ticket: internal notes and every status or assignee change, with who and when."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base, utcnow
from ..users.models import User


class TicketNote(Base):
    __tablename__ = "ticket_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Notes are internal unless staff mark one for the caller, who then hears it when calling back.
    for_caller: Mapped[bool] = mapped_column(default=False, server_default=sa_false())
    author: Mapped[User | None] = relationship()


class TicketChange(Base):
    __tablename__ = "ticket_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    field: Mapped[str] = mapped_column(String(32))
    old: Mapped[str | None] = mapped_column(String(254), nullable=True)
    new: Mapped[str | None] = mapped_column(String(254), nullable=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    author: Mapped[User | None] = relationship()
