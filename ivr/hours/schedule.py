"""Opening hours: a weekly timetable, holidays and one-off closures in one timezone.

Read from `kb_data/hours.yaml` (IVR_HOURS_PATH). Everything is computed from an explicit `now`
(an aware datetime), so the call flow, the CLI and the tests agree and nothing reads a clock
behind anyone's back. Internally every interval is kept in UTC: comparing aware datetimes that
share a tzinfo compares wall-clock times, which is wrong across a DST change.

File format::

    timezone: America/New_York
    weekly:                       # each day: closed, "09:00-17:00", or several ranges
      monday: 09:00-17:00
      saturday: [10:00-12:00, 13:00-15:00]
      sunday: closed
    holidays:                     # whole days closed, or open only `hours` that day
      - {date: 2026-12-25, name: Christmas Day}
      - {date: 12-31, name: New Year's Eve, hours: 09:00-13:00}   # MM-DD repeats every year
    closures:                     # one-off closures, any length, may cover part of a day
      - {from: 2026-12-03 12:00, to: 2026-12-03 14:00, reason: staff training}
    timezone_name: Eastern time   # optional: the zone as callers hear it (default: from the IANA name)
    kb_article: opening-hours     # optional: this article's answer is written from this file
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_RANGE_RE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_ANNUAL_RE = re.compile(r"^(\d{2})-(\d{2})$")
_KNOWN_KEYS = {"timezone", "timezone_name", "weekly", "holidays", "closures", "kb_article"}
# How far ahead `next_change` looks; beyond it the hours are "always open/closed".
HORIZON_DAYS = 400


class HoursError(Exception):
    """hours.yaml is unusable; `problems` lists `file: what is wrong`."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


class Change(NamedTuple):
    """When the open/closed state next changes, and to what."""

    at: datetime
    kind: Literal["opens", "closes"]


@dataclass(frozen=True)
class TimeRange:
    start: time
    end: time | None  # None = midnight at the end of the day ("24:00")

    def on(self, day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """The range on a local date, in UTC."""
        start = datetime.combine(day, self.start, tzinfo=tz)
        end = (datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz) if self.end is None
               else datetime.combine(day, self.end, tzinfo=tz))
        return start.astimezone(UTC), end.astimezone(UTC)

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{'24:00' if self.end is None else format(self.end, '%H:%M')}"


@dataclass(frozen=True)
class Holiday:
    name: str
    day: date | None = None  # a single date...
    month_day: tuple[int, int] | None = None  # ...or every year on this month and day
    hours: tuple[TimeRange, ...] = ()  # empty = closed all day

    def applies(self, day: date) -> bool:
        if self.day is not None:
            return day == self.day
        return self.month_day == (day.month, day.day)


@dataclass(frozen=True)
class Closure:
    start: datetime  # UTC
    end: datetime  # UTC
    reason: str = ""


