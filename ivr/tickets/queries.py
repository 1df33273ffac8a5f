"""Finding and changing tickets: one place for the dashboard, the JSON API and the command line."""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from ..calls.events import Event
from ..calls.models import CallEvent
from ..db import utcnow
from ..kb.models import Article, QuestionAsked
from ..users.models import User
from .activity import TicketChange, TicketNote
from .models import TICKET_STATUSES, Ticket

SORTS = {"newest": Ticket.created_at.desc(), "oldest": Ticket.created_at.asc(),
         "updated": Ticket.updated_at.desc(), "status": Ticket.status.asc()}
STATUS_LABELS = {"new": "New", "in_progress": "In progress", "waiting": "Waiting on caller", "resolved": "Resolved"}
KIND_LABELS = {"voicemail": "Voicemail", "callback": "Callback", "web": "Web message"}
OPEN = "open"  # pseudo-status: anything not resolved
MAX_PAGE = 100_000
MAX_ID = 2**63 - 1


class TicketError(ValueError):
    """A change that can't be made (unknown status, unknown assignee...)."""


@dataclass
class TicketFilter:
    status: str | None = None  # a status, "open" (not resolved) or None for any
    assignee: str | None = None  # user id, "me" resolved by the caller, or "none"
    kind: str | None = None
    since: date | None = None
    until: date | None = None
    q: str | None = None
    sort: str = "newest"
    page: int = 1
    per_page: int = 25
    tz: Any = None  # the zone `since`/`until` days are in (the business's on the dashboard); None = UTC

    @classmethod
    def from_args(cls, args: Any, default_status: str | None = None) -> TicketFilter:
        def parse_date(value: str | None) -> date | None:
            try:
                return date.fromisoformat(value) if value else None
            except ValueError:
                raise TicketError(f"dates look like 2026-11-23, got {value!r}") from None

        status = (args.get("status") if "status" in args else default_status) or None
        status = None if status in (None, "", "any") else status.strip()
        if status and status not in TICKET_STATUSES + (OPEN,):
            raise TicketError(f"status must be one of {', '.join(TICKET_STATUSES + (OPEN, 'any'))}")
        kind = (args.get("kind") or "").strip() or None
        if kind and kind not in KIND_LABELS:
            raise TicketError(f"kind must be one of {', '.join(KIND_LABELS)}")
        assignee = (args.get("assignee") or "").strip() or None
        if assignee and assignee != "none" and not (assignee.isdigit() and 0 < int(assignee) <= MAX_ID):
            raise TicketError("assignee must be a user id or 'none'")
        sort = args.get("sort") or "newest"
        if sort not in SORTS:
            raise TicketError(f"sort must be one of {', '.join(SORTS)}")
        try:
            page = int(args.get("page") or 1)
            per_page = int(args.get("per_page") or 25)
        except ValueError:
            raise TicketError("page and per_page must be whole numbers") from None
        if not 1 <= page <= MAX_PAGE:
            raise TicketError(f"page must be between 1 and {MAX_PAGE}")
        if not 1 <= per_page <= 200:
            raise TicketError("per_page must be between 1 and 200")
        return cls(status=status, assignee=assignee, kind=kind,
                   since=parse_date(args.get("since")), until=parse_date(args.get("until")),
                   q=(args.get("q") or "").strip() or None, sort=sort, page=page, per_page=per_page)

    def _utc_midnight(self, day: date) -> datetime:
        """The start of `day` in the filter's zone, as the naive UTC the database stores."""
        start = datetime.combine(day, datetime.min.time())
        if self.tz is None:
            return start
        return start.replace(tzinfo=self.tz).astimezone(UTC).replace(tzinfo=None)

    def query(self):
        query = select(Ticket)
        if self.status == OPEN:
            query = query.where(Ticket.status != "resolved")
        elif self.status:
            query = query.where(Ticket.status == self.status)
        if self.kind:
            query = query.where(Ticket.kind == self.kind)
        if self.assignee == "none":
            query = query.where(Ticket.assignee_id.is_(None))
        elif self.assignee:
            try:
                query = query.where(Ticket.assignee_id == int(self.assignee))
            except ValueError:
                raise TicketError("assignee must be a user id or 'none'") from None
        if self.since:
            query = query.where(Ticket.created_at >= self._utc_midnight(self.since))
        if self.until:
            query = query.where(Ticket.created_at < self._utc_midnight(self.until + timedelta(days=1)))
        if self.q:
            # Every word must appear in the transcript, the caller's number or the reference.
            for word in self.q.lower().split()[:8]:
                like = f"%{word}%"
                query = query.where(or_(func.lower(Ticket.transcript).like(like), Ticket.caller.like(like),
                                        func.lower(Ticket.reference).like(like), func.lower(Ticket.message).like(like),
                                        func.lower(Ticket.contact_email).like(like),
                                        func.lower(Ticket.contact_name).like(like),
                                        Ticket.callback_number.like(like)))
        return query


