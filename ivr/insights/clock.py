"""The business's clock: which zone staff pages and insights use for days, hours and times.

One function, `business_tz()`, so a later opening-hours file can become the source of the zone.
"""
from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from flask import Flask, current_app


def business_tz(app: Flask | None = None) -> ZoneInfo:
    """The zone the business works in (IVR_TIMEZONE; UTC unless set)."""
    return ZoneInfo((app or current_app).config["IVR_SETTINGS"].timezone)


def to_local(moment: datetime, tz: ZoneInfo) -> datetime:
    """A stored (naive UTC) time in the business's zone."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
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
