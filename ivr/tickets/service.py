"""Turn a Twilio recording callback into a ticket: exactly once, and never lose it."""
from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from .. import spool
from ..calls.events import Event
from ..calls.log import log_event
from ..calls.models import Call
from ..db import utcnow
from ..jobs.queue import enqueue
from ..services import services
from ..spool import Rejected
from .models import Ticket

log = logging.getLogger(__name__)

# Letters that can't be confused with digits or each other when spoken.
REFERENCE_LETTERS = "ACDEFHJKLMNPRTUVWXY"
JOBS_FOR_NEW_TICKET = ("recording.fetch", "ticket.notify")


CALL_SID_RE = re.compile(r"^CA[0-9a-fA-F]{32}$")
RECORDING_SID_RE = re.compile(r"^RE[0-9a-fA-F]{32}$")
MAX_RECORDING_SECONDS = 24 * 3600  # Twilio caps a <Record> far below this
MAX_CALLER_LENGTH = 64
MAX_URL_LENGTH = 500
# A message whose call can't be named (a capture found after a crash, its call log lost): the
# ticket's call sid says so, and no call is invented in the call log for it.
UNKNOWN_CALL_PREFIX = "unknown-"


def unknown_call_sid(recording_sid: str) -> str:
    return UNKNOWN_CALL_PREFIX + recording_sid


@dataclass(frozen=True)
class RecordingCallback:
    """What Twilio tells us about a finished voicemail, checked: a bad one raises `Rejected`."""

    call_sid: str
    caller: str
    recording_sid: str
    recording_url: str
    duration: int
    at: datetime | None = None  # when the caller left it (the callback's arrival); None = now

    def __post_init__(self) -> None:
        if not RECORDING_SID_RE.match(self.recording_sid or ""):
            raise Rejected(f"not a recording sid: {self.recording_sid[:80]!r}")
        if not (self.call_known or self.call_sid == unknown_call_sid(self.recording_sid)):
            raise Rejected(f"not a call sid: {self.call_sid[:80]!r}")
        if not isinstance(self.duration, int) or not 0 <= self.duration <= MAX_RECORDING_SECONDS:
            raise Rejected(f"recording duration out of range: {str(self.duration)[:40]!r}")
        if len(self.caller or "") > MAX_CALLER_LENGTH:
            raise Rejected(f"caller longer than {MAX_CALLER_LENGTH} characters")
        if len(self.recording_url or "") > MAX_URL_LENGTH:
            raise Rejected(f"recording URL longer than {MAX_URL_LENGTH} characters")

    @property
    def call_known(self) -> bool:
        """A call of Twilio's (not a recovered message of an unknown call)."""
        return bool(CALL_SID_RE.match(self.call_sid or ""))

    @classmethod
    def from_form(cls, form: Mapping[str, str], at: datetime | None = None) -> RecordingCallback:
        if not CALL_SID_RE.match(form.get("CallSid", "")):  # Twilio always names its call
            raise Rejected(f"not a call sid: {form.get('CallSid', '')[:80]!r}")
        raw = (form.get("RecordingDuration") or "0").strip()
        if not raw.isdigit() or len(raw) > 6:
            raise Rejected(f"recording duration is not a whole number of seconds: {raw[:40]!r}")
        return cls(
            call_sid=form.get("CallSid", ""),
            caller=form.get("From", "") or form.get("Caller", ""),
            recording_sid=form.get("RecordingSid", ""),
            recording_url=form.get("RecordingUrl", ""),
            duration=int(raw),
            at=at,
        )

    def payload(self) -> dict[str, Any]:
        return {"call_sid": self.call_sid, "caller": self.caller, "recording_sid": self.recording_sid,
                "recording_url": self.recording_url, "duration": self.duration}

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any], at: datetime | None) -> RecordingCallback:
        try:
            return cls(call_sid=str(payload["call_sid"]), caller=str(payload.get("caller") or ""),
                       recording_sid=str(payload["recording_sid"]),
                       recording_url=str(payload.get("recording_url") or ""),
                       duration=payload.get("duration", 0), at=at)
        except (KeyError, TypeError) as exc:
            raise Rejected(f"recording entry lacks {exc}") from None


def new_reference(ticket_id: int) -> str:
    return "".join(secrets.choice(REFERENCE_LETTERS) for _ in range(2)) + str(ticket_id)


