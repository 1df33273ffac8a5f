"""Orders a caller can check by number."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
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
