"""A small durable job queue in the application's own database.

Jobs outlive the process: a job that was running when the process died is queued again on the
next start, and a failing job is retried with back-off until `max_attempts`, then kept as
failed with its reason. No extra server is needed for a single box.
"""
from __future__ import annotations

import importlib
import logging
import threading
import traceback
from datetime import timedelta
from typing import Any, Callable

from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..db import session_scope, utcnow
from .models import Job

log = logging.getLogger(__name__)

Handler = Callable[[Flask, dict[str, Any]], None]
HANDLERS: dict[str, Handler] = {}

# Modules that register handlers with @job_handler; imported by the worker.
HANDLER_MODULES: list[str] = ["ivr.recordings.jobs", "ivr.notify.jobs", "ivr.sms.jobs"]

STALE_AFTER = timedelta(minutes=10)


class RetryLater(Exception):
    """Raised by a handler to retry without counting it as a hard failure in the log."""


def job_handler(kind: str) -> Callable[[Handler], Handler]:
    def register(func: Handler) -> Handler:
        HANDLERS[kind] = func
        return func

    return register


def enqueue(session: Session, kind: str, payload: dict[str, Any], *, delay_seconds: float = 0,
            max_attempts: int = 5) -> Job:
    """Add a job in the caller's transaction: it exists exactly when the caller's data does."""
    job = Job(kind=kind, payload=payload, max_attempts=max_attempts,
              run_after=utcnow() + timedelta(seconds=delay_seconds))
    session.add(job)
    return job


def backoff_seconds(attempts: int) -> float:
    return min(5 * 2 ** max(attempts - 1, 0), 3600)


def load_handlers() -> None:
    for name in HANDLER_MODULES:
        importlib.import_module(name)


class Worker:
    """Runs queued jobs for one app; in-process thread by default, or `python -m ivr worker`."""

    def __init__(self, app: Flask, poll_seconds: float = 1.0):
        self.app = app
        self.poll_seconds = poll_seconds
        self.sessions = app.extensions["ivr.sessionmaker"]
        self._stop = threading.Event()
        self._wake = threading.Event()
        load_handlers()

    def requeue_stale(self) -> int:
        """Jobs left 'running' by a crashed process go back to the queue."""
        with session_scope(self.sessions) as session:
            result = session.execute(
                update(Job)
                .where(Job.status == "running", Job.locked_at < utcnow() - STALE_AFTER)
                .values(status="queued", locked_at=None)
            )
            return result.rowcount or 0

    def requeue_all_running(self) -> int:
        """At start-up of the only worker nothing can be running: requeue everything marked so."""
        with session_scope(self.sessions) as session:
            result = session.execute(
                update(Job).where(Job.status == "running").values(status="queued", locked_at=None)
            )
            return result.rowcount or 0

    def _claim(self) -> tuple[int, str, dict[str, Any]] | None:
        with session_scope(self.sessions) as session:
            query = (
                select(Job)
                .where(Job.status == "queued", Job.run_after <= utcnow())
                .order_by(Job.run_after, Job.id)
                .limit(1)
            )
            if session.bind is not None and session.bind.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            job = session.scalars(query).first()
            if job is None:
                return None
            # Compare-and-set so two workers on SQLite never both take the job.
            claimed = session.execute(
                update(Job)
                .where(Job.id == job.id, Job.status == "queued")
                .values(status="running", locked_at=utcnow(), attempts=Job.attempts + 1)
            ).rowcount
            if not claimed:
                return None
            return job.id, job.kind, dict(job.payload or {})

    def run_once(self) -> bool:
        """Run one due job; False when none was due."""
        claimed = self._claim()
        if claimed is None:
            return False
        job_id, kind, payload = claimed
        handler = HANDLERS.get(kind)
        error: str | None = None
        try:
            if handler is None:
                raise LookupError(f"no handler for job kind {kind!r}")
            with self.app.app_context():
                handler(self.app, payload)
        except Exception as exc:  # noqa: BLE001 - a job's failure must never kill the worker
            error = f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, RetryLater):
                log.warning("job %s (%s) failed: %s\n%s", job_id, kind, error, traceback.format_exc())
        with session_scope(self.sessions) as session:
            job = session.get(Job, job_id)
            if job is None:
                return True
            if error is None:
                job.status, job.finished_at, job.last_error = "done", utcnow(), None
            elif job.attempts >= job.max_attempts:
                job.status, job.finished_at, job.last_error = "failed", utcnow(), error
                _notify_failed(self.app, kind, payload, error)
            else:
                job.status, job.last_error = "queued", error
                job.run_after = utcnow() + timedelta(seconds=backoff_seconds(job.attempts))
            job.locked_at = None
        return True

    def run_until_idle(self, max_jobs: int = 1000) -> int:
        """Run every job that is due now (tests and `worker --once`)."""
        count = 0
        while count < max_jobs and self.run_once():
            count += 1
        return count

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def run_forever(self) -> None:
        self.requeue_stale()
        while not self._stop.is_set():
            try:
                busy = self.run_once()
            except Exception:  # noqa: BLE001 - e.g. database briefly unavailable
                log.exception("worker loop error; retrying")
                busy = False
            if not busy:
                self._wake.wait(self.poll_seconds)
                self._wake.clear()

    def start_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.run_forever, name="ivr-worker", daemon=True)
        thread.start()
        return thread


# Called when a job gives up; areas may register a callback (e.g. mark a ticket's transcript failed).
FAILURE_CALLBACKS: dict[str, Callable[[Flask, dict[str, Any], str], None]] = {}


def on_final_failure(kind: str) -> Callable[[Callable[[Flask, dict[str, Any], str], None]], Callable[[Flask, dict[str, Any], str], None]]:
    def register(func: Callable[[Flask, dict[str, Any], str], None]) -> Callable[[Flask, dict[str, Any], str], None]:
        FAILURE_CALLBACKS[kind] = func
        return func

    return register


def _notify_failed(app: Flask, kind: str, payload: dict[str, Any], error: str) -> None:
    callback = FAILURE_CALLBACKS.get(kind)
    if callback is None:
        return
    try:
        with app.app_context():
            callback(app, payload, error)
    except Exception:  # noqa: BLE001
        log.exception("failure callback for %s raised", kind)
