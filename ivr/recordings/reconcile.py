"""Reconciliation: ask Twilio which recordings our calls made, and ticket any voicemail we missed.

The status callback and the spool cover a database that is down or a crash after the callback
arrived; nothing covers a callback that never arrived (our process was dead, a timeout, a
network fault). So, every IVR_RECONCILE_SECONDS, a job lists the account's recordings of the
last IVR_RECONCILE_LOOKBACK_HOURS through Twilio's REST API (the `twilio` library's Recordings
list and its paging) and keeps those that are:

- completed, and of a call we know (in our call log);
- voicemail: the call reached the message prompt (or the apology, which also records), and
  the recording is not one of the call's spoken questions (logged with its recording sid);
- without a ticket.

Each becomes a ticket through the same idempotent path as the callback, dated when Twilio
created the recording. Only the configured API base is ever requested, including for the
next page (the REST client refuses any other host).
"""
from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from flask import Flask
from sqlalchemy import select
from twilio.base.exceptions import TwilioException

from ..calls.events import Event
from ..calls.models import Call, CallEvent
from ..db import session_scope, utcnow
from ..services import services
from ..spool import Rejected
from ..tickets.models import Ticket
from ..tickets.service import RecordingCallback, create_ticket
from ..twilio.client import NotTwilioApi, TwilioUnreachable, api_timeout, http_status, twilio_client

log = logging.getLogger(__name__)

MAX_PAGES = 200
VOICEMAIL_EVENTS = (Event.MESSAGE_PROMPT, Event.ERROR)
QUESTION_EVENTS = (Event.SPEECH, Event.SPEECH_FAILED)


class ReconcileError(RuntimeError):
    """Twilio's recordings list could not be read; says why."""


@dataclass
class ReconcileReport:
    listed: int = 0
    ours: int = 0
    created: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"listed": self.listed, "ours": self.ours, "created": self.created, "skipped": self.skipped}


def list_recordings(settings, since: datetime, *, page_size: int = 100, timeout: float = 10.0) -> Iterator[dict]:
    """Every recording of the account created on or after `since`'s day, following Twilio's pages.

    The library's paging (each page's `next_page_uri`); each request bounded by `timeout`.
    """
    recordings = twilio_client(settings).recordings
    page = _read(lambda: recordings.page(date_created_after=since.strftime("%Y-%m-%d"), page_size=page_size),
                 timeout)
    for _ in range(MAX_PAGES):
        yield from (_as_dict(r) for r in _read(functools.partial(list, page), timeout))
        page = _read(page.next_page, timeout)
        if page is None:
            return
    raise ReconcileError(f"more than {MAX_PAGES} pages of recordings")


def _read(request, timeout: float):
    """`request()` (one call to Twilio's API), with Twilio's failures as ReconcileError."""
    try:
        with api_timeout(timeout):
            return request()
    except TwilioUnreachable as exc:
        raise ReconcileError(f"Twilio's recordings list unreachable: {exc.reason}") from None
    except NotTwilioApi as exc:
        raise ReconcileError(f"unexpected next page: {exc}") from None
    except (TwilioException, ValueError, KeyError, TypeError, AttributeError) as exc:
        status = http_status(exc) if isinstance(exc, TwilioException) else None
        if status is not None:
            raise ReconcileError(f"Twilio's recordings list answered HTTP {status}") from None
        raise ReconcileError("Twilio's recordings list is not the expected JSON") from None


def _as_dict(rec) -> dict:
    """The fields of a RecordingInstance that reconciliation reads, leaving out what Twilio left out."""
    fields = {"sid": rec.sid, "call_sid": rec.call_sid, "status": rec.status, "duration": rec.duration,
              "uri": rec.uri, "date_created": rec.date_created}
    return {k: v for k, v in fields.items() if v is not None}


def _parse_date(raw: Any) -> datetime | None:
    if isinstance(raw, datetime):  # the library parsed Twilio's "Fri, 14 Oct 2016 21:56:34 +0000"
        value = raw
    else:
        try:
            value = parsedate_to_datetime(str(raw))
        except (TypeError, ValueError):
            return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def reconcile(app: Flask, *, lookback_hours: int | None = None) -> ReconcileReport:
    """Make the tickets Twilio has recordings for and we don't. Idempotent."""
    settings = app.config["IVR_SETTINGS"]
    hours = lookback_hours or settings.reconcile_lookback_hours
    since = utcnow() - timedelta(hours=hours)
    report = ReconcileReport()
    # The network call first, with no transaction open.
    listed = [r for r in list_recordings(settings, since) if r.get("status", "completed") == "completed"]
    report.listed = len(listed)
    if not listed:
        return report
    sessions = services(app).sessionmaker
    call_sids = {str(r.get("call_sid") or "") for r in listed}
    with session_scope(sessions) as session:
        known = set(session.scalars(select(Call.sid).where(Call.sid.in_(call_sids))))
        events = session.execute(select(CallEvent.call_sid, CallEvent.kind, CallEvent.detail)
                                 .where(CallEvent.call_sid.in_(known),
                                        CallEvent.kind.in_(VOICEMAIL_EVENTS + QUESTION_EVENTS))).all()
        sids = {str(r.get("sid") or "") for r in listed}
        ticketed = set(session.scalars(select(Ticket.recording_sid).where(Ticket.recording_sid.in_(sids))))
    voicemail_calls = {sid for sid, kind, _ in events if kind in VOICEMAIL_EVENTS}
    questions = {str((detail or {}).get("recording_sid")) for _, kind, detail in events if kind in QUESTION_EVENTS}
    for rec in listed:
        sid, call_sid = str(rec.get("sid") or ""), str(rec.get("call_sid") or "")
        if call_sid not in known:
            continue
        report.ours += 1
        if sid in ticketed:
            continue
        if call_sid not in voicemail_calls or sid in questions:
            report.skipped.append({"recording_sid": sid[:64],
                                   "reason": "not a voicemail (a question or no message prompt)"})
            continue
        try:
            duration = str(rec.get("duration") or "0")
            cb = RecordingCallback(call_sid=call_sid, caller="", recording_sid=sid,
                                   recording_url=(settings.twilio_api_base
                                                  + str(rec.get("uri") or "").removesuffix(".json")),
                                   duration=int(duration) if duration.isdigit() and len(duration) < 7 else -1,
                                   at=_parse_date(rec.get("date_created")))
        except Rejected as exc:
            report.skipped.append({"recording_sid": sid[:64], "reason": str(exc)})
            continue
        session = sessions()
        try:
            ticket, created = create_ticket(session, cb)
            if created:
                report.created.append({"recording_sid": sid, "call_sid": call_sid, "reference": ticket.reference,
                                       "created_at": ticket.created_at.isoformat()})
        finally:
            session.close()
    if report.created:
        log.warning("reconciliation made %d ticket(s) for voicemail whose callback never arrived",
                    len(report.created))
    return report


def reconcile_job(app: Flask, payload: dict) -> None:
    reconcile(app, lookback_hours=payload.get("lookback_hours"))