@dataclass
class TicketPage:
    tickets: list[Ticket]
    total: int
    page: int
    per_page: int
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def status_counts(session: Session) -> dict[str, int]:
    rows = dict(session.execute(select(Ticket.status, func.count()).group_by(Ticket.status)).all())
    return {s: rows.get(s, 0) for s in TICKET_STATUSES}


def list_tickets(session: Session, flt: TicketFilter) -> TicketPage:
    base = flt.query()
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = session.scalars(base.order_by(SORTS[flt.sort], Ticket.id.desc())
                           .offset((flt.page - 1) * flt.per_page).limit(flt.per_page)).all()
    return TicketPage(tickets=list(rows), total=total, page=flt.page, per_page=flt.per_page,
                      counts=status_counts(session))


def find_ticket(session: Session, ident: str | int) -> Ticket | None:
    """By id or by the reference the caller heard (case-insensitive, spaces ignored)."""
    text = str(ident).replace(" ", "").upper()
    if text.isdigit():
        return session.get(Ticket, int(text)) if 0 < int(text) <= MAX_ID else None
    if len(text) > 16:
        return None
    return session.scalar(select(Ticket).where(func.upper(Ticket.reference) == text))


def set_status(session: Session, ticket: Ticket, status: str, by: User | None) -> bool:
    if status not in TICKET_STATUSES:
        raise TicketError(f"status must be one of {', '.join(TICKET_STATUSES)}")
    if ticket.status == status:
        return False
    session.add(TicketChange(ticket_id=ticket.id, author_id=by.id if by else None, field="status",
                             old=ticket.status, new=status))
    ticket.status, ticket.updated_at = status, utcnow()
    return True


def set_assignee(session: Session, ticket: Ticket, assignee_id: int | None, by: User | None) -> bool:
    if assignee_id is not None:
        user = session.get(User, assignee_id) if 0 < assignee_id <= MAX_ID else None
        if user is None or not user.active:
            raise TicketError(f"no active user with id {assignee_id}")
    if ticket.assignee_id == assignee_id:
        return False
    old = session.get(User, ticket.assignee_id).email if ticket.assignee_id else None
    new = session.get(User, assignee_id).email if assignee_id else None
    session.add(TicketChange(ticket_id=ticket.id, author_id=by.id if by else None, field="assignee", old=old, new=new))
    ticket.assignee_id, ticket.updated_at = assignee_id, utcnow()
    return True


def add_note(session: Session, ticket: Ticket, body: str, by: User | None, *, for_caller: bool = False) -> TicketNote:
    body = body.strip()
    if not body:
        raise TicketError("a note can't be empty")
    if len(body) > 10000:
        raise TicketError("a note can be at most 10,000 characters")
    if for_caller and len(body) > 300:
        raise TicketError("a note for the caller is read out on the phone: keep it under 300 characters")
    note = TicketNote(ticket_id=ticket.id, author_id=by.id if by else None, body=body, for_caller=for_caller)
    session.add(note)
    ticket.updated_at = utcnow()
    return note


def ticket_history(session: Session, ticket: Ticket) -> dict[str, Any]:
    """Everything staff need on one page: the call before the message, notes, changes, repeat calls."""
    return {
        "questions": session.scalars(select(QuestionAsked).where(QuestionAsked.call_sid == ticket.call_sid)
                                     .order_by(QuestionAsked.id)).all(),
        "events": session.scalars(select(CallEvent).where(CallEvent.call_sid == ticket.call_sid)
                                  .order_by(CallEvent.id)).all(),
        "notes": session.scalars(select(TicketNote).where(TicketNote.ticket_id == ticket.id)
                                 .order_by(TicketNote.id)).all(),
        "changes": session.scalars(select(TicketChange).where(TicketChange.ticket_id == ticket.id)
                                   .order_by(TicketChange.id)).all(),
        "same_caller": session.scalars(select(Ticket).where(Ticket.caller == ticket.caller, Ticket.id != ticket.id,
                                                            Ticket.caller != "")
                                       .order_by(Ticket.created_at.desc()).limit(20)).all(),
    }


