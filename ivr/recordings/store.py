"""Our own copy of each voicemail: a local folder (default) or the database.

IVR_RECORDINGS_STORAGE=folder keeps files under IVR_RECORDINGS_PATH (default
<instance>/recordings); every host must see the same folder (one box, or a shared mount).
IVR_RECORDINGS_STORAGE=database keeps them in the `recording_blobs` table, so every host that
reaches the database can play and transcribe any recording. Both stores use the same relative
keys ("0000/12-RE….wav"), checked before use, so no stored value can point elsewhere.
"""
from __future__ import annotations

import os
import re
import threading
import weakref
from pathlib import Path
from typing import Protocol

from flask import Flask
from sqlalchemy.orm import sessionmaker

from ..db import session_scope
from ..services import services
from .fetch import RECORDING_SID_RE
from .models import RecordingBlob

KEY_RE = re.compile(r"[0-9]{4}/[0-9]+-RE[0-9a-fA-F]{32}\.wav")


def recording_key(ticket_id: int, recording_sid: str) -> str:
    if not RECORDING_SID_RE.match(recording_sid or ""):
        raise ValueError(f"not a recording sid: {recording_sid!r}")
    return f"{int(ticket_id) // 1000:04d}/{int(ticket_id)}-{recording_sid}.wav"


def check_key(rel: str) -> str:
    if not KEY_RE.fullmatch(rel or ""):
        raise ValueError(f"not a stored recording path: {rel!r}")
    return rel


class Store(Protocol):
    def save(self, ticket_id: int, recording_sid: str, data: bytes) -> str: ...
    def exists(self, rel: str) -> bool: ...
    def read(self, rel: str) -> bytes: ...
    def size(self, rel: str) -> int: ...
    def delete(self, rel: str) -> bool: ...
    def local_path(self, rel: str) -> Path | None: ...


class RecordingStore:
    """Recordings as files in one folder."""

    def __init__(self, root: Path):
        self.root = Path(root).resolve()

    def save(self, ticket_id: int, recording_sid: str, data: bytes) -> str:
        """Write atomically (fsynced); returns the path relative to the store."""
        rel = recording_key(ticket_id, recording_sid)
        path = self.path_for(rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
        return rel

    def path_for(self, rel: str) -> Path:
        """The absolute path of a stored recording; refuses anything outside the store."""
        path = (self.root / check_key(rel)).resolve()
        if self.root not in path.parents:
            raise ValueError(f"not a stored recording path: {rel!r}")
        return path

    local_path = path_for

    def exists(self, rel: str) -> bool:
        return self.path_for(rel).is_file()

    def read(self, rel: str) -> bytes:
        return self.path_for(rel).read_bytes()

    def size(self, rel: str) -> int:
        path = self.path_for(rel)
        return path.stat().st_size if path.exists() else 0

    def delete(self, rel: str) -> bool:
        path = self.path_for(rel)
        if path.exists():
            path.unlink()
            return True
        return False


class DatabaseStore:
    """Recordings as rows of `recording_blobs`, one short transaction per call."""

    def __init__(self, sessions: sessionmaker):
        self.sessions = sessions

    def save(self, ticket_id: int, recording_sid: str, data: bytes) -> str:
        rel = recording_key(ticket_id, recording_sid)
        with session_scope(self.sessions) as session:
            blob = session.get(RecordingBlob, rel)
            if blob is None:
                session.add(RecordingBlob(key=rel, data=data, size=len(data)))
            else:
                blob.data, blob.size = data, len(data)
        return rel

    def _get(self, rel: str, column):
        from sqlalchemy import select


        with self.sessions() as session:
            return session.scalar(select(column).where(RecordingBlob.key == check_key(rel)))

    def exists(self, rel: str) -> bool:
        return self._get(rel, RecordingBlob.size) is not None

    def read(self, rel: str) -> bytes:
        data = self._get(rel, RecordingBlob.data)
        if data is None:
            raise FileNotFoundError(f"no stored recording {rel}")
        return bytes(data)

    def size(self, rel: str) -> int:
        return int(self._get(rel, RecordingBlob.size) or 0)

    def delete(self, rel: str) -> bool:
        from sqlalchemy import delete


        with session_scope(self.sessions) as session:
            return bool(session.execute(delete(RecordingBlob).where(RecordingBlob.key == check_key(rel))).rowcount)

    def local_path(self, rel: str) -> Path | None:
        check_key(rel)
        return None


def captured_dir(settings) -> Path:
    return Path(settings.recordings_root) / "captured"


def captured_path(settings, recording_sid: str) -> Path:
    """Where a recording this host captured itself (a Media Streams voicemail) is written while
    the caller speaks; the `recording.fetch` job moves it into the store instead of downloading."""
    if not RECORDING_SID_RE.match(recording_sid or ""):
        raise ValueError(f"not a recording sid: {recording_sid!r}")
    return captured_dir(settings) / f"{recording_sid}.wav"


# Captures being written by recorders of this process (path -> recorder, held weakly so a recorder
# dropped without finishing stops counting). A lock can't say this within one process on every
# filesystem (NFS turns flock into POSIX locks, which never conflict inside a process).
_LIVE_CAPTURES: weakref.WeakValueDictionary[str, object] = weakref.WeakValueDictionary()
_LIVE_LOCK = threading.Lock()


def mark_capture_live(path: Path, owner: object | None) -> None:
    """Register `owner` as writing `path` in this process; None when it has stopped."""
    key = str(Path(path).resolve())
    with _LIVE_LOCK:
        if owner is None:
            _LIVE_CAPTURES.pop(key, None)
        else:
            _LIVE_CAPTURES[key] = owner


def capture_is_live_here(path: Path) -> bool:
    with _LIVE_LOCK:
        return str(Path(path).resolve()) in _LIVE_CAPTURES


def get_store(app: Flask) -> RecordingStore | DatabaseStore:
    settings = app.config["IVR_SETTINGS"]
    if settings.recordings_storage == "database":
        return DatabaseStore(services(app).sessionmaker)
    root = settings.recordings_root
    return RecordingStore(Path(root))