@dataclass(frozen=True)
class OpeningHours:
    tz: ZoneInfo
    weekly: tuple[tuple[TimeRange, ...], ...]  # Monday first
    holidays: tuple[Holiday, ...] = ()
    closures: tuple[Closure, ...] = ()
    kb_article: str | None = None
    timezone_name: str | None = None
    source: Path | None = field(default=None, compare=False)

    # ------------------------------------------------------------------ queries
    def holiday_on(self, day: date) -> Holiday | None:
        return next((h for h in self.holidays if h.applies(day)), None)

    def ranges_on(self, day: date) -> tuple[TimeRange, ...]:
        """The local opening ranges of a date before one-off closures: holiday hours win over the week."""
        holiday = self.holiday_on(day)
        return holiday.hours if holiday is not None else self.weekly[day.weekday()]

    def intervals_on(self, day: date) -> list[tuple[datetime, datetime]]:
        """Open intervals (UTC) of a local date, with one-off closures cut out."""
        intervals = [r.on(day, self.tz) for r in self.ranges_on(day)]
        for closure in self.closures:
            cut: list[tuple[datetime, datetime]] = []
            for start, end in intervals:
                if closure.end <= start or closure.start >= end:
                    cut.append((start, end))
                    continue
                if start < closure.start:
                    cut.append((start, closure.start))
                if closure.end < end:
                    cut.append((closure.end, end))
            intervals = cut
        return [(s, e) for s, e in intervals if s < e]

    def _merged(self, first: date, days: int) -> Iterator[tuple[datetime, datetime]]:
        """Open intervals from local date `first` on, with touching ones joined (e.g. over midnight)."""
        current: tuple[datetime, datetime] | None = None
        for offset in range(days):
            for start, end in self.intervals_on(first + timedelta(days=offset)):
                if current is not None and start <= current[1]:
                    current = (current[0], max(current[1], end))
                    continue
                if current is not None:
                    yield current
                current = (start, end)
        if current is not None:
            yield current

    @property
    def never_opens(self) -> bool:
        """No day of the week and no holiday has opening hours (e.g. a desk with no live calls)."""
        return not any(self.weekly) and not any(h.hours for h in self.holidays)

    def is_open(self, now: datetime) -> bool:
        """Whether the desk is open at `now` (an aware datetime)."""
        moment = _utc(now)
        local_day = moment.astimezone(self.tz).date()
        return any(s <= moment < e for s, e in self.intervals_on(local_day))

    def next_change(self, now: datetime) -> Change | None:
        """When open/closed next flips after `now`, in the hours' timezone; None if never within ~a year."""
        moment = _utc(now)
        if self.never_opens:
            return None  # no need to walk the horizon day by day
        first = moment.astimezone(self.tz).date() - timedelta(days=1)
        for start, end in self._merged(first, HORIZON_DAYS):
            if end <= moment:
                continue
            if start > moment:
                return Change(start.astimezone(self.tz), "opens")
            return Change(end.astimezone(self.tz), "closes")
        return None

    def next_opening(self, now: datetime) -> datetime | None:
        """The next moment the desk opens (local time), or None when it is open now or never opens."""
        change = self.next_change(now)
        return change.at if change is not None and change.kind == "opens" else None

    def status(self, now: datetime) -> dict[str, Any]:
        """What `hours --json` prints and what the flow needs in one place."""
        change = self.next_change(now)
        local = _utc(now).astimezone(self.tz)
        holiday = self.holiday_on(local.date())
        return {
            "open": self.is_open(now),
            "now": local.isoformat(),
            "timezone": self.tz.key,
            "next_change": change.at.isoformat() if change else None,
            "next_change_kind": change.kind if change else None,
            "holiday": holiday.name if holiday else None,
        }


def _utc(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("opening hours need an aware datetime (with a timezone), not a naive one")
    return now.astimezone(UTC)


# ---------------------------------------------------------------------- parsing

def _parse_ranges(value: Any, where: str, problems: list[str]) -> tuple[TimeRange, ...]:
    if value is None or (isinstance(value, str) and value.strip().lower() == "closed") or value is False:
        return ()
    items = value if isinstance(value, list) else [value]
    if isinstance(value, str) and "," in value:
        items = value.split(",")
    ranges: list[TimeRange] = []
    for item in items:
        m = _RANGE_RE.match(str(item))
        if not m:
            problems.append(f"{where}: {item!r} is not a time range like 09:00-17:00 (or 'closed')")
            continue
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2):
            problems.append(f"{where}: {item!r} is not a valid time of day")
            continue
        start, end = time(h1, m1), (None if h2 == 24 else time(h2, m2))
        if end is not None and end <= start:
            problems.append(f"{where}: {item!r} ends before it starts (use 24:00 for midnight)")
            continue
        ranges.append(TimeRange(start, end))
    ranges.sort(key=lambda r: r.start)
    for a, b in zip(ranges, ranges[1:]):
        if a.end is None or a.end > b.start:
            problems.append(f"{where}: ranges {a} and {b} overlap")
    return tuple(ranges)


def _parse_local(value: Any, tz: ZoneInfo, where: str, problems: list[str]) -> datetime | None:
    if isinstance(value, datetime):
        local = value.replace(tzinfo=None)
    elif isinstance(value, date):
        local = datetime.combine(value, time(0))
    else:
        try:
            local = datetime.fromisoformat(str(value).strip())
        except ValueError:
            problems.append(f"{where}: {value!r} is not a date and time like 2026-12-03 12:00")
            return None
        if local.tzinfo is not None:
            problems.append(f"{where}: {value!r}: give local time without an offset (the timezone is {tz.key})")
            return None
    return local.replace(tzinfo=tz).astimezone(UTC)


