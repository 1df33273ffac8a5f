"""Keep recordings N days (IVR_RECORDING_RETENTION_DAYS); the ticket and transcript stay."""
from __future__ import annotations

from datetime import timedelta

from flask import Flask
from sqlalchemy import select

from ..db import session_scope, utcnow
from ..services import services
from ..tickets.models import Ticket
from .store import get_store


def purge_recordings(app: Flask, days: int, dry_run: bool = False) -> list[dict]:
    """Delete stored audio of tickets older than `days`; returns what was (or would be) deleted."""
    if days < 1:
        raise ValueError("retention must be at least 1 day")
    cutoff = utcnow() - timedelta(days=days)
    store = get_store(app)
    deleted = []
    with session_scope(services(app).sessionmaker) as session:
        tickets = session.scalars(select(Ticket).where(Ticket.created_at < cutoff, Ticket.recording_path.is_not(None),
                                                       Ticket.recording_purged_at.is_(None))).all()
        for t in tickets:
            size = store.size(t.recording_path)
            deleted.append({"ticket": t.reference, "created_at": t.created_at.isoformat(), "bytes": size})
            if not dry_run:
                store.delete(t.recording_path)
                t.recording_purged_at = utcnow()
        if dry_run:
            session.rollback()
    return deleted
