"""The durable job queue: retries with back-off, final failure with a reason, resume after a crash."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from ivr.db import session_scope, utcnow
from ivr.jobs import queue
from ivr.jobs.models import Job
from ivr.services import services


def _enqueue(app, kind, payload=None, **kw):
    with session_scope(services(app).sessionmaker) as s:
        job = queue.enqueue(s, kind, payload or {}, **kw)
        s.flush()
        return job.id


def _job(app, job_id):
    with session_scope(services(app).sessionmaker) as s:
        job = s.get(Job, job_id)
        s.expunge(job)
        return job


def test_job_runs_once(bare_app, monkeypatch):
    seen = []
    monkeypatch.setitem(services(bare_app).jobs.kinds, "test.record", queue.JobKind(lambda app, p: seen.append(p["n"])))
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

    monkeypatch.setitem(services(bare_app).jobs.kinds, "test.flaky",
                        queue.JobKind(flaky, on_final_failure=lambda app, p, err: failures.append(err)))
    job_id = _enqueue(bare_app, "test.flaky", max_attempts=3)
    worker = queue.Worker(bare_app)
    worker.run_until_idle()
    job = _job(bare_app, job_id)
    assert job.status == "queued" and job.attempts == 1 and job.run_after > utcnow()
    assert "smtp server did not answer" in job.last_error
    for _ in range(2):  # time passes: make it due again
        with session_scope(services(bare_app).sessionmaker) as s:
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


def _running(app, job_id, *, lease_until, owner="other-host:1:dead"):
    with session_scope(services(app).sessionmaker) as s:
        job = s.get(Job, job_id)
        job.status, job.attempts, job.lease_owner = "running", 1, owner
        job.locked_at, job.lease_until = utcnow() - timedelta(minutes=5), lease_until


def test_job_whose_lease_lapsed_is_taken_again(bare_app, monkeypatch):
    """Its worker died mid-job (nobody renewed the lease): another worker runs it."""
    seen = []
    monkeypatch.setitem(services(bare_app).jobs.kinds, "test.resume", queue.JobKind(lambda app, p: seen.append(p["n"])))
    job_id = _enqueue(bare_app, "test.resume", {"n": 1})
    _running(bare_app, job_id, lease_until=utcnow() - timedelta(seconds=1))
    worker = queue.Worker(bare_app)
    assert worker.requeue_stale() == 1
    assert worker.run_until_idle() == 1
    job = _job(bare_app, job_id)
    assert seen == [1] and job.status == "done" and job.attempts == 2 and job.lease_owner is None


def test_a_live_lease_is_never_taken_or_requeued(bare_app, monkeypatch):
    """A sibling process's running job (lease still valid) is left alone by a starting worker."""
    seen = []
    monkeypatch.setitem(services(bare_app).jobs.kinds, "test.live", queue.JobKind(lambda app, p: seen.append(p["n"])))
    job_id = _enqueue(bare_app, "test.live", {"n": 1})
    _running(bare_app, job_id, lease_until=utcnow() + timedelta(seconds=60), owner="sibling:2:alive")
    worker = queue.Worker(bare_app)
    assert worker.requeue_stale() == 0
    assert worker.run_until_idle() == 0
    job = _job(bare_app, job_id)
    assert seen == [] and job.status == "running" and job.lease_owner == "sibling:2:alive"


def test_lapsed_lease_is_claimed_directly_without_a_requeue(bare_app, monkeypatch):
    seen = []
    monkeypatch.setitem(services(bare_app).jobs.kinds, "test.direct", queue.JobKind(lambda app, p: seen.append(p["n"])))
    job_id = _enqueue(bare_app, "test.direct", {"n": 3})
    _running(bare_app, job_id, lease_until=utcnow() - timedelta(seconds=1))
    assert queue.Worker(bare_app).run_until_idle() == 1
    assert seen == [3] and _job(bare_app, job_id).status == "done"


def test_long_job_keeps_its_lease_with_heartbeats(bare_app, monkeypatch):
    """A job running longer than the lease renews it, so a second worker never takes it."""
    import threading

    started, release, runs = threading.Event(), threading.Event(), []

    def long_job(app, p):
        runs.append(p["n"])
        started.set()
        assert release.wait(10)

    monkeypatch.setitem(services(bare_app).jobs.kinds, "test.long", queue.JobKind(long_job))
    job_id = _enqueue(bare_app, "test.long", {"n": 1})
    first = queue.Worker(bare_app, lease_seconds=2)
    t = threading.Thread(target=first.run_once)
    t.start()
    assert started.wait(10)
    with session_scope(services(bare_app).sessionmaker) as s:
        before = s.get(Job, job_id).lease_until
    # Wait until the lease has been renewed at least once past its first expiry.
    deadline = utcnow() + timedelta(seconds=10)
    while True:
        with session_scope(services(bare_app).sessionmaker) as s:
            now_lease = s.get(Job, job_id).lease_until
        if now_lease > before + timedelta(seconds=0.5) or utcnow() > deadline:
            break
        threading.Event().wait(0.05)
    assert now_lease > before + timedelta(seconds=0.5), "the lease was not renewed"
    assert queue.Worker(bare_app, lease_seconds=2).run_until_idle() == 0  # not taken while alive
    release.set()
    t.join()
    assert runs == [1] and _job(bare_app, job_id).status == "done"


def test_two_workers_never_run_the_same_job(bare_app, monkeypatch):
    import threading

    seen, lock = [], threading.Lock()

    def slow(app, p):
        with lock:
            seen.append(p["n"])

    monkeypatch.setitem(services(bare_app).jobs.kinds, "test.once", queue.JobKind(slow))
    for n in range(30):
        _enqueue(bare_app, "test.once", {"n": n})
    workers = [queue.Worker(bare_app) for _ in range(3)]
    threads = [threading.Thread(target=w.run_until_idle) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(seen) == list(range(30))
    with session_scope(services(bare_app).sessionmaker) as s:
        assert {j.status for j in s.scalars(select(Job))} == {"done"}
