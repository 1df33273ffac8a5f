"""Recovery of Media Streams voicemail whose recorder died with its process.

A message left over a Media Stream is written to `captured/<recording sid>.wav` as the caller
speaks (ivr/stream/voicemail.py), and becomes a ticket when the message ends or the socket
drops. If the process itself dies mid-message (kill -9, crash, power loss), the file stays and
nothing would ever ticket it. `recover_captures` finds such files and tickets each exactly as
a normal stream voicemail is (`create_ticket`, so exactly once per recording sid and the same
jobs: `recording.fetch` moves the file into the store, `voicemail.transcribe` transcribes it).

When is a capture orphaned? Three signs, all required, because each alone fails somewhere:

- no recorder of *this* process has it open (a registry, `capture_is_live_here`): on NFS,
  flock becomes a POSIX lock, which never conflicts within a process, and closing our own
  descriptor would even drop the live recorder's lock;
- we can take its flock: a live recorder holds one for as long as it writes, and the kernel
  drops it when the recorder's process dies, however it dies. This is exact for every
  process on one host, and across hosts where the shared filesystem carries locks (NFSv4),
  but some mounts keep locks local to each host (`local_lock=`, SMB without byte-range locks);
- no write for `ORPHAN_AFTER_SECONDS` (mtime): a live recorder writes and fsyncs every half
  second, since Twilio sends audio (silence too) 50 times a second for the whole stream, so a
  minute without a write is a dead writer on any host, whatever its filesystem's locks (an NFS
  client caches a changing file's attributes for seconds, `acregmin`; a minute is far beyond
  that). A minute also keeps recovery after a crash and restart within about a minute.

Then, per file: a ticket already exists: left to the `recording.fetch` job. Empty or the
header alone (nothing was said before the crash): removed. Not our capture format, or not
named as one: moved to `captured/quarantine/` with a `.reason.json` beside it, never retried.
Otherwise the header's sizes are made true (the data is the file minus its 44-byte header;
a crash can leave the header behind the data), and the ticket is made: its call and time
from the `stream_recording` call-log event (the caller from the call's record), its duration
from the data. With no such event the audio still becomes a ticket, of an unknown call, dated
when the file's audio began. Files are read and fixed with no transaction open; each database
step is its own short transaction.
"""
from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import re
import socket
import stat
import struct
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import select

from ..calls.events import Event
from ..calls.log import log_event
from ..calls.models import CallEvent
from ..db import utcnow
from ..services import services
from ..speech.audio import TELEPHONE_RATE as SAMPLE_RATE
from ..speech.audio import wav_header
from ..spool import Rejected
from ..tickets.models import Ticket
from ..tickets.service import RecordingCallback, create_ticket, unknown_call_sid
from .store import capture_is_live_here, captured_dir

log = logging.getLogger(__name__)

ORPHAN_AFTER_SECONDS = 60.0
HEADER_BYTES = 44
CAPTURE_NAME_RE = re.compile(r"(RE[0-9a-fA-F]{32})\.wav")
_HEADER = wav_header(0)
_SIZE_FIELDS = ((4, 8), (40, 44))  # RIFF size and data size: the only bytes that change


@dataclass
class RecoveryReport:
    live: list[str] = field(default_factory=list)  # still being written (here or by another process)
    ticketed: list[str] = field(default_factory=list)  # ticket made; waiting for recording.fetch
    created: list[dict[str, Any]] = field(default_factory=list)
    removed: list[dict[str, str]] = field(default_factory=list)
    quarantined: list[dict[str, str]] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)  # e.g. database down: tried again later

    def as_dict(self) -> dict[str, Any]:
        return {"live": self.live, "ticketed": self.ticketed, "created": self.created, "removed": self.removed,
                "quarantined": self.quarantined, "failed": self.failed}


class _Unusable(Exception):
    """The file can't become a ticket; `remove` says whether it holds no audio (else: quarantine)."""

    def __init__(self, reason: str, *, remove: bool = False):
        super().__init__(reason)
        self.remove = remove