def ticket_dict(ticket: Ticket, session: Session | None = None, full: bool = False) -> dict[str, Any]:
    data = {
        "id": ticket.id, "reference": ticket.reference, "status": ticket.status, "caller": ticket.caller,
        "call_sid": ticket.call_sid, "created_at": ticket.created_at.isoformat(),
        "updated_at": ticket.updated_at.isoformat() if ticket.updated_at else None,
        "assignee_id": ticket.assignee_id, "recording_sid": ticket.recording_sid,
        "recording_duration": ticket.recording_duration, "recording_stored": bool(ticket.recording_path),
        "recording_purged_at": ticket.recording_purged_at.isoformat() if ticket.recording_purged_at else None,
        "transcript": ticket.transcript, "transcript_confidence": ticket.transcript_confidence,
        "transcript_status": ticket.transcript_status, "transcript_engine": ticket.transcript_engine,
        "kind": ticket.kind,
        "missed_transfer": ticket.missed_transfer, "callback_number": ticket.callback_number,
        "contact_name": ticket.contact_name, "contact_email": ticket.contact_email, "message": ticket.message,
    }
    if full and session is not None:
        h = ticket_history(session, ticket)
        data["questions"] = [{"text": q.text, "article_id": q.article_id, "outcome": q.outcome, "helped": q.helped}
                             for q in h["questions"]]
        data["notes"] = [{"id": n.id, "body": n.body, "author": n.author.email if n.author else None,
                          "created_at": n.created_at.isoformat()} for n in h["notes"]]
        data["changes"] = [{"field": c.field, "old": c.old, "new": c.new,
                            "author": c.author.email if c.author else None, "at": c.at.isoformat()}
                           for c in h["changes"]]
        data["other_tickets_from_caller"] = [t.reference for t in h["same_caller"]]
    return data


