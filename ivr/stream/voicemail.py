"""A voicemail recorded from the stream straight to our own disk, durable as it is spoken.

Frames are appended to the captured file as they arrive and flushed to disk every half
second, so a dropped socket or a hang-up mid-message keeps what was said; the header is
written first and fixed when the message ends. The recording gets a sid of Twilio's shape
(`RE` + 32 hex) so the ticket rules (exactly once per recording sid) and the existing jobs
(`recording.fetch` moves it into the store, `voicemail.transcribe` transcribes it) apply as
to any other voicemail.

While it writes, the recorder holds an exclusive flock on the file and is registered as live
in this process; the recovery step (ivr/recordings/orphans.py) leaves such a file alone and
tickets only captures whose recorder died with its process.
"""
from __future__ import annotations

import fcntl
import logging
import os
import struct
import uuid
from pathlib import Path

from ..recordings.store import captured_path, mark_capture_live
from .audio import wav_header
from .protocol import SAMPLE_RATE

log = logging.getLogger(__name__)

FSYNC_EVERY_BYTES = SAMPLE_RATE // 2  # half a second of audio


class MessageRecorder:
    def __init__(self, settings):
        self.recording_sid = "RE" + uuid.uuid4().hex
        self.path: Path = captured_path(settings, self.recording_sid)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "wb")
        mark_capture_live(self.path, self)
        try:
            # Released by the kernel when this process dies, however it dies: the sign for recovery.
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:  # a filesystem without locks: recovery goes by the file's age alone
            log.warning("could not lock %s (%s); recovery will rely on its age", self.path.name, exc)
        self._fh.write(wav_header(0))
        self.bytes = 0
        self._unsynced = 0
        self.voiced_ms = 0
        self.closed = False

    @property
    def seconds(self) -> float:
        return self.bytes / SAMPLE_RATE

    def write(self, ulaw: bytes) -> None:
        if self.closed:
            return
        self._fh.write(ulaw)
        self.bytes += len(ulaw)
        self._unsynced += len(ulaw)
        if self._unsynced >= FSYNC_EVERY_BYTES:
            self._sync()

    def _sync(self) -> None:
        # Keep the header's sizes true on disk as we go: a crash leaves a playable file.
        self._fh.flush()
        position = self._fh.tell()
        self._fh.seek(4)
        self._fh.write(struct.pack("<I", 36 + self.bytes))
        self._fh.seek(40)
        self._fh.write(struct.pack("<I", self.bytes))
        self._fh.seek(position)
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._unsynced = 0

    def finish(self) -> Path:
        """Close the file with its final sizes, on disk. Idempotent."""
        if not self.closed:
            self._sync()
            self._fh.close()
            self.closed = True
            mark_capture_live(self.path, None)
        return self.path

    def discard(self) -> None:
        """Nothing was said: no file, no ticket."""
        if not self.closed:
            self._fh.close()
            self.closed = True
        self.path.unlink(missing_ok=True)
        mark_capture_live(self.path, None)