def quarantine_dir(settings) -> Path:
    return captured_dir(settings) / "quarantine"


def quarantined_captures(settings) -> list[Path]:
    folder = quarantine_dir(settings)
    return sorted(p for p in folder.glob("*") if not p.name.endswith(".reason.json")) if folder.is_dir() else []


def recover_captures(app: Flask, *, stale_after: float = ORPHAN_AFTER_SECONDS) -> RecoveryReport:
    """Ticket every capture no recorder is writing any more; idempotent, safe in many processes."""
    settings = app.config["IVR_SETTINGS"]
    report = RecoveryReport()
    folder = captured_dir(settings)
    if not folder.is_dir():
        return report
    now = time.time()
    candidates: list[Path] = []
    with os.scandir(folder) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            if not entry.name.endswith(".wav"):
                continue  # not a capture (e.g. NFS's .nfsXXXX of a file unlinked while open)
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # moved into the store meanwhile
            if not stat.S_ISREG(st.st_mode):
                continue
            path = Path(entry.path)
            if capture_is_live_here(path) or now - st.st_mtime < stale_after:
                report.live.append(entry.name.removesuffix(".wav"))
            else:
                candidates.append(path)
    if not candidates:
        return report
    sids = [m.group(1) for p in candidates if (m := CAPTURE_NAME_RE.fullmatch(p.name))]
    sessions = services(app).sessionmaker
    with sessions() as session:  # one short read
        ticketed = set(session.scalars(select(Ticket.recording_sid).where(Ticket.recording_sid.in_(sids))))
    for path in candidates:
        sid = path.name.removesuffix(".wav")
        if sid in ticketed:
            report.ticketed.append(sid)
            continue
        try:
            _recover(app, path, stale_after, report)
        except Exception as exc:
            log.warning("could not recover captured message %s yet", path.name, exc_info=True)
            report.failed.append({"name": path.name, "error": f"{type(exc).__name__}: {exc}"[:300]})
    if report.created:
        log.warning("recovered %d voicemail(s) whose recording stopped when the service died", len(report.created))
    if report.created and services(app).worker is not None:
        services(app).worker.wake()
    return report


def _recover(app: Flask, path: Path, stale_after: float, report: RecoveryReport) -> None:
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW)
    except FileNotFoundError:
        return
    except OSError as exc:
        _quarantine(app, path, f"unreadable: {exc.strerror or exc}", report)
        return
    try:
        if not _lock(fd):
            report.live.append(path.name.removesuffix(".wav"))
            return
        st = os.fstat(fd)
        if st.st_nlink == 0:
            return  # moved into the store while we looked
        if time.time() - st.st_mtime < stale_after:
            report.live.append(path.name.removesuffix(".wav"))  # written to since we listed it
            return
        try:
            sid, data_bytes = _check(path.name, os.pread(fd, HEADER_BYTES, 0), st.st_size)
        except _Unusable as bad:
            if bad.remove:
                path.unlink(missing_ok=True)
                log.info("removed captured message %s: %s", path.name, bad)
                report.removed.append({"name": path.name, "reason": str(bad)})
            else:
                _quarantine(app, path, str(bad), report)
            return
        if _fix_header(fd, data_bytes):
            os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))  # its age stays the recorder's, not ours
        seconds = data_bytes / SAMPLE_RATE
        started = datetime.fromtimestamp(st.st_mtime - seconds, UTC).replace(tzinfo=None)
        try:
            created = _make_ticket(app, sid, seconds, started)
        except Rejected as exc:
            _quarantine(app, path, f"not a valid voicemail: {exc}", report)
            return
        if created is not None:
            report.created.append(created)
        else:
            report.ticketed.append(sid)
    finally:
        os.close(fd)  # releases our lock


