"""Rate limits kept in the database, so every web process and host shares them.

Each attempt worth counting (a failed login, a message from the help page) is one row keyed by
what it is about ("login-account:ann@example.com", "login-address:203.0.113.9"). A key is
blocked while it has `limit` rows inside the sliding window; the answer says for how long.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import DateTime, String, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from ..db import Base, utcnow

KEEP = timedelta(days=1)  # rows older than this are never needed again


class ThrottleEvent(Base):
    __tablename__ = "throttle_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(300), index=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)


@dataclass(frozen=True)
class Rule:
    """At most `limit` events per `window` for one key."""

    prefix: str
    limit: int
    window: timedelta

    def key(self, subject: str) -> str:
        return f"{self.prefix}:{subject.strip().lower()[:250]}"


def retry_after(session: Session, checks: list[tuple[Rule, str]], now: datetime | None = None) -> int:
    """Seconds until every (rule, subject) is allowed again; 0 when none is blocked."""
    now = now or utcnow()
    wait = 0.0
    for rule, subject in checks:
        recent = session.scalars(
            select(ThrottleEvent.at).where(ThrottleEvent.key == rule.key(subject), ThrottleEvent.at > now - rule.window)
            .order_by(ThrottleEvent.at.desc()).limit(rule.limit)
        ).all()
        if len(recent) >= rule.limit:
            # Allowed again once the oldest of the last `limit` events leaves the window.
            wait = max(wait, (recent[-1] + rule.window - now).total_seconds())
    return int(wait) + 1 if wait > 0 else 0


def record(session: Session, checks: list[tuple[Rule, str]], now: datetime | None = None) -> None:
    """Count one event against each (rule, subject); prunes rows nobody will read again."""
    now = now or utcnow()
    session.execute(delete(ThrottleEvent).where(ThrottleEvent.at < now - KEEP))
    for rule, subject in checks:
        session.add(ThrottleEvent(key=rule.key(subject), at=now))


def clear(session: Session, rule: Rule, subject: str) -> None:
    session.execute(delete(ThrottleEvent).where(ThrottleEvent.key == rule.key(subject)))