def create_ticket(session: Session, cb: RecordingCallback) -> tuple[Ticket, bool]:
    """Create the ticket for a recording, or return the existing one. Returns (ticket, created).

    Idempotent on the recording sid, so Twilio's retries and the status callback that follows
    the action callback never make a second ticket. Commits.
    """
    existing = session.scalar(select(Ticket).where(Ticket.recording_sid == cb.recording_sid))
    if existing is not None:
        if not existing.caller and cb.caller:
            existing.caller = cb.caller
        if not existing.recording_duration and cb.duration:
            existing.recording_duration = cb.duration
        session.commit()
        return existing, False
    session.commit()  # whatever the request logged so far stays, even if we lose a race below
    caller = cb.caller
    if not caller:
        call = session.get(Call, cb.call_sid)
        caller = call.from_number if call is not None else ""
    created = cb.at or utcnow()  # when the caller left the message, not when we got to it
    ticket = Ticket(call_sid=cb.call_sid, caller=caller, recording_sid=cb.recording_sid,
                    recording_url=cb.recording_url, recording_duration=cb.duration, status="new",
                    created_at=created, updated_at=created)
    try:
        session.add(ticket)
        session.flush()
        ticket.reference = new_reference(ticket.id)
        for kind in JOBS_FOR_NEW_TICKET:
            enqueue(session, kind, {"ticket_id": ticket.id})
        if cb.call_known:
            log_event(session, cb.call_sid, Event.TICKET, ticket_id=ticket.id, reference=ticket.reference,
                      recording_sid=cb.recording_sid)
        session.commit()
    except IntegrityError:
        # A concurrent duplicate callback won the race: use its ticket.
        session.rollback()
        ticket = session.scalar(select(Ticket).where(Ticket.recording_sid == cb.recording_sid))
        if ticket is None:
            raise
        return ticket, False
    return ticket, True


# --- Write-ahead: a voicemail must survive a crash or a database that can't be written. ---

SPOOL_KIND = "recording"


def spool_callback(instance_path: Path, cb: RecordingCallback) -> spool.Entry:
    """Durably note the callback (fsynced) so the worker makes its ticket if we can't now."""
    return spool.append(instance_path, SPOOL_KIND, cb.payload(), at=cb.at)


def store_recording(app: Any, session: Session, cb: RecordingCallback) -> Ticket | None:
    """Write the callback ahead to the spool, then make the ticket. None: the spool has it.

    The spool entry stays either way; replaying it finds the ticket (idempotent) and drops it,
    so a crash between the two steps, or a failed commit, still ends in exactly one ticket.
    """
    if cb.at is None:
        cb = RecordingCallback(cb.call_sid, cb.caller, cb.recording_sid, cb.recording_url, cb.duration, utcnow())
    spooled = True
    try:
        spool_callback(app.config["IVR_SETTINGS"].instance_path, cb)
    except OSError:  # disk full or read-only: the database is now the only copy
        log.exception("could not spool recording %s; writing it to the database only", cb.recording_sid)
        spooled = False
    try:
        ticket, _created = create_ticket(session, cb)
    except Exception:
        session.rollback()
        if not spooled:
            raise
        log.warning("recording %s spooled; its ticket will be made when the database is back", cb.recording_sid,
                    exc_info=True)
        ticket = None
    worker = services(app).worker
    if worker is not None:
        worker.wake()
    return ticket


def replay_recording(app: Any, payload: dict[str, Any], at: datetime) -> None:
    """Spool replayer: make the ticket for a spooled callback, with the time it arrived."""
    cb = RecordingCallback.from_payload(payload, at)
    session = services(app).sessionmaker()
    try:
        create_ticket(session, cb)
    finally:
        session.close()




def store_voicemail(app: Any, session: Session, cb: RecordingCallback, *, missed_transfer: bool = False,
                    note: Callable[..., None] | None = None) -> tuple[str | None, bool]:
    """Make the ticket for a recorded message. Returns (reference, stored).

    The callback is written ahead to the durable spool first, so if the database refuses (or the
    process dies) it still becomes a ticket, with its original time, when the worker replays it.
    `missed_transfer` marks a message left because nobody answered a transfer; `note(kind, **detail)`
    adds what happened to the call's log (the flow's `CallContext.log`).
    """
    ticket = store_recording(app, session, cb)
    if ticket is None:
        return None, False
    if missed_transfer and not ticket.missed_transfer:
        try:
            ticket.missed_transfer = True
            session.commit()
            if note is not None:
                note(Event.MISSED_TRANSFER, ticket_id=ticket.id)
        except SQLAlchemyError:  # the message is safe; only the flag waits for the other callback
            session.rollback()
            log.warning("could not mark ticket %s as a missed transfer", ticket.id, exc_info=True)
    return ticket.reference, True
