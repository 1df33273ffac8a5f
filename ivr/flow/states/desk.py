"""What the call flow needs to know about the desk: open now (and what to say when it isn't).

Reads `ivr.hours` (opening hours, holidays, closures); without an hours file nobody is ever
available to transfer to and nothing is said about hours.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ...hours import current_hours
from ...hours.spoken import closed_phrase, spoken_date, spoken_time, when_phrase
from ...hours.spoken import spoken_day as weekday_name
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
    """A past day as people say it: 'today', 'yesterday', 'on Thursday' within the week, else
    'on Monday, November 23rd' (in the business's time zone; the catalogue's words)."""
    from ...hours import business_tz

    today = ctx.now().astimezone(business_tz(ctx.app)).date()
    ago = (today - day).days
    if ago == 0:
        return ctx.t("day_today")
    if ago == 1:
        return ctx.t("day_yesterday")
    if 1 < ago < 7:
        return ctx.t("day_weekday", day=weekday_name(ctx.t, day))
    return ctx.t("day_date", date=spoken_date(ctx.t, day))


def callback_when(ctx: CallContext) -> str:
    """When a caller asking for a callback can expect it, from the opening hours: 'today, before 5 p m',
    'after we open tomorrow at 9 a m', or (no hours) 'on the next business day'."""
    hours = current_hours(ctx.app)
    now = ctx.now()
    change = hours.next_change(now) if hours is not None else None
    if change is None:
        return ctx.t("callback_when_next_day")
    if change.kind == "closes":
        local_today = now.astimezone(hours.tz).date()
        if change.at.date() == local_today:
            return ctx.t("callback_when_today", time=spoken_time(ctx.t, change.at.time()))
        return ctx.t("callback_when_soon")
    return ctx.t("callback_when_after", when=when_phrase(ctx.t, change.at, now))
