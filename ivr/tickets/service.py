"""Turn a Twilio recording callback into a ticket: exactly once, and never lose it."""
from __future__ import annotations

import json
import logging
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ..calls.log import log_event
from ..jobs.queue import HANDLERS, enqueue, load_handlers
from .models import Ticket

log = logging.getLogger(__name__)

# Letters that can't be confused with digits or each other when spoken.
REFERENCE_LETTERS = "ACDEFHJKLMNPRTUVWXY"
JOBS_FOR_NEW_TICKET = ("recording.fetch", "ticket.notify")


@dataclass(frozen=True)
class RecordingCallback:
    call_sid: str
    caller: str
    recording_sid: str
    recording_url: str
    duration: int

    @classmethod
    def from_form(cls, form: dict[str, str]) -> "RecordingCallback":
        try:
            duration = int(form.get("RecordingDuration") or 0)
        except ValueError:
            duration = 0
        return cls(
            call_sid=form.get("CallSid", ""),
            caller=form.get("From", "") or form.get("Caller", ""),
            recording_sid=form.get("RecordingSid", ""),
            recording_url=form.get("RecordingUrl", ""),
            duration=duration,
        )


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
    ticket = Ticket(call_sid=cb.call_sid, caller=cb.caller, recording_sid=cb.recording_sid,
                    recording_url=cb.recording_url, recording_duration=cb.duration, status="new")
    try:
        session.add(ticket)
        session.flush()
        ticket.reference = new_reference(ticket.id)
        load_handlers()
        for kind in JOBS_FOR_NEW_TICKET:
            if kind in HANDLERS:  # areas not installed get no jobs
                enqueue(session, kind, {"ticket_id": ticket.id})
        log_event(session, cb.call_sid, "ticket", ticket_id=ticket.id, reference=ticket.reference,
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


# --- The spool: a voicemail must survive a database that is down when Twilio calls back. ---

_spool_lock = threading.Lock()


def spool_path(instance_path: Path) -> Path:
    return Path(instance_path) / "spool" / "recordings.jsonl"


def spool_callback(instance_path: Path, cb: RecordingCallback) -> None:
    """Append the callback to a local file, fsynced, for `replay_spool` to turn into a ticket later."""
    path = spool_path(instance_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(cb.__dict__) + "\n"
    with _spool_lock, open(path, "a", encoding="utf-8") as fh:
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())


def replay_spool(instance_path: Path, sessions: sessionmaker) -> int:
    """Create tickets for spooled callbacks; keep whatever still fails. Returns tickets created."""
    path = spool_path(instance_path)
    if not path.exists():
        return 0
    with _spool_lock:
        working = path.with_suffix(".replaying")
        if not working.exists():
            path.replace(working)
        created, failed = 0, []
        for raw in working.read_text(encoding="utf-8").splitlines():
            if not raw.strip():
                continue
            try:
                cb = RecordingCallback(**json.loads(raw))
            except (ValueError, TypeError):
                log.error("unreadable spooled recording callback kept aside: %r", raw)
                failed.append(raw)
                continue
            session = sessions()
            try:
                _, was_new = create_ticket(session, cb)
                created += int(was_new)
            except Exception:  # noqa: BLE001 - keep it for the next replay
                log.exception("spooled recording %s still cannot be stored", cb.recording_sid)
                failed.append(raw)
            finally:
                session.close()
        if failed:
            with open(path, "a", encoding="utf-8") as fh:
                fh.write("\n".join(failed) + "\n")
        working.unlink()
    if created:
        log.info("recovered %d voicemail ticket(s) from the spool", created)
    return created
