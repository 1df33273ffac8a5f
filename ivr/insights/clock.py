"""The business's clock: which zone staff pages and insights use for days, hours and times.

The zone itself comes from one place, `ivr.hours.business_tz` (the hours file, else IVR_TIMEZONE).
"""
from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from ..hours import business_tz

__all__ = ["business_tz", "format_duration", "format_local", "to_local"]


def to_local(moment: datetime, tz: ZoneInfo) -> datetime:
    """A stored (naive UTC) time in the business's zone."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(tz)


def format_local(moment: datetime | None, tz: ZoneInfo, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if moment is None:
        return ""
    local = to_local(moment, tz)
    return f"{local.strftime(fmt)} {local.tzname()}"


def format_duration(seconds: float) -> str:
    """'45 s', '12 min', '5 h', '3 d': short enough for a table column."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400 * 2:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min" if seconds < 36000 else f"{seconds // 3600} h"
    return f"{seconds // 86400} d"