def _lock(fd: int) -> bool:
    """Take the capture's flock without waiting: False when a live recorder (or another
    recovering process) holds it. A filesystem without locks leaves the age to decide."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return False
    return True


def _check(name: str, head: bytes, size: int) -> tuple[str, int]:
    """(recording sid, bytes of audio) of a capture in our format; raises _Unusable."""
    match = CAPTURE_NAME_RE.fullmatch(name)
    if match is None:
        raise _Unusable("not named as a capture (RE + 32 hex digits + .wav)")
    if size <= HEADER_BYTES and _masked(head) == _masked(_HEADER[:len(head)]):
        raise _Unusable("no audio: the message ended (or the service died) before anything was written",
                        remove=True)
    if len(head) < HEADER_BYTES or _masked(head) != _masked(_HEADER):
        raise _Unusable("not an 8 kHz mono mu-law WAV with our 44-byte header")
    return match.group(1), size - HEADER_BYTES


def _masked(head: bytes) -> bytes:
    out = bytearray(head)
    for start, end in _SIZE_FIELDS:
        out[start:end] = b"\0" * len(out[start:end])
    return bytes(out)


def _fix_header(fd: int, data_bytes: int) -> bool:
    """Make the header's sizes match the data on disk (a crash can leave them behind it)."""
    want = struct.pack("<I", 36 + data_bytes), struct.pack("<I", data_bytes)
    have = os.pread(fd, 4, 4), os.pread(fd, 4, 40)
    if have == want:
        return False
    os.pwrite(fd, want[0], 4)
    os.pwrite(fd, want[1], 40)
    os.fsync(fd)
    return True


def _make_ticket(app: Flask, sid: str, seconds: float, started: datetime) -> dict[str, Any] | None:
    """The ticket, as the stream would have made it; None if one already existed."""
    sessions = services(app).sessionmaker
    with sessions() as session:  # a short read: which call started this recording, and when
        row = session.execute(
            select(CallEvent.call_sid, CallEvent.at)
            .where(CallEvent.kind == Event.STREAM_RECORDING, CallEvent.detail["recording_sid"].as_string() == sid)
            .order_by(CallEvent.id).limit(1)).first()
    call_sid, at = (row[0], row[1]) if row is not None else (unknown_call_sid(sid), started)
    cb = RecordingCallback(call_sid=call_sid, caller="", recording_sid=sid, recording_url="",
                           duration=max(1, round(seconds)), at=at)
    session = sessions()
    try:
        ticket, created = create_ticket(session, cb)  # commits; the caller comes from the call's record
        if not created:
            return None
        if cb.call_known:
            log_event(session, call_sid, Event.RECORDING_RECOVERED, recording_sid=sid, seconds=round(seconds, 1))
            session.commit()
        return {"recording_sid": sid, "call_sid": call_sid, "caller": ticket.caller, "reference": ticket.reference,
                "created_at": ticket.created_at.isoformat(), "duration": ticket.recording_duration,
                "call_known": cb.call_known}
    finally:
        session.close()


def _quarantine(app: Flask, path: Path, reason: str, report: RecoveryReport) -> None:
    """Move the file aside with its reason: kept for a person to look at, never retried."""
    folder = quarantine_dir(app.config["IVR_SETTINGS"])
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / path.name
    if target.exists():
        target = folder / f"{path.stem}-{int(time.time())}{path.suffix}"
    try:
        size = path.stat().st_size
    except OSError:
        size = -1
    note = {"reason": reason[:500], "name": path.name, "size": size, "quarantined_at": utcnow().isoformat(),
            "host": socket.gethostname()}
    target.with_name(target.name + ".reason.json").write_text(json.dumps(note) + "\n", encoding="utf-8")
    os.replace(path, target)
    for directory in (folder, path.parent):
        _fsync_dir(directory)
    log.error("quarantined captured message %s (%s) in %s", path.name, reason, folder)
    report.quarantined.append({"name": path.name, "reason": reason, "moved_to": str(target)})


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
