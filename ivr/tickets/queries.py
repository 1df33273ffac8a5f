"""Finding and changing tickets: one place for the dashboard, the JSON API and the command line."""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Iterable

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from ..calls.models import CallEvent
from ..db import utcnow
from ..kb.models import QuestionAsked
from ..users.models import User
from .activity import TicketChange, TicketNote
from .models import TICKET_STATUSES, Ticket

SORTS = {"newest": Ticket.created_at.desc(), "oldest": Ticket.created_at.asc(),
         "updated": Ticket.updated_at.desc(), "status": Ticket.status.asc()}
STATUS_LABELS = {"new": "New", "in_progress": "In progress", "waiting": "Waiting on caller", "resolved": "Resolved"}


class TicketError(ValueError):
    """A change that can't be made (unknown status, unknown assignee...)."""


@dataclass
class TicketFilter:
    status: str | None = None
    assignee: str | None = None  # user id, "me" resolved by the caller, or "none"
    since: date | None = None
    until: date | None = None
    q: str | None = None
    sort: str = "newest"
    page: int = 1
    per_page: int = 25

    @classmethod
    def from_args(cls, args: Any) -> "TicketFilter":
        def parse_date(value: str | None) -> date | None:
            try:
                return date.fromisoformat(value) if value else None
            except ValueError:
                raise TicketError(f"dates look like 2026-11-23, got {value!r}") from None

        status = (args.get("status") or "").strip() or None
        if status and status not in TICKET_STATUSES:
            raise TicketError(f"status must be one of {', '.join(TICKET_STATUSES)}")
        sort = args.get("sort") or "newest"
        if sort not in SORTS:
            raise TicketError(f"sort must be one of {', '.join(SORTS)}")
        try:
            page = max(1, int(args.get("page") or 1))
            per_page = min(200, max(1, int(args.get("per_page") or 25)))
        except ValueError:
            raise TicketError("page and per_page must be whole numbers") from None
        return cls(status=status, assignee=(args.get("assignee") or "").strip() or None,
                   since=parse_date(args.get("since")), until=parse_date(args.get("until")),
                   q=(args.get("q") or "").strip() or None, sort=sort, page=page, per_page=per_page)

    def query(self):
        query = select(Ticket)
        if self.status:
            query = query.where(Ticket.status == self.status)
        if self.assignee == "none":
            query = query.where(Ticket.assignee_id.is_(None))
        elif self.assignee:
            try:
                query = query.where(Ticket.assignee_id == int(self.assignee))
            except ValueError:
                raise TicketError("assignee must be a user id or 'none'") from None
        if self.since:
            query = query.where(Ticket.created_at >= datetime.combine(self.since, datetime.min.time()))
        if self.until:
            query = query.where(Ticket.created_at < datetime.combine(self.until + timedelta(days=1), datetime.min.time()))
        if self.q:
            # Every word must appear in the transcript, the caller's number or the reference.
            for word in self.q.lower().split()[:8]:
                like = f"%{word}%"
                query = query.where(or_(func.lower(Ticket.transcript).like(like), Ticket.caller.like(like),
                                        func.lower(Ticket.reference).like(like)))
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
        return session.get(Ticket, int(text))
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
        user = session.get(User, assignee_id)
        if user is None or not user.active:
            raise TicketError(f"no active user with id {assignee_id}")
    if ticket.assignee_id == assignee_id:
        return False
    old = session.get(User, ticket.assignee_id).email if ticket.assignee_id else None
    new = session.get(User, assignee_id).email if assignee_id else None
    session.add(TicketChange(ticket_id=ticket.id, author_id=by.id if by else None, field="assignee", old=old, new=new))
    ticket.assignee_id, ticket.updated_at = assignee_id, utcnow()
    return True


def add_note(session: Session, ticket: Ticket, body: str, by: User | None) -> TicketNote:
    body = body.strip()
    if not body:
        raise TicketError("a note can't be empty")
    if len(body) > 10000:
        raise TicketError("a note can be at most 10,000 characters")
    note = TicketNote(ticket_id=ticket.id, author_id=by.id if by else None, body=body)
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
        "transcript_status": ticket.transcript_status,
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


EXPORT_FIELDS = ["id", "reference", "status", "caller", "created_at", "assignee_id", "recording_duration",
                 "transcript_status", "transcript_confidence", "transcript"]


def export(tickets: Iterable[Ticket], fmt: str) -> str:
    rows = [ticket_dict(t) for t in tickets]
    if fmt == "json":
        return json.dumps(rows, indent=2)
    if fmt != "csv":
        raise TicketError("export format must be csv or json")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=EXPORT_FIELDS, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    return buf.getvalue()
