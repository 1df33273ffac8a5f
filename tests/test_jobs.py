"""The durable job queue: retries with back-off, final failure with a reason, resume after a crash."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from ivr.db import session_scope, utcnow
from ivr.jobs import queue
from ivr.jobs.models import Job


def _enqueue(app, kind, payload=None, **kw):
    with session_scope(app.extensions["ivr.sessionmaker"]) as s:
        job = queue.enqueue(s, kind, payload or {}, **kw)
        s.flush()
        return job.id


def _job(app, job_id):
    with session_scope(app.extensions["ivr.sessionmaker"]) as s:
        job = s.get(Job, job_id)
        s.expunge(job)
        return job


def test_job_runs_once(bare_app, monkeypatch):
    seen = []
    monkeypatch.setitem(queue.HANDLERS, "test.record", lambda app, p: seen.append(p["n"]))
    job_id = _enqueue(bare_app, "test.record", {"n": 7})
    worker = queue.Worker(bare_app)
    assert worker.run_until_idle() == 1
    assert worker.run_until_idle() == 0
    assert seen == [7]
    job = _job(bare_app, job_id)
    assert job.status == "done" and job.attempts == 1 and job.finished_at is not None


def test_failing_job_backs_off_then_fails_with_reason(bare_app, monkeypatch):
    failures = []

    def flaky(app, payload):
        raise TimeoutError("smtp server did not answer")

    monkeypatch.setitem(queue.HANDLERS, "test.flaky", flaky)
    monkeypatch.setitem(queue.FAILURE_CALLBACKS, "test.flaky", lambda app, p, err: failures.append(err))
    job_id = _enqueue(bare_app, "test.flaky", max_attempts=3)
    worker = queue.Worker(bare_app)
    worker.run_until_idle()
    job = _job(bare_app, job_id)
    assert job.status == "queued" and job.attempts == 1 and job.run_after > utcnow()
    assert "smtp server did not answer" in job.last_error
    for _ in range(2):  # time passes: make it due again
        with session_scope(bare_app.extensions["ivr.sessionmaker"]) as s:
            s.get(Job, job_id).run_after = utcnow() - timedelta(seconds=1)
        worker.run_until_idle()
    job = _job(bare_app, job_id)
    assert job.status == "failed" and job.attempts == 3
    assert failures == ["TimeoutError: smtp server did not answer"]


def test_unknown_kind_is_kept_as_failed_not_dropped(bare_app):
    job_id = _enqueue(bare_app, "test.nobody-handles-this", max_attempts=1)
    queue.Worker(bare_app).run_until_idle()
    job = _job(bare_app, job_id)
    assert job.status == "failed" and "no handler" in job.last_error


def test_job_running_when_the_process_died_is_picked_up_again(bare_app, monkeypatch):
    seen = []
    monkeypatch.setitem(queue.HANDLERS, "test.resume", lambda app, p: seen.append(p["n"]))
    job_id = _enqueue(bare_app, "test.resume", {"n": 1})
    with session_scope(bare_app.extensions["ivr.sessionmaker"]) as s:  # crashed mid-job an hour ago
        job = s.get(Job, job_id)
        job.status, job.locked_at, job.attempts = "running", utcnow() - timedelta(hours=1), 1
    worker = queue.Worker(bare_app)
    assert worker.run_until_idle() == 0  # still marked running
    assert worker.requeue_stale() == 1
    assert worker.run_until_idle() == 1
    assert seen == [1] and _job(bare_app, job_id).status == "done"


def test_two_workers_never_run_the_same_job(bare_app, monkeypatch):
    import threading

    seen, lock = [], threading.Lock()

    def slow(app, p):
        with lock:
            seen.append(p["n"])

    monkeypatch.setitem(queue.HANDLERS, "test.once", slow)
    for n in range(30):
        _enqueue(bare_app, "test.once", {"n": n})
    workers = [queue.Worker(bare_app) for _ in range(3)]
    threads = [threading.Thread(target=w.run_until_idle) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(seen) == list(range(30))
    with session_scope(bare_app.extensions["ivr.sessionmaker"]) as s:
        assert {j.status for j in s.scalars(select(Job))} == {"done"}
