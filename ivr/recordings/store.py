"""Our own copy of each voicemail, in a local folder by default (IVR_RECORDINGS_PATH)."""
from __future__ import annotations

import os
import re
from pathlib import Path

from flask import Flask

from .fetch import RECORDING_SID_RE


class RecordingStore:
    def __init__(self, root: Path):
        self.root = Path(root).resolve()

    def save(self, ticket_id: int, recording_sid: str, data: bytes) -> str:
        """Write atomically; returns the path relative to the store."""
        if not RECORDING_SID_RE.match(recording_sid):
            raise ValueError(f"not a recording sid: {recording_sid!r}")
        rel = f"{int(ticket_id) // 1000:04d}/{int(ticket_id)}-{recording_sid}.wav"
        path = self.path_for(rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
        return rel

    def captured_path(self, recording_sid: str) -> Path:
        """Where a recording this server captured itself (a Media Streams voicemail) is written
        while the call goes on; the `recording.fetch` job moves it into the store like a download."""
        if not RECORDING_SID_RE.match(recording_sid or ""):
            raise ValueError(f"not a recording sid: {recording_sid!r}")
        return self.root / "captured" / f"{recording_sid}.wav"

    def path_for(self, rel: str) -> Path:
        """The absolute path of a stored recording; refuses anything outside the store."""
        if not re.fullmatch(r"[0-9]{4}/[0-9]+-RE[0-9a-fA-F]{32}\.wav", rel or ""):
            raise ValueError(f"not a stored recording path: {rel!r}")
        path = (self.root / rel).resolve()
        if self.root not in path.parents:
            raise ValueError(f"not a stored recording path: {rel!r}")
        return path

    def exists(self, rel: str) -> bool:
        return self.path_for(rel).is_file()

    def delete(self, rel: str) -> bool:
        path = self.path_for(rel)
        if path.exists():
            path.unlink()
            return True
        return False


def get_store(app: Flask) -> RecordingStore:
    settings = app.config["IVR_SETTINGS"]
    root = settings.extra.get("IVR_RECORDINGS_PATH") or Path(settings.instance_path) / "recordings"
    return RecordingStore(Path(root))
