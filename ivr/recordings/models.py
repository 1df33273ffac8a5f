"""Recordings kept in the database, for deployments where hosts share no disk."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, utcnow


class RecordingBlob(Base):
    __tablename__ = "recording_blobs"

    # The same relative key the folder store uses ("0000/12-RE....wav").
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
