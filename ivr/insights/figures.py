"""How the desk is doing over a period: one computation for the insights page, its CSVs and `ivr report`.

Days and hours are the business's (see clock.business_tz). A call is
- *contained* when it got an answer (an article, or an order's status) and ended without a message,
  a callback, a transfer to a person, and without the caller's last word being "that didn't help";
- *abandoned* when the caller hung up before any answer and without leaving a message or callback.
"""
from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from ..calls.events import Event
from ..calls.models import Call, CallEvent
from ..clock import system_clock
from ..kb.models import Article, QuestionAsked
from ..tickets.activity import TicketChange
from ..tickets.models import TICKET_KINDS, Ticket
from ..tickets.queries import neutralise
from .clock import to_local

MAX_DAYS = 366
# Events meaning the caller was handed to a person: a transfer tried, a callback asked for or made.
HANDOVER_EVENTS = frozenset(e for e in Event if "transfer" in e or "callback" in e)
# Events meaning the caller asked for a person (pressed for one, or to leave a message); a
# transfer or a callback counts as handed over (above).
ESCALATION_EVENTS = frozenset({Event.OPERATOR_REQUESTED, Event.MESSAGE_PROMPT})


class PeriodError(ValueError):
    """The period asked for can't be used; the message says why."""


@dataclass(frozen=True)
class Period:
    since: date  # first day, inclusive (business time)
    until: date  # last day, inclusive
    tz: ZoneInfo

    @classmethod
    def parse(cls, since: str | None, until: str | None, tz: ZoneInfo, default_days: int = 30,
              today: date | None = None) -> Period:
        today = today or system_clock().astimezone(tz).date()
        try:
            end = date.fromisoformat(until) if until else today
            start = date.fromisoformat(since) if since else end - timedelta(days=default_days - 1)
        except ValueError:
            raise PeriodError("dates look like 2026-11-23") from None
        if start > end:
            raise PeriodError("the period starts after it ends")
        if (end - start).days + 1 > MAX_DAYS:
            raise PeriodError(f"a period can be at most {MAX_DAYS} days")
        return cls(start, end, tz)

    def bounds(self) -> tuple[datetime, datetime]:
        """The period as naive UTC datetimes [start, end), as stored."""
        def utc(d: date) -> datetime:
            return datetime.combine(d, time.min, self.tz).astimezone(UTC).replace(tzinfo=None)

        return utc(self.since), utc(self.until + timedelta(days=1))

    def days(self) -> list[date]:
        return [self.since + timedelta(days=n) for n in range((self.until - self.since).days + 1)]


