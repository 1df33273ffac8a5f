"""Orders a caller can check by number."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, utcnow


class Order(Base):
    __tablename__ = "orders"

    number: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[str] = mapped_column(String(32))
    # A short sentence read to the caller after the status, e.g. "It left our warehouse on 3 March."
    detail: Mapped[str] = mapped_column(Text, default="")
    # When either is set, the caller must prove it's their order (calling from this phone, or typing
    # this postcode) before the status and detail are read.
    phone: Mapped[str | None] = mapped_column(String(32), nullable=True)
    postcode: Mapped[str | None] = mapped_column(String(16), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class VerifiedOrder(Base):
    """An order a call has proven it may hear (its phone or postcode), so it may hear it again and have it texted.

    Written in the turn that read the order, in that turn's transaction (not the deferrable call log).
    """
    __tablename__ = "call_verified_orders"

    call_sid: Mapped[str] = mapped_column(ForeignKey("calls.sid"), primary_key=True)
    number: Mapped[str] = mapped_column(String(32), primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
