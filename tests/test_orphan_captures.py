"""Media Streams voicemail whose recorder died with its process (kill -9) still becomes a ticket.

The recorder is the real `MessageRecorder`, run in a child process that kills itself with
SIGKILL mid-message, so the file on disk, its header and its lock are what a crash leaves.
The database, the files, the recovery step and the jobs are all real.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from ivr.calls.log import ensure_call, log_event
from ivr.calls.models import Call, CallEvent
from ivr.db import session_scope
from ivr.recordings.orphans import quarantine_dir, recover_captures
from ivr.recordings.store import captured_dir, captured_path, get_store
from ivr.services import services
from ivr.speech.audio import read_wav
from ivr.stream.audio import tone, wav_header
from ivr.tickets.models import Ticket

from .conftest import ROOT, cli_app, invoke_cli

CALLER = "+15005550006"
LEFT_AT = datetime(2026, 11, 23, 8, 15, 42)

# A recorder in its own process: records `audio` frame by frame as the stream would, then dies.
RECORDER = r"""
import os, signal, sys
from pathlib import Path
from types import SimpleNamespace
from ivr.stream.voicemail import MessageRecorder

root, audio_path, mode = sys.argv[1:4]
recorder = MessageRecorder(SimpleNamespace(recordings_root=Path(root)))
audio = Path(audio_path).read_bytes()
for i in range(0, len(audio), 160):
    recorder.write(audio[i:i + 160])
if mode == "tail":
    recorder._fh.flush()  # the OS has the last frames but the header is half a second behind
print(recorder.recording_sid, flush=True)
if mode == "hold":
    sys.stdin.read()  # still recording until the test says otherwise
