"""Asking for a text: what it says, and to whom — always and only the number the call came from.

There is deliberately no `to` argument anywhere the call flow can reach: the recipient is the
call's From number in the call log, and what is sent is built here from the call's own data (an
article, an order this call has verified, a ticket this caller made). Limits per call and per
number per day keep the feature from being used to send floods of texts at our expense.
"""
from __future__ import annotations

import re
from datetime import timedelta

from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..calls.models import Call
from ..db import utcnow
from ..jobs.queue import enqueue
from ..kb.models import Article
from ..orders.lookup import KNOWN_STATUSES
from ..orders.source import lookup_order
from ..orders.verify import order_verified
from ..services import services
from ..tickets.models import Ticket
from .models import TextMessage

E164_RE = re.compile(r"^\+[1-9][0-9]{6,14}$")
# The numbers Twilio puts in From for callers who hide theirs (anonymous, restricted, blocked, unavailable).
WITHHELD = {"+266696687", "+7378742833", "+2562533", "+8656696"}
MAX_PER_CALL = 3
MAX_PER_NUMBER_PER_DAY = 10
MAX_BODY = 1500  # Twilio accepts 1600 characters; leave room for carrier additions
KINDS = ("article", "order", "ticket")


class SmsRefused(Exception):
    """The text can't be sent; `reason` is a short code the flow can choose words by, the message says why."""

    def __init__(self, reason: str, message: str):
        self.reason = reason
        super().__init__(message)


def caller_number(session: Session, call_sid: str) -> str:
    """The number the call came from, if it is a real mobile-looking E.164 number."""
    call = session.get(Call, call_sid)
    number = (call.from_number if call else "") or ""
    if not E164_RE.match(number) or number in WITHHELD:
        raise SmsRefused("no_number", f"call {call_sid} has no number a text can go to ({number or 'withheld'})")
    return number


def compose(app: Flask, session: Session, call_sid: str, kind: str, subject: str) -> str:
    """The body of the text, built from our own data; SmsRefused if this call may not have it."""
    t = services(app).prompts.text
    business = app.config["IVR_SETTINGS"].business_name
    if kind == "article":

        article = session.get(Article, subject)
        if article is None:
            raise SmsRefused("not_found", f"no article {subject!r}")
        body = t("sms_body_article", business=business, title=article.title, answer=article.answer)
    elif kind == "order":

        if not order_verified(session, call_sid, subject):
            raise SmsRefused("not_verified", f"call {call_sid} has not verified order {subject}")
        order = lookup_order(app, session, subject)
        if order is None:
            raise SmsRefused("not_found", f"no order {subject!r}")
        status_id = f"order_status_{order.status}"
        status = (t(status_id) if order.status in KNOWN_STATUSES
                  else t("order_status_unknown", status=order.status.replace("_", " ")))
        body = t("sms_body_order", business=business, number=order.number, status=status, detail=order.detail)
    elif kind == "ticket":

        ticket = session.scalar(select(Ticket).where(Ticket.reference == subject))
        call = session.get(Call, call_sid)
        own = ticket is not None and (ticket.call_sid == call_sid or
                                      (call is not None and call.from_number and ticket.caller == call.from_number))
        if not own:
            raise SmsRefused("not_found", f"no ticket {subject!r} for call {call_sid}")
        body = t("sms_body_ticket", business=business, reference=ticket.reference)
    else:
        raise SmsRefused("bad_kind", f"unknown text kind {kind!r} (expected one of {', '.join(KINDS)})")
    body = " ".join(body.split())
    return body if len(body) <= MAX_BODY else body[:MAX_BODY - 1].rsplit(" ", 1)[0] + "…"


def request_text(app: Flask, session: Session, call_sid: str, kind: str, subject: str) -> TextMessage:
    """Queue a text to the caller of `call_sid` in the caller's transaction; raises SmsRefused.

    The returned row's `status` becomes "sent" or "failed" once the job has run (`text_status`).
    """
    settings = app.config["IVR_SETTINGS"]
    if not settings.sms_enabled:
        raise SmsRefused("disabled", "texts are switched off (IVR_SMS=off)")
    to = caller_number(session, call_sid)
    per_call = session.scalar(select(func.count()).select_from(TextMessage)
                              .where(TextMessage.call_sid == call_sid)) or 0
    if per_call >= MAX_PER_CALL:
        raise SmsRefused("limit", f"call {call_sid} already asked for {per_call} texts")
    per_day = session.scalar(select(func.count()).select_from(TextMessage).where(
        TextMessage.to_number == to, TextMessage.created_at >= utcnow() - timedelta(days=1))) or 0
    if per_day >= MAX_PER_NUMBER_PER_DAY:
        raise SmsRefused("limit", f"{to} already got {per_day} texts today")
    body = compose(app, session, call_sid, kind, subject)
    message = TextMessage(call_sid=call_sid, to_number=to, kind=kind, subject=str(subject)[:64], body=body)
    session.add(message)
    session.flush()
    # Few attempts: the caller is told the outcome within seconds, so a long retry tail would mislead.
    enqueue(session, "sms.send", {"message_id": message.id}, max_attempts=2)
    return message


def text_status(session: Session, message_id: int, call_sid: str) -> str | None:
    """queued | sent | failed for a text this call asked for (None if it isn't this call's)."""
    message = session.get(TextMessage, message_id)
    if message is None or message.call_sid != call_sid:
        return None
    session.refresh(message)
    return message.status
