"""The one clock: what time it is for the call flow, the hours, tickets and insights.

Nothing else calls `datetime.now()` for a decision: tests freeze time by setting the app's
`services(app).clock` to a function that returns a fixed aware UTC moment.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def naive_utc(moment: datetime) -> datetime:
    """`moment` as the database stores times: naive UTC."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment
