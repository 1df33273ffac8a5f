"""The write-ahead spool: durable, ordered, shared by processes, and bad entries quarantined."""
from __future__ import annotations

import json
import multiprocessing
from datetime import datetime
from types import SimpleNamespace

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from ivr import spool
from ivr.services import EXTENSION_KEY, services
from ivr.tickets.models import Ticket

# The replayers the fake app declares (a real app's come from ivr/registry.py).
REPLAYERS: dict = {}


@pytest.fixture
def seen(monkeypatch):
    applied = []

    def ok(app, payload, at):
        applied.append((payload["n"], at))

    monkeypatch.setitem(REPLAYERS, "test.ok", ok)
    return applied


class FakeApp:
    def __init__(self, instance):
        self.config = {"IVR_SETTINGS": type("S", (), {"instance_path": instance})()}
        self.extensions = {EXTENSION_KEY: SimpleNamespace(jobs=SimpleNamespace(replayers=REPLAYERS))}


def test_entries_replay_in_order_with_their_time(tmp_path, seen):
    app = FakeApp(tmp_path)
    at = datetime(2026, 1, 2, 3, 4, 5)
    for n in range(5):
        spool.append(tmp_path, "test.ok", {"n": n}, at=at)
    assert spool.pending(tmp_path) == 5
    assert spool.replay(app).applied == 5
    assert seen == [(n, at) for n in range(5)]
    assert spool.pending(tmp_path) == 0
    assert spool.replay(app).applied == 0


def test_database_down_keeps_entries_in_order_before_new_ones(tmp_path, seen, monkeypatch):
    app = FakeApp(tmp_path)
    down = {"on": True}

    def flaky(app_, payload, at):
        if down["on"]:
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        seen.append((payload["n"], at))

    monkeypatch.setitem(REPLAYERS, "test.flaky", flaky)
    for n in range(3):
        spool.append(tmp_path, "test.flaky", {"n": n})
    for _ in range(10):  # the database stays down a while: never quarantined, never reordered
        assert spool.replay(app).kept == 3
    spool.append(tmp_path, "test.flaky", {"n": 3})  # arrives meanwhile
    down["on"] = False
    assert spool.replay(app).applied == 4
    assert [n for n, _ in seen] == [0, 1, 2, 3]
    assert spool.quarantined(tmp_path) == []


@pytest.mark.parametrize("line,reason", [
    ("{not json", "unreadable entry"),
    (json.dumps({"id": "x", "kind": "test.ok", "payload": [], "at": "2026-01-01T00:00:00"}), "unreadable entry"),
    (json.dumps({"id": "x", "kind": "k" * 500, "payload": {}, "at": "2026-01-01T00:00:00"}), "unreadable entry"),
    (json.dumps({"id": "x", "kind": "nobody.handles", "payload": {}, "at": "2026-01-01T00:00:00"}), "no replayer"),
])
def test_unreadable_or_unknown_entries_are_quarantined_with_a_reason(tmp_path, seen, line, reason):
    app = FakeApp(tmp_path)
    spool.append(tmp_path, "test.ok", {"n": 1})
    with open(spool.entries_path(tmp_path), "a") as fh:  # e.g. a torn write, or another version's kind
        fh.write(line + "\n")
    spool.append(tmp_path, "test.ok", {"n": 2})
    result = spool.replay(app)
    assert (result.applied, result.quarantined) == (2, 1)
    [bad] = spool.quarantined(tmp_path)
    assert reason in bad["reason"] and bad["entry"] == line
    assert spool.pending(tmp_path) == 0


def test_an_entry_that_keeps_failing_is_quarantined_not_retried_forever(tmp_path, monkeypatch):
    app = FakeApp(tmp_path)
    calls = []

    def broken(app_, payload, at):
        calls.append(1)
        raise KeyError("no such thing")

    monkeypatch.setitem(REPLAYERS, "test.broken", broken)
    spool.append(tmp_path, "test.broken", {})
    for _ in range(spool.MAX_ATTEMPTS + 3):
        spool.replay(app)
    assert len(calls) == spool.MAX_ATTEMPTS
    [bad] = spool.quarantined(tmp_path)
    assert f"failed {spool.MAX_ATTEMPTS} times" in bad["reason"] and "KeyError" in bad["reason"]


def test_oversized_entry_is_refused_at_append(tmp_path):
    with pytest.raises(spool.Rejected, match="over the"):
        spool.append(tmp_path, "test.ok", {"blob": "x" * (spool.MAX_ENTRY_BYTES + 1)})
    assert spool.pending(tmp_path) == 0


def _append_many(instance: str, worker: int, count: int) -> None:
    for n in range(count):
        spool.append(instance, "test.ok", {"n": worker * 1000 + n, "pad": "y" * 3000})


@pytest.mark.slow
def test_processes_appending_at_once_lose_and_tear_nothing(tmp_path, seen):
    """Four real processes append 3 KB entries concurrently (more than a pipe-atomic write)."""
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_append_many, args=(str(tmp_path), w, 40)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    result = spool.replay(FakeApp(tmp_path))
    assert result.applied == 160 and result.quarantined == 0
    got = [n for n, _ in seen]
    assert sorted(got) == sorted(w * 1000 + n for w in range(4) for n in range(40))
    for w in range(4):  # each process's own entries stay in its order
        mine = [n for n in got if n // 1000 == w]
        assert mine == sorted(mine)


@pytest.mark.parametrize("form,reason", [
    ({"RecordingDuration": "9" * 40}, "duration"),
    ({"RecordingDuration": "-5"}, "duration"),
    ({"RecordingSid": "RE" + "a" * 500}, "not a recording sid"),
    ({"CallSid": "CA" + "b" * 300}, "not a call sid"),
    ({"From": "+1" * 200}, "caller longer"),
])
def test_malformed_recording_callback_is_rejected_with_a_reason(app, form, reason):
    from twilio.request_validator import RequestValidator

    from .conftest import AUTH_TOKEN

    params = {"CallSid": "CA" + "1" * 32, "RecordingSid": "RE" + "2" * 32, "RecordingDuration": "7",
              "RecordingStatus": "completed", "From": "+15005550006",
              "RecordingUrl": "https://api.twilio.com/x", **form}
    url = "http://localhost/voice/recording-status"
    resp = app.test_client().post("/voice/recording-status", data=params,
                                  headers={"X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(url, params)})
    assert resp.status_code == 400 and reason in resp.get_data(as_text=True)
    assert spool.pending(app.config["IVR_SETTINGS"].instance_path) == 0
    with services(app).sessionmaker() as s:
        assert s.scalars(select(Ticket)).all() == []


def test_malformed_spooled_recording_is_quarantined(app):
    """An entry written by an older version (or edited by hand) with a huge duration."""
    instance = app.config["IVR_SETTINGS"].instance_path
    spool.append(instance, "recording", {"call_sid": "CA" + "1" * 32, "recording_sid": "RE" + "2" * 32,
                                         "caller": "", "recording_url": "", "duration": 10 ** 30})
    result = spool.replay(app)
    assert (result.applied, result.quarantined) == (0, 1)
    assert "duration out of range" in spool.quarantined(instance)[0]["reason"]
    with services(app).sessionmaker() as s:
        assert s.scalars(select(Ticket)).all() == []