os.kill(os.getpid(), signal.SIGKILL)
"""


class Recorder:
    """A child process recording a message; `sid` once it has written `audio`."""

    def __init__(self, app, tmp_path: Path, audio: bytes, mode: str = "tail"):
        audio_file = tmp_path / f"audio-{time.monotonic_ns()}.ulaw"
        audio_file.write_bytes(audio)
        root = app.config["IVR_SETTINGS"].recordings_root
        self.proc = subprocess.Popen([sys.executable, "-c", RECORDER, str(root), str(audio_file), mode], cwd=ROOT,
                                     env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.sid = self.proc.stdout.readline().strip()
        assert self.sid.startswith("RE"), "the recorder did not start"
        self.path = captured_path(app.config["IVR_SETTINGS"], self.sid)

    def killed(self) -> Recorder:
        if self.proc.poll() is None and self.proc.stdin:
            self.proc.kill()
        assert self.proc.wait(10) == -9
        return self


def crashed_recording(app, tmp_path, audio: bytes, mode: str = "tail") -> Path:
    return Recorder(app, tmp_path, audio, mode).killed().path


def started_recording(app, sid: str, call_sid: str, at: datetime = LEFT_AT) -> None:
    """What the stream logs when the message starts (the call came in through /voice first)."""
    with session_scope(services(app).sessionmaker) as session:
        ensure_call(session, call_sid, CALLER, "+15005550001")
        log_event(session, call_sid, "stream_recording", recording_sid=sid).at = at


def age(path: Path, seconds: float = 120) -> None:
    old = time.time() - seconds
    os.utime(path, (old, old))


def tickets(app) -> list[Ticket]:
    with services(app).sessionmaker() as session:
        return list(session.scalars(select(Ticket).order_by(Ticket.id)))


def header_sizes(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:44]
    return int.from_bytes(head[4:8], "little"), int.from_bytes(head[40:44], "little")


AUDIO = tone(440, ms=3300)  # 26,400 bytes of mu-law: 3.3 s


# ----------------------------------------------------------------------------- killed mid-message

def test_message_of_a_killed_recorder_becomes_one_ticket_and_is_stored(bare_app, tmp_path):
    from ivr.jobs.queue import Worker

    app = bare_app
    path = crashed_recording(app, tmp_path, AUDIO)
    sid, call_sid = path.stem, "CA" + "4" * 32
    started_recording(app, sid, call_sid)
    assert path.stat().st_size == 44 + len(AUDIO)
    assert header_sizes(path) == (36 + 24000, 24000)  # the last sync: the crash left the header behind
    assert recover_captures(app).live == [sid] and tickets(app) == []  # written seconds ago: not yet
    age(path)

    report = recover_captures(app)
    [made] = report.created
    assert made["recording_sid"] == sid and made["call_sid"] == call_sid and made["call_known"]
    assert header_sizes(path) == (36 + len(AUDIO), len(AUDIO))  # made true before anyone reads it
    [ticket] = tickets(app)
    assert ticket.recording_sid == sid and ticket.call_sid == call_sid and ticket.caller == CALLER
    assert ticket.created_at == LEFT_AT  # when the caller started the message
    assert ticket.recording_duration == 3 and ticket.reference == made["reference"]
    again = recover_captures(app)
    assert again.created == [] and again.ticketed == [sid]  # exactly once
    with services(app).sessionmaker() as session:
        kinds = list(session.scalars(select(CallEvent.kind).where(CallEvent.call_sid == call_sid)))
    assert kinds == ["stream_recording", "ticket", "recording_recovered"]

    Worker(app).run_until_idle()  # the existing jobs: move it into the store, transcribe it
    [ticket] = tickets(app)
    assert ticket.recording_path and not path.exists()
    stored = read_wav(get_store(app).read(ticket.recording_path))
    assert stored.rate == 8000 and stored.seconds == pytest.approx(3.3)
    assert recover_captures(app).as_dict() == {"live": [], "ticketed": [], "created": [], "removed": [],
                                               "quarantined": [], "failed": []}
    assert len(tickets(app)) == 1


def test_message_of_an_unknown_call_still_becomes_a_ticket(bare_app, tmp_path):
    app = bare_app
    path = crashed_recording(app, tmp_path, AUDIO)  # no call-log event: e.g. the database lost it
    age(path, 300)
    [made] = recover_captures(app).created
    [ticket] = tickets(app)
    assert ticket.call_sid == f"unknown-{path.stem}" == made["call_sid"] and not made["call_known"]
    assert ticket.caller == "" and ticket.recording_duration == 3
    began = datetime.utcnow() - timedelta(seconds=300 + 3.3)  # the file's last write, less its audio
    assert abs((ticket.created_at - began).total_seconds()) < 5
    with services(app).sessionmaker() as session:
        assert session.scalars(select(Call)).all() == []  # no call is invented for it


# ----------------------------------------------------------------------------- left alone

def test_a_capture_still_being_written_is_left_alone(bare_app, tmp_path):
    from types import SimpleNamespace

    from ivr.stream.voicemail import MessageRecorder

    app = bare_app
    other = Recorder(app, tmp_path, AUDIO, mode="hold")  # another process, alive, recording
    here = MessageRecorder(SimpleNamespace(recordings_root=app.config["IVR_SETTINGS"].recordings_root))
    for i in range(0, 8000, 160):
        here.write(AUDIO[i:i + 160])
    fresh = crashed_recording(app, tmp_path, AUDIO)  # dead, but written just now
    for path in (other.path, here.path):
        age(path)  # even idle: the lock (another process) and the registry (this one) say it is live
    try:
        report = recover_captures(app)
        assert sorted(report.live) == sorted([other.sid, here.recording_sid, fresh.stem])
        assert report.created == [] and tickets(app) == []
        assert other.path.exists() and here.path.exists() and fresh.exists()
        other.killed()  # the service dies: its lock goes with it
        [made] = recover_captures(app).created
        assert made["recording_sid"] == other.sid
    finally:
        here.finish()
        if other.proc.poll() is None:
            other.proc.kill()


# ----------------------------------------------------------------------------- nothing said, garbage

def test_a_capture_with_no_audio_is_removed_without_a_ticket(bare_app, tmp_path):
    app = bare_app
    nothing = crashed_recording(app, tmp_path, b"", mode="plain")  # died right after the beep: header still buffered
    assert nothing.stat().st_size == 0
    header_only = captured_path(app.config["IVR_SETTINGS"], "RE" + "5" * 32)
    header_only.write_bytes(wav_header(0))
    for path in (nothing, header_only):
        age(path)
    report = recover_captures(app)
    assert sorted(r["name"] for r in report.removed) == sorted([nothing.name, header_only.name])
    assert not nothing.exists() and not header_only.exists()
    assert report.created == [] and tickets(app) == []


def test_a_garbage_capture_is_quarantined_with_its_reason_once(bare_app):
    app = bare_app
    settings = app.config["IVR_SETTINGS"]
    garbage = captured_path(settings, "RE" + "6" * 32)
    garbage.parent.mkdir(parents=True, exist_ok=True)
    garbage.write_bytes(b"ID3\x04" + os.urandom(5000))  # an MP3, say, dropped in by hand
    stranger = captured_dir(settings) / "notes.wav"
    stranger.write_bytes(wav_header(8000) + bytes(8000))
    for path in (garbage, stranger):
        age(path)
    report = recover_captures(app)
    reasons = {q["name"]: q["reason"] for q in report.quarantined}
    assert "not an 8 kHz mono mu-law WAV" in reasons[garbage.name]
    assert "not named as a capture" in reasons[stranger.name]
    moved = quarantine_dir(settings) / garbage.name
    assert moved.read_bytes()[:4] == b"ID3\x04" and not garbage.exists()  # kept, aside
    note = json.loads((quarantine_dir(settings) / f"{garbage.name}.reason.json").read_text())
    assert "not an 8 kHz" in note["reason"] and note["size"] == 5004
    assert recover_captures(app).as_dict()["quarantined"] == []  # never retried
    assert tickets(app) == []


# ----------------------------------------------------------------------------- the worker, the CLI

def test_the_worker_recovers_at_start_without_twilio(settings_overrides, tmp_path):
    """A default install (SQLite, in-process worker, reconciliation off: no Twilio needed)."""
    from ivr.jobs.queue import Worker

    from .conftest import make_test_app

    app = make_test_app({**settings_overrides, "twilio_api_base": "http://127.0.0.1:9",
                         "extra": {"IVR_TTS": "off", "IVR_RECONCILE_SECONDS": "0"}})
    path = crashed_recording(app, tmp_path, AUDIO)
    started_recording(app, path.stem, "CA" + "8" * 32)
    age(path)
    worker = Worker(app, poll_seconds=0.2)
    thread = worker.start_thread()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (tickets(app) and tickets(app)[0].recording_path):
            time.sleep(0.05)
    finally:
        worker.stop()
        thread.join(10)
    [ticket] = tickets(app)
    assert ticket.caller == CALLER and ticket.created_at == LEFT_AT and ticket.recording_path
    assert not path.exists()


@pytest.mark.slow
def test_recover_command_and_doctor(bare_app, tmp_path):
    app = bare_app
    path = crashed_recording(app, tmp_path, AUDIO)
    started_recording(app, path.stem, "CA" + "9" * 32)
    age(path)
    junk = captured_path(app.config["IVR_SETTINGS"], "RE" + "7" * 32)
    junk.write_bytes(b"junk")
    age(junk)
    settings = app.config["IVR_SETTINGS"]
    cli = cli_app(settings.instance_path, DATABASE_URL=settings.database_url, TWILIO_API_BASE="http://127.0.0.1:9")
    out = invoke_cli(cli, "recordings", "recover", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert [c["recording_sid"] for c in report["created"]] == [path.stem]
    assert [q["name"] for q in report["quarantined"]] == [junk.name]
    out = invoke_cli(cli, "doctor", "--json")
    captured = {row["check"]: row for row in json.loads(out.stdout)}["captured"]
    assert not captured["ok"] and "1 idle" in captured["detail"] and "1 quarantined" in captured["detail"]
