"""What the call flow needs to know about the desk: open now (and what to say when it isn't).

Reads `ivr.hours` (opening hours, holidays, closures); without an hours file nobody is ever
available to transfer to and nothing is said about hours.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ...hours import current_hours
from ...hours.spoken import closed_phrase, spoken_date
from ..context import CallContext


@dataclass(frozen=True)
class DeskNow:
    open: bool
    closed_words: str = ""  # "We're closed right now. We open again Monday at 9 a m." or ""


def desk_now(ctx: CallContext) -> DeskNow:
    hours = current_hours(ctx.app)
    if hours is None:
        return DeskNow(open=False)
    now = ctx.now()
    if hours.is_open(now):
        return DeskNow(open=True)
    return DeskNow(open=False, closed_words=closed_phrase(ctx.t, hours, now))


def spoken_day(ctx: CallContext, day: date) -> str:
    """'Monday, November 23rd' in the catalogue's words (the hours area's)."""
    return spoken_date(ctx.t, day)