def parse_hours(raw: Any, source: str = "hours.yaml") -> OpeningHours:
    """Validate the YAML structure; raises HoursError listing every problem, each naming the file."""
    problems: list[str] = []
    if not isinstance(raw, dict):
        raise HoursError([f"{source}: expected a mapping with timezone and weekly"])
    unknown = set(raw) - _KNOWN_KEYS
    if unknown:
        problems.append(f"{source}: unknown key(s) {', '.join(sorted(map(str, unknown)))} "
                        f"(expected {', '.join(sorted(_KNOWN_KEYS))})")
    tz_name = raw.get("timezone")
    try:
        if not isinstance(tz_name, str) or not tz_name.strip():
            raise ZoneInfoNotFoundError
        tz = ZoneInfo(tz_name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise HoursError(problems + [f"{source}: timezone {tz_name!r} is not an IANA timezone such as "
                                     "America/New_York or Europe/London"]) from None

    weekly_raw = raw.get("weekly")
    weekly: list[tuple[TimeRange, ...]] = []
    if not isinstance(weekly_raw, dict):
        problems.append(f"{source}: 'weekly' must map each day (monday ... sunday) to hours or 'closed'")
        weekly_raw = {}
    names = {str(k).strip().lower() for k in weekly_raw}
    bad_days = names - set(DAYS)
    if bad_days:
        problems.append(f"{source}: weekly: unknown day(s) {', '.join(sorted(bad_days))}")
    normalised = {str(k).strip().lower(): v for k, v in weekly_raw.items()}
    for day in DAYS:
        weekly.append(_parse_ranges(normalised.get(day), f"{source}: weekly.{day}", problems))

    holidays: list[Holiday] = []
    for n, entry in enumerate(raw.get("holidays") or [], 1):
        where = f"{source}: holidays #{n}"
        if not isinstance(entry, dict) or "date" not in entry:
            problems.append(f"{where}: needs a date (YYYY-MM-DD, or MM-DD for every year) and a name")
            continue
        name = str(entry.get("name") or "").strip()
        if not name:
            problems.append(f"{where}: needs a name (said to callers, e.g. Christmas Day)")
        value = entry["date"]
        day = month_day = None
        if isinstance(value, date) and not isinstance(value, datetime):
            day = value
        elif isinstance(value, str) and _ANNUAL_RE.match(value.strip()):
            mm, dd = (int(x) for x in _ANNUAL_RE.match(value.strip()).groups())
            try:
                date(2024, mm, dd)  # a leap year accepts every real month-day
                month_day = (mm, dd)
            except ValueError:
                problems.append(f"{where}: {value!r} is not a real month and day")
        else:
            try:
                day = date.fromisoformat(str(value).strip())
            except ValueError:
                problems.append(f"{where}: date {value!r} is not YYYY-MM-DD or MM-DD")
        hours = _parse_ranges(entry.get("hours"), f"{where} ({name or value})", problems)
        extra = set(entry) - {"date", "name", "hours"}
        if extra:
            problems.append(f"{where}: unknown key(s) {', '.join(sorted(map(str, extra)))}")
        if day is not None or month_day is not None:
            holidays.append(Holiday(name=name, day=day, month_day=month_day, hours=hours))

    closures: list[Closure] = []
    for n, entry in enumerate(raw.get("closures") or [], 1):
        where = f"{source}: closures #{n}"
        if not isinstance(entry, dict) or "from" not in entry or "to" not in entry:
            problems.append(f"{where}: needs 'from' and 'to' (local date and time, e.g. 2026-12-03 12:00)")
            continue
        start = _parse_local(entry["from"], tz, f"{where} from", problems)
        end = _parse_local(entry["to"], tz, f"{where} to", problems)
        if start and end and end <= start:
            problems.append(f"{where}: 'to' must be after 'from'")
            continue
        if start and end:
            closures.append(Closure(start, end, str(entry.get("reason") or "").strip()))

    article = raw.get("kb_article")
    if article is not None and (not isinstance(article, str) or not re.match(r"^[a-z0-9][a-z0-9-]{0,63}$", article)):
        problems.append(f"{source}: kb_article {article!r} must be an article id such as opening-hours")
    zone_words = raw.get("timezone_name")
    if zone_words is not None and (not isinstance(zone_words, str) or not zone_words.strip()):
        problems.append(f"{source}: timezone_name must be words such as Eastern time")
    if problems:
        raise HoursError(problems)
    return OpeningHours(tz=tz, weekly=tuple(weekly), holidays=tuple(holidays), closures=tuple(closures),
                        kb_article=article, timezone_name=zone_words.strip() if zone_words else None)


def load_hours(path: Path) -> OpeningHours:
    """Read and validate an hours file; HoursError names the file and every problem."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HoursError([f"{path}: file not found (set IVR_HOURS_PATH or create it)"]) from None
    except OSError as exc:
        raise HoursError([f"{path}: cannot read ({exc.strerror})"]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "syntax"
        raise HoursError([f"{path}: not valid YAML ({where}: {getattr(exc, 'problem', None) or exc})"]) from None
    return replace(parse_hours(raw, str(path)), source=path)
