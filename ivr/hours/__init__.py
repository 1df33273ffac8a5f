"""Business hours: when a person can take the call (kb_data/hours.yaml, IVR_HOURS_PATH).

The call flow asks `current_hours(app)` once per webhook; the file is re-read only when it
changes on disk (a stat per call), and a file broken while the service runs keeps the last
good hours (logged) rather than failing a caller's call.
"""
from __future__ import annotations

import logging
import threading
from datetime import datetime, timezone
from typing import Callable

from flask import Flask

from .schedule import Change, HoursError, OpeningHours, load_hours, parse_hours

__all__ = ["Change", "HoursError", "OpeningHours", "current_hours", "load_hours", "now", "parse_hours", "set_clock"]

log = logging.getLogger(__name__)
_lock = threading.Lock()


def current_hours(app: Flask) -> OpeningHours | None:
    """The configured opening hours, or None when there is no hours file (then there are no hours:
    the flow behaves as if a person is never available to transfer to, and says nothing about hours)."""
    path = app.config["IVR_SETTINGS"].hours_path
    try:
        stat = path.stat()
    except OSError:
        return None
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    cached = app.extensions.get("ivr.hours")
    if cached is not None and cached[0] == key:
        return cached[1]
    with _lock:
        cached = app.extensions.get("ivr.hours")
        if cached is not None and cached[0] == key:
            return cached[1]
        try:
            hours = load_hours(path)
        except HoursError as exc:
            log.error("opening hours not reloaded, keeping the previous ones: %s", exc)
            previous = cached[1] if cached is not None else None
            app.extensions["ivr.hours"] = (key, previous)
            return previous
        app.extensions["ivr.hours"] = (key, hours)
        return hours


def now(app: Flask) -> datetime:
    """The current time (aware, UTC) as the call flow should see it.

    Tests freeze it with `set_clock(app, lambda: fixed)`; nothing in the flow calls datetime.now().
    """
    clock: Callable[[], datetime] | None = app.extensions.get("ivr.clock")
    return clock() if clock is not None else datetime.now(timezone.utc)


def set_clock(app: Flask, clock: Callable[[], datetime] | None) -> None:
    """Use `clock` for `now(app)` (None: the real clock again)."""
    if clock is None:
        app.extensions.pop("ivr.clock", None)
    else:
        app.extensions["ivr.clock"] = clock
