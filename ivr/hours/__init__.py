"""Business hours: when a person can take the call (kb_data/hours.yaml, IVR_HOURS_PATH).

The call flow asks `current_hours(app)` once per webhook; the file is re-read only when it
changes on disk (a stat per call), and a file broken while the service runs keeps the last
good hours (logged) rather than failing a caller's call.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from flask import Flask, current_app

from ..services import services
from .schedule import Change, HoursError, OpeningHours, load_hours, parse_hours

__all__ = ["Change", "HoursCache", "HoursError", "OpeningHours", "business_tz", "current_hours", "load_hours",
           "parse_hours"]

log = logging.getLogger(__name__)


@dataclass
class HoursCache:
    """The hours last read, and the file's (path, mtime, size) they were read from."""

    key: tuple[str, int, int] | None = None
    hours: OpeningHours | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


def current_hours(app: Flask) -> OpeningHours | None:
    """The configured opening hours, or None when there is no hours file (then there are no hours:
    the flow behaves as if a person is never available to transfer to, and says nothing about hours)."""
    path = app.config["IVR_SETTINGS"].hours_path
    try:
        stat = path.stat()
    except OSError:
        return None
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    cache = services(app).hours
    if cache.key == key:
        return cache.hours
    with cache.lock:
        if cache.key == key:
            return cache.hours
        try:
            hours = load_hours(path)
        except HoursError as exc:
            log.error("opening hours not reloaded, keeping the previous ones: %s", exc)
            cache.key = key  # the previous hours stay until the file changes again
            return cache.hours
        cache.key, cache.hours = key, hours
        return hours


def business_tz(app: Flask | None = None) -> ZoneInfo:
    """The zone the business works in: the hours file's `timezone`, else IVR_TIMEZONE (UTC unless set).

    The one source of the zone for the flow, the dashboard and insights, so staff pages show
    times in the zone the opening hours are kept in.
    """
    app = app or current_app
    hours = current_hours(app)
    if hours is not None:
        return hours.tz
    return ZoneInfo(app.config["IVR_SETTINGS"].timezone)
