"""Callback requests from the phone: a ticket of kind "callback" with the number to ring."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..calls.events import Event
from ..calls.log import log_event
from ..jobs.queue import enqueue
from .models import Ticket
from .service import new_reference

JOBS_FOR_NEW_CALLBACK = ("ticket.notify",)


def request_callback(session: Session, call_sid: str, caller: str, number: str) -> Ticket:
    """The call's callback ticket, made once however often Twilio repeats the request."""
    existing = session.scalars(select(Ticket).where(Ticket.call_sid == call_sid, Ticket.kind == "callback")).first()
    if existing is not None:
        existing.callback_number = number
        return existing
    ticket = Ticket(call_sid=call_sid, caller=caller, kind="callback", callback_number=number, status="new")
    session.add(ticket)
    session.flush()
    ticket.reference = new_reference(ticket.id)
    for kind in JOBS_FOR_NEW_CALLBACK:
        enqueue(session, kind, {"ticket_id": ticket.id})
    log_event(session, call_sid, Event.TICKET, ticket_id=ticket.id, reference=ticket.reference, ticket_kind="callback")
    return ticket
