"""Opening hours in words a caller hears: "we open again Monday at 9 a m", and the hours answer.

Every word comes from the prompt catalogue (ids `hours_*`); these functions only choose and
fill them, given a `t(prompt_id, **values)` function such as `CallContext.t` or
`PromptCatalogue.text`. Transport-neutral: they return plain text.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta

from .schedule import DAYS, OpeningHours, TimeRange

T = Callable[..., str]
MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september",
          "october", "november", "december")


def spoken_time(t: T, value: time | None) -> str:
    """09:00 -> '9 a m', 13:30 -> '1 30 p m', 12:00 -> 'noon', 00:00/None -> 'midnight'."""
    if value is None or (value.hour == 0 and value.minute == 0):
        return t("hours_time_midnight")
    if value.hour == 12 and value.minute == 0:
        return t("hours_time_noon")
    hour = value.hour % 12 or 12
    clock = str(hour) if value.minute == 0 else f"{hour} {value.minute:02d}".replace(" 0", " oh ")
    return t("hours_time_pm" if value.hour >= 12 else "hours_time_am", clock=clock)


def _day_name(t: T, index: int) -> str:
    prompt_id = f"hours_day_{DAYS[index]}"
    return t(prompt_id)


def spoken_day(t: T, day: date) -> str:
    return _day_name(t, day.weekday())


def spoken_date(t: T, day: date) -> str:
    """'Monday, December 29th'."""
    n = day.day
    suffix = "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    month_id = f"hours_month_{MONTHS[day.month - 1]}"
    return t("hours_date", day=spoken_day(t, day), month=t(month_id),
             nth=f"{n}{suffix}")


def when_phrase(t: T, moment: datetime, now: datetime) -> str:
    """'today at 9 a m', 'tomorrow at noon', 'Monday at 9 a m', 'on Monday, January 5th at 9 a m'."""
    local_now = now.astimezone(moment.tzinfo)
    days_ahead = (moment.date() - local_now.date()).days
    at = spoken_time(t, moment.time())
    if days_ahead <= 0:
        return t("hours_when_today", time=at)
    if days_ahead == 1:
        return t("hours_when_tomorrow", time=at)
    if days_ahead < 7:
        return t("hours_when_weekday", day=spoken_day(t, moment.date()), time=at)
    return t("hours_when_date", date=spoken_date(t, moment.date()), time=at)


def closed_phrase(t: T, hours: OpeningHours, now: datetime) -> str:
    """For a closed desk: "We're closed today for Christmas Day. We open again Monday at 9 a m."

    Returns "" when the desk is open (say nothing about hours then).
    """
    if hours.is_open(now):
        return ""
    local = now.astimezone(hours.tz)
    holiday = hours.holiday_on(local.date())
    parts = [t("hours_closed_holiday", holiday=holiday.name) if holiday and holiday.name
             else t("hours_closed_now")]
    opening = hours.next_opening(now)
    if opening is not None:
        parts.append(t("hours_open_again", when=when_phrase(t, opening, now)))
    return " ".join(parts)


def open_phrase(t: T, hours: OpeningHours, now: datetime) -> str:
    """For an open desk: "We're open until 5 p m." ("" when closed)."""
    change = hours.next_change(now)
    if not hours.is_open(now) or change is None:
        return ""
    if change.at.date() == now.astimezone(hours.tz).date():
        return t("hours_open_until", when=spoken_time(t, change.at.time()))
    return t("hours_open_until", when=when_phrase(t, change.at, now))


def _join(t: T, items: list[str], *, pause: bool = False) -> str:
    """'A and B', 'A, B, and C'; `pause` keeps the comma for two long items (days with their hours)."""
    if len(items) <= 1:
        return "".join(items)
    if len(items) == 2 and not pause:
        return t("hours_list_pair", first=items[0], last=items[1])
    return t("hours_list", items=", ".join(items[:-1]), last=items[-1])


def _ranges_text(t: T, ranges: tuple[TimeRange, ...]) -> str:
    return _join(t, [t("hours_range", start=spoken_time(t, r.start), end=spoken_time(t, r.end)) for r in ranges])


def weekly_summary(t: T, hours: OpeningHours) -> str:
    """'Monday to Friday, 9 a m to 5 p m, and Saturday, 10 a m to 2 p m': runs of days with equal hours."""
    groups: list[tuple[int, int, tuple[TimeRange, ...]]] = []
    for i, ranges in enumerate(hours.weekly):
        if groups and groups[-1][2] == ranges and groups[-1][1] == i - 1:
            groups[-1] = (groups[-1][0], i, ranges)
        else:
            groups.append((i, i, ranges))
    parts = []
    for first, last, ranges in groups:
        if not ranges:
            continue
        days = _day_name(t, first)
        if last > first:
            days = t("hours_day_span", first=days, last=_day_name(t, last))
        parts.append(t("hours_days_hours", days=days, hours=_ranges_text(t, ranges)))
    return _join(t, parts, pause=True)


def zone_name(hours: OpeningHours) -> str:
    """'New York' for America/New_York, unless the file names the zone for callers (timezone_name)."""
    return hours.timezone_name or hours.tz.key.rsplit("/", 1)[-1].replace("_", " ")


def hours_answer(t: T, hours: OpeningHours, today: date) -> str:
    """The knowledge-base answer for "what are your hours?", written from the hours file."""
    summary = weekly_summary(t, hours)
    parts = [t("hours_answer_weekly", schedule=summary, zone=zone_name(hours)) if summary
             else t("hours_answer_no_hours")]
    horizon = today + timedelta(days=366)
    closed: list[str] = []
    shorter: list[str] = []
    for h in hours.holidays:
        upcoming = h.month_day is not None or (h.day is not None and today <= h.day <= horizon)
        names = shorter if h.hours else closed
        if upcoming and h.name and h.name not in names:
            names.append(h.name)
    if closed:
        parts.append(t("hours_answer_holidays", holidays=_join(t, closed)))
    if shorter:
        parts.append(t("hours_answer_short_days", holidays=_join(t, shorter)))
    parts.append(t("hours_answer_line"))
    return " ".join(parts)