@dataclass
class Figures:
    since: str
    until: str
    timezone: str
    calls: int = 0
    contained: int = 0
    abandoned: int = 0
    escalated: int = 0
    containment_rate: float | None = None
    abandonment_rate: float | None = None
    calls_per_day: list[tuple[str, int]] = field(default_factory=list)
    calls_per_hour: list[tuple[int, int]] = field(default_factory=list)
    tickets_by_kind: dict[str, int] = field(default_factory=dict)
    missed_transfers: int = 0
    resolved_tickets: int = 0
    average_handling_seconds: float | None = None
    questions: int = 0
    top_questions: list[tuple[str, int]] = field(default_factory=list)
    top_articles: list[tuple[str, str, int]] = field(default_factory=list)  # id, title, times heard
    unanswered: list[tuple[str, int, int, int]] = field(default_factory=list)  # question, times, declined, unhelpful
    ratings: dict[int, int] = field(default_factory=dict)
    average_rating: float | None = None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["calls_per_day"] = [{"day": d, "calls": n} for d, n in self.calls_per_day]
        data["calls_per_hour"] = [{"hour": h, "calls": n} for h, n in self.calls_per_hour]
        data["top_questions"] = [{"question": q, "times": n} for q, n in self.top_questions]
        data["top_articles"] = [{"article_id": a, "title": t, "times": n} for a, t, n in self.top_articles]
        data["unanswered"] = [{"question": q, "times": n, "declined": d, "unhelpful": u}
                              for q, n, d, u in self.unanswered]
        data["ratings"] = {str(k): v for k, v in self.ratings.items()}
        return data


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def compute(session: Session, period: Period, top: int = 10) -> Figures:
    start, end = period.bounds()
    fig = Figures(since=period.since.isoformat(), until=period.until.isoformat(), timezone=period.tz.key)

    calls = session.execute(select(Call.sid, Call.started_at, Call.ended_at, Call.status, Call.rating)
                            .where(Call.started_at >= start, Call.started_at < end)).all()
    sids = [c.sid for c in calls]
    per_day: Counter[date] = Counter()
    per_hour: Counter[int] = Counter()
    for c in calls:
        local = to_local(c.started_at, period.tz)
        per_day[local.date()] += 1
        per_hour[local.hour] += 1
    fig.calls = len(calls)
    fig.calls_per_day = [(d.isoformat(), per_day.get(d, 0)) for d in period.days()]
    fig.calls_per_hour = [(h, per_hour.get(h, 0)) for h in range(24)]

    # What happened in each call, from its events and tickets.
    answered: set[str] = set()
    asked_for_person: set[str] = set()  # pressed for a person or to leave a message
    handed_over: set[str] = set()  # a ticket (message, callback) or a transfer to a person
    last_feedback: dict[str, bool] = {}
    heard: Counter[str] = Counter()
    for chunk in (sids[i:i + 500] for i in range(0, len(sids), 500)):
        for sid, kind, detail in session.execute(
                select(CallEvent.call_sid, CallEvent.kind, CallEvent.detail)
                .where(CallEvent.call_sid.in_(chunk)).order_by(CallEvent.id)):
            detail = detail or {}
            if kind == Event.ARTICLE:
                answered.add(sid)
                heard[str(detail.get("article_id"))] += 1
            elif kind == Event.ORDER and detail.get("status"):
                answered.add(sid)
            elif kind == Event.FEEDBACK:
                last_feedback[sid] = bool(detail.get("helped"))
            elif kind in HANDOVER_EVENTS:
                handed_over.add(sid)
            elif kind in ESCALATION_EVENTS:
                asked_for_person.add(sid)
        handed_over.update(session.scalars(select(Ticket.call_sid).where(Ticket.call_sid.in_(chunk))))
    for c in calls:
        if c.sid in handed_over:
            fig.escalated += 1
        elif c.sid not in answered:
            if c.ended_at or c.status != "in-progress":
                fig.abandoned += 1
        elif c.sid not in asked_for_person and last_feedback.get(c.sid, True):
            fig.contained += 1
    fig.containment_rate = _rate(fig.contained, fig.calls)
    fig.abandonment_rate = _rate(fig.abandoned, fig.calls)

    # Tickets made in the period, and how long the resolved ones took.
    kinds = dict(session.execute(select(Ticket.kind, func.count()).where(Ticket.created_at >= start,
                                                                        Ticket.created_at < end)
                                 .group_by(Ticket.kind)).all())
    fig.tickets_by_kind = {k: kinds.get(k, 0) for k in TICKET_KINDS}
    fig.missed_transfers = session.scalar(select(func.count()).select_from(Ticket).where(
        Ticket.created_at >= start, Ticket.created_at < end, Ticket.missed_transfer.is_(True))) or 0
    resolved = session.execute(
        select(Ticket.created_at, func.min(TicketChange.at))
        .join(TicketChange, TicketChange.ticket_id == Ticket.id)
        .where(Ticket.created_at >= start, Ticket.created_at < end, TicketChange.field == "status",
               TicketChange.new == "resolved")
        .group_by(Ticket.id, Ticket.created_at)).all()
    fig.resolved_tickets = len(resolved)
    if resolved:
        fig.average_handling_seconds = round(
            sum((done - created).total_seconds() for created, done in resolved) / len(resolved), 1)

    # Questions: the most asked, and the ones we could not answer.
    in_period = (QuestionAsked.asked_at >= start, QuestionAsked.asked_at < end)
    text = func.lower(func.trim(QuestionAsked.text))
    fig.questions = session.scalar(select(func.count()).select_from(QuestionAsked).where(*in_period)) or 0
    fig.top_questions = [(q, n) for q, n in session.execute(
        select(text, func.count()).where(*in_period).group_by(text)
        .order_by(func.count().desc(), text).limit(top))]
    declined = func.sum(case((QuestionAsked.outcome == "declined", 1), else_=0))
    fig.unanswered = [(q, n, int(d or 0), n - int(d or 0)) for q, n, d in session.execute(
        select(text, func.count(), declined).where(*in_period)
        .where(or_(QuestionAsked.outcome == "declined", QuestionAsked.helped.is_(False)))
        .group_by(text).order_by(func.count().desc(), text).limit(top))]
    titles = dict(session.execute(select(Article.id, Article.title)).all())
    fig.top_articles = [(aid, titles.get(aid, f"{aid} (retired)"), n)
                        for aid, n in sorted(heard.items(), key=lambda kv: (-kv[1], kv[0]))[:top]]

    ratings = [c.rating for c in calls if c.rating is not None]
    fig.ratings = {r: ratings.count(r) for r in range(1, 6)}
    fig.average_rating = round(sum(ratings) / len(ratings), 2) if ratings else None
    return fig


# --------------------------------------------------------------------------- CSV downloads

def _csv(header: list[str], rows: list[tuple]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    for row in rows:
        writer.writerow([neutralise(v) for v in row])
    return buf.getvalue()


def csv_for(fig: Figures, name: str) -> str:
    """One figure as CSV; raises KeyError for an unknown name."""
    tables = {
        "calls-per-day": (["day", "calls"], fig.calls_per_day),
        "calls-per-hour": (["hour", "calls"], fig.calls_per_hour),
        "outcomes": (["outcome", "calls"], [("contained", fig.contained), ("abandoned", fig.abandoned),
                                            ("escalated", fig.escalated),
                                            ("other", fig.calls - fig.contained - fig.abandoned - fig.escalated)]),
        "tickets": (["kind", "tickets"], list(fig.tickets_by_kind.items())
                    + [("missed_transfer", fig.missed_transfers)]),
        "handling": (["resolved_tickets", "average_handling_seconds"],
                     [(fig.resolved_tickets, fig.average_handling_seconds)]),
        "top-questions": (["question", "times"], fig.top_questions),
        "top-articles": (["article_id", "title", "times_heard"], fig.top_articles),
        "unanswered": (["question", "times", "declined", "unhelpful"], fig.unanswered),
        "ratings": (["rating", "calls"], list(fig.ratings.items())),
    }
    header, rows = tables[name]
    return _csv(header, list(rows))


CSV_NAMES = ("calls-per-day", "calls-per-hour", "outcomes", "tickets", "handling", "top-questions", "top-articles",
             "unanswered", "ratings")
