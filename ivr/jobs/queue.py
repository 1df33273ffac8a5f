"""A small durable job queue in the application's own database.

Jobs outlive the process. A worker claims a job with a lease (`lease_until`) and renews it
while the job runs (a heartbeat), so a job whose lease lapsed belonged to a worker that died
and is taken again; a sibling's live job never is, however many processes share the
database. A failing job is retried with back-off until `max_attempts`, then kept as failed
with its reason. No extra server is needed for a single box.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from .. import spool
from ..db import session_scope, utcnow
from ..services import services
from .models import Job

log = logging.getLogger(__name__)

Handler = Callable[[Flask, dict[str, Any]], None]
FailureCallback = Callable[[Flask, dict[str, Any], str], None]

DEFAULT_LEASE_SECONDS = 60.0
# Periodic work the worker loop does besides jobs.
SPOOL_REPLAY_SECONDS = 1.0


@dataclass(frozen=True)
class JobKind:
    """What runs a queued job of one kind, and what happens when it gives up for good."""

    run: Handler
    on_final_failure: FailureCallback | None = None


@dataclass(frozen=True)
class Periodic:
    """Work the worker loop does itself every `seconds` (and once at start), e.g. a directory scan."""

    name: str
    run: Callable[[Flask], object]
    seconds: float


@dataclass(frozen=True)
class Scheduled:
    """A job kind queued every `interval(settings)` seconds (0: never), one queued copy at a time."""

    kind: str
    interval: Callable[[Any], float]


@dataclass
class JobTable:
    """Every job kind, periodic task and spool replayer: declared once, in ivr/registry.py."""

    kinds: dict[str, JobKind] = field(default_factory=dict)
    periodic: list[Periodic] = field(default_factory=list)
    scheduled: list[Scheduled] = field(default_factory=list)
    replayers: dict[str, spool.Replayer] = field(default_factory=dict)


class RetryLater(Exception):
    """Raised by a handler to retry without counting it as a hard failure in the log."""


def enqueue(session: Session, kind: str, payload: dict[str, Any], *, delay_seconds: float = 0,
            max_attempts: int = 5) -> Job:
    """Add a job in the caller's transaction: it exists exactly when the caller's data does."""
    job = Job(kind=kind, payload=payload, max_attempts=max_attempts,
              run_after=utcnow() + timedelta(seconds=delay_seconds))
    session.add(job)
    return job


def backoff_seconds(attempts: int) -> float:
    return min(5 * 2 ** max(attempts - 1, 0), 3600)


def _lapsed(now):
    """Running jobs whose worker stopped renewing the lease (or, from before leases, had none)."""
    return and_(Job.status == "running", or_(Job.lease_until.is_(None), Job.lease_until < now))


class Worker:
    """Runs queued jobs for one app; in-process thread by default, or `python -m ivr worker`.

    Besides jobs, the loop replays the write-ahead spool every second, runs the table's periodic
    work (e.g. ticketing voicemail captured by a recorder that died, ivr/recordings/orphans.py)
    and queues its scheduled jobs (e.g. the recording reconciliation) when they are due.
    """

    def __init__(self, app: Flask, poll_seconds: float = 1.0, lease_seconds: float | None = None):
        self.app = app
        self.poll_seconds = poll_seconds
        settings = app.config["IVR_SETTINGS"]
        self.lease = timedelta(seconds=lease_seconds or getattr(settings, "job_lease_seconds", DEFAULT_LEASE_SECONDS))
        self.table = services(app).jobs
        self.scheduled = [(job.kind, float(job.interval(settings) or 0)) for job in self.table.scheduled]
        self.sessions = services(app).sessionmaker
        self.id = f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._last_replay = 0.0
        self._last_periodic: dict[str, float] = {}

    def requeue_stale(self) -> int:
        """Put jobs whose lease lapsed back in the queue (claiming takes them anyway; this is for
        operators and start-up logs). A live job of another worker is never touched."""
        with session_scope(self.sessions) as session:
            result = session.execute(
                update(Job).where(_lapsed(utcnow()))
                .values(status="queued", locked_at=None, lease_until=None, lease_owner=None)
            )
            return result.rowcount or 0

    def _claim(self) -> tuple[int, str, dict[str, Any]] | None:
        with session_scope(self.sessions) as session:
            now = utcnow()
            due = or_(and_(Job.status == "queued", Job.run_after <= now), _lapsed(now))
            query = select(Job).where(due).order_by(Job.run_after, Job.id).limit(1)
            if session.bind is not None and session.bind.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            job = session.scalars(query).first()
            if job is None:
                return None
            # Compare-and-set so two workers on SQLite never both take the job.
            claimed = session.execute(
                update(Job)
                .where(Job.id == job.id, due)
                .values(status="running", locked_at=now, lease_until=now + self.lease,
                        lease_owner=self.id, attempts=Job.attempts + 1)
                .execution_options(synchronize_session=False)
            ).rowcount
            if not claimed:
                return None
            return job.id, job.kind, dict(job.payload or {})

    def heartbeat(self, job_id: int) -> bool:
        """Renew this worker's lease on a running job; False if it is no longer ours."""
        with session_scope(self.sessions) as session:
            return bool(session.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == "running", Job.lease_owner == self.id)
                .values(lease_until=utcnow() + self.lease)
                .execution_options(synchronize_session=False)
            ).rowcount)

    def _keep_alive(self, job_id: int, done: threading.Event) -> None:
        interval = max(self.lease.total_seconds() / 3, 0.05)
        while not done.wait(interval):
            try:
                if not self.heartbeat(job_id):
                    log.warning("job %s: lease lost to another worker", job_id)
                    return
            except Exception:
                log.warning("job %s: could not renew the lease", job_id, exc_info=True)

    def run_once(self) -> bool:
        """Run one due job; False when none was due."""
        claimed = self._claim()
        if claimed is None:
            return False
        job_id, kind, payload = claimed
        job_kind = self.table.kinds.get(kind)
        error: str | None = None
        done = threading.Event()
        beat = threading.Thread(target=self._keep_alive, args=(job_id, done), name=f"lease-{job_id}", daemon=True)
        beat.start()
        try:
            if job_kind is None:
                raise LookupError(f"no handler for job kind {kind!r}")
            with self.app.app_context():
                job_kind.run(self.app, payload)
        except Exception as exc:  # noqa: BLE001 - a job's failure must never kill the worker
            error = f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, RetryLater):
                log.warning("job %s (%s) failed: %s\n%s", job_id, kind, error, traceback.format_exc())
        finally:
            done.set()
            beat.join()
        with session_scope(self.sessions) as session:
            job = session.get(Job, job_id)
            if job is None:
                return True
            if job.lease_owner != self.id:
                log.warning("job %s (%s) finished after its lease passed to %s; leaving it to them",
                            job_id, kind, job.lease_owner)
                return True
            if error is None:
                job.status, job.finished_at, job.last_error = "done", utcnow(), None
            elif job.attempts >= job.max_attempts:
                job.status, job.finished_at, job.last_error = "failed", utcnow(), error
                self._notify_failed(job_kind, kind, payload, error)
            else:
                job.status, job.last_error = "queued", error
                job.run_after = utcnow() + timedelta(seconds=backoff_seconds(job.attempts))
            job.locked_at, job.lease_until, job.lease_owner = None, None, None
        return True

    def run_until_idle(self, max_jobs: int = 1000) -> int:
        """Run every job that is due now (tests and `worker --once`)."""
        count = 0
        while count < max_jobs and self.run_once():
            count += 1
        return count

    def replay_spool(self) -> int:
        """Apply write-ahead spool entries (voicemail callbacks, deferred webhook writes)."""
        self._last_replay = time.monotonic()
        with self.app.app_context():
            return spool.replay(self.app, replayers=self.table.replayers).applied

    def run_periodic(self, name: str) -> object:
        """Run the table's periodic task `name` now (returns what it returns)."""
        task = next(t for t in self.table.periodic if t.name == name)
        self._last_periodic[name] = time.monotonic()
        with self.app.app_context():
            return task.run(self.app)

    def _run_due_periodic(self) -> None:
        for task in self.table.periodic:
            last = self._last_periodic.get(task.name)
            if last is None or time.monotonic() - last >= task.seconds:
                self.run_periodic(task.name)

    def schedule_periodic(self) -> None:
        """Queue each scheduled job kind when it is due (one queued copy at a time)."""
        for kind, seconds in self.scheduled:
            if seconds <= 0 or kind not in self.table.kinds:
                continue
            with session_scope(self.sessions) as session:
                cutoff = utcnow() - timedelta(seconds=seconds)
                recent = session.scalar(
                    select(Job.id).where(Job.kind == kind,
                                         or_(Job.status.in_(("queued", "running")), Job.created_at > cutoff)).limit(1))
                if recent is None:
                    enqueue(session, kind, {}, max_attempts=1)

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def run_forever(self) -> None:
        last_schedule = time.monotonic()  # the first reconciliation a minute after start, not in it
        while not self._stop.is_set():
            busy = False
            try:
                if time.monotonic() - self._last_replay >= SPOOL_REPLAY_SECONDS:
                    self.replay_spool()
                self._run_due_periodic()  # after the spool: a spooled callback's ticket comes first
                intervals = [seconds for _, seconds in self.scheduled if seconds > 0]
                if intervals and time.monotonic() - last_schedule >= min(*intervals, 60):
                    last_schedule = time.monotonic()
                    self.schedule_periodic()
                busy = self.run_once()
            except Exception:
                log.exception("worker loop error; retrying")
            if not busy:
                self._wake.wait(min(self.poll_seconds, SPOOL_REPLAY_SECONDS))
                self._wake.clear()

    def _notify_failed(self, job_kind: JobKind, kind: str, payload: dict[str, Any], error: str) -> None:
        if job_kind is None or job_kind.on_final_failure is None:
            return
        try:
            with self.app.app_context():
                job_kind.on_final_failure(self.app, payload, error)
        except Exception:
            log.exception("failure callback for %s raised", kind)

    def start_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.run_forever, name="ivr-worker", daemon=True)
        thread.start()
        return thread