EXPORT_FIELDS = ["id", "reference", "kind", "status", "caller", "created_at", "assignee_email", "callback_number",
                 "contact_name", "contact_email", "recording_duration", "transcript_status", "transcript_confidence",
                 "transcript", "message", "questions_asked"]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """Spreadsheets run cells starting with = + - @ (or a tab/CR before them): make such text inert."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def export(tickets: Iterable[Ticket], fmt: str, session: Session | None = None) -> str:
    tickets = list(tickets)
    rows = [ticket_dict(t) for t in tickets]
    if session is not None and tickets:
        emails = dict(session.execute(select(User.id, User.email)).all())
        asked: dict[str, list[str]] = {}
        sids = {t.call_sid for t in tickets}
        for sid, text in session.execute(select(QuestionAsked.call_sid, QuestionAsked.text)
                                         .where(QuestionAsked.call_sid.in_(sids)).order_by(QuestionAsked.id)):
            asked.setdefault(sid, []).append(text)
        for row, t in zip(rows, tickets):
            row["assignee_email"] = emails.get(t.assignee_id)
            row["questions_asked"] = asked.get(t.call_sid, [])
    if fmt == "json":
        return json.dumps(rows, indent=2)
    if fmt != "csv":
        raise TicketError("export format must be csv or json")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=EXPORT_FIELDS, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        row["questions_asked"] = " | ".join(row.get("questions_asked") or [])
        writer.writerow({k: neutralise(v) for k, v in row.items()})
    return buf.getvalue()


def _because(d: dict[str, Any], key: str) -> str:
    value = d.get(key)
    return f" ({str(value).replace('_', ' ')})" if value not in (None, "") else ""


_ORDER_FAILURES = {"malformed": "not an order number", "not_found": "no such order",
                   "phone_mismatch": "calling from a phone not on the order", "postcode": "wrong postcode"}


# Events whose sentence needs none of their details.
FIXED_SENTENCES: dict[str, str] = {
    Event.RETURNING_CALLER: "Called again while a ticket from an earlier call was open",
    Event.SPEECH_FAILED: "We could not make out what the caller said",
    Event.ORDER_LOCKED: "Too many failed order checks: no more order look-ups in this call",
    Event.ORDER_SOURCE_ERROR: "The order system could not be reached",
    Event.OPERATOR_REQUESTED: "Asked for a person",
    Event.TRANSFER: "Was put through to staff",
    Event.MISSED_TRANSFER: "Nobody answered the transfer, so the caller left a message",
    Event.CALLBACK_REQUESTED: "Asked to be called back",
    Event.CALLBACK_BAD_NUMBER: "Keyed a callback number we could not use",
    Event.MESSAGE_PROMPT: "Was asked to leave a message",
    Event.RECORDING_RECOVERED: "The message was recovered after the service stopped while it was being left",
    Event.SMS_SENT: "The text message was delivered",
    Event.STREAM_OFFERED: "Answered with live audio",
    Event.STREAM_RECORDING: "Started leaving a message",
    Event.STREAM_FAILED: "The live audio failed on our side; the call carried on",
    Event.STREAM_LOST: "The live audio ended unexpectedly; the caller went back to the main menu",
    Event.HANGUP: "Call ended",
    Event.ERROR: "Something went wrong on our side",
}


def describe_event(kind: str, detail: dict[str, Any], titles: dict[str, str]) -> str:
    """One call-log event as staff would say it, with article titles instead of ids.

    Every `Event` has its sentence (tests/test_call_events.py checks); a kind no longer written
    (an old row) reads as its name with its details.
    """
    def title(aid: Any) -> str:
        return f"“{titles.get(str(aid), str(aid))}”"

    if kind in FIXED_SENTENCES:
        return FIXED_SENTENCES[kind]
    d = detail or {}
    if kind == Event.CALL_STARTED:
        return f"Call started from {d.get('caller') or 'an unknown number'}"
    if kind == Event.REQUEST_STATUS:
        return "Was told where their ticket stands" + _because(d, "status")
    if kind == Event.MENU:
        where = {"main": "the main menu", "topics": "the list of topics", "articles": "a topic's articles"}.get(
            str(d.get("menu")), f"the {d.get('menu', '')} menu")
        return f"Heard {where}" + (" again" if str(d.get("attempt", "0")) not in ("0", "") else "")
    if kind == Event.DIGITS:
        return f"Pressed {d.get('digits')} in the {d.get('menu', '')} menu".replace("  ", " ")
    if kind == Event.SPEECH:
        return f"Said “{d.get('text', '')}”"
    if kind == Event.SEARCH:
        hits = d.get("hits") or []
        best = ""
        if hits and isinstance(hits[0], dict):
            sure = round(100 * float(hits[0].get("score") or 0))
            best = f"; best match {title(hits[0].get('article_id'))} ({sure}% sure)"
        verdict = {"answer": "answered", "choose": "offered a choice", "none": "no answer found"}.get(
            str(d.get("decision")), str(d.get("decision")))
        return f"Asked “{d.get('text', '')}”: {verdict}{best}"
    if kind == Event.ARTICLE:
        return f"Heard the answer {title(d.get('article_id'))}"
    if kind == Event.FEEDBACK:
        return f"Said the answer {title(d.get('article_id'))} {'helped' if d.get('helped') else 'did not help'}"
    if kind == Event.CHOICE:
        rank = d.get("rank")
        if isinstance(rank, int):
            return f"Picked answer {rank + 1} of those offered"
        return "Picked one of the answers offered"
    if kind == Event.ORDER:
        status = d.get("status")
        return f"Checked order {d.get('number')}: " + (f"{status}" if status else "not found")
    if kind == Event.ORDER_CHECK_FAILED:
        why = _ORDER_FAILURES.get(str(d.get("reason")), str(d.get("reason") or "").replace("_", " "))
        return "An order check failed" + (f" ({why})" if why else "")
    if kind == Event.ORDER_VERIFIED:
        return f"Proved they may hear order {d.get('number')}" if d.get("number") else "Proved they may hear an order"
    if kind == Event.NO_INPUT:
        return f"Said nothing in the {d.get('menu', '')} menu"
    if kind == Event.INVALID:
        return f"Gave an answer the {d.get('menu', '')} menu didn't understand"
    if kind == Event.TRANSFER_RESULT:
        return "The transfer to staff ended" + _because(d, "status")
    if kind == Event.CALLBACK_TICKET:
        return f"Callback booked: ticket {d.get('reference')}" if d.get("reference") else "Callback booked"
    if kind == Event.TICKET:
        return f"Left a message: ticket {d.get('reference')}"
    if kind == Event.RATING:
        return f"Rated the call {d.get('rating')} out of 5" if d.get("rating") is not None else "Rated the call"
    if kind == Event.SMS_REQUESTED:
        return "Asked for a text message" + _because(d, "what")
    if kind == Event.SMS_REFUSED:
        return "A text message could not be sent" + _because(d, "reason")
    if kind == Event.SMS_NOT_SENT:
        return "The text message was not delivered" + _because(d, "status")
    if kind == Event.SMS_FAILED:
        return "The text message the caller asked for could not be sent" + _because(d, "error")
    if kind == Event.BARGE_IN:
        how = {"speech": "Spoke", "dtmf": "Pressed a key"}.get(str(d.get("by")), "Cut in")
        return f"{how} before a prompt had finished"
    if kind == Event.STREAM_HANDOFF:
        return "The live audio handed the call on" + _because(d, "reason")
    if kind == Event.STATUS:
        return f"Call ended ({d.get('status')})"
    extra = ", ".join(f"{k} {v}" for k, v in d.items() if v not in (None, "", [], {}))
    return kind.replace("_", " ").capitalize() + (f" ({extra})" if extra else "")


def call_log(session: Session, call_sid: str) -> list[tuple[datetime, str]]:
    events = session.scalars(select(CallEvent).where(CallEvent.call_sid == call_sid).order_by(CallEvent.id)).all()
    titles = dict(session.execute(select(Article.id, Article.title)).all())
    return [(e.at, describe_event(e.kind, e.detail, titles)) for e in events]
