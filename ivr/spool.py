"""A write-ahead spool: webhook writes that must survive a crash or a locked database.

An entry ({id, kind, payload, at}) is appended to one JSON-lines file under the instance
folder and fsynced before the webhook answers, so it outlives a kill -9 the instant after.
Every web process and worker on the host shares the file: appends and replays take an
fcntl lock, and only one process replays at a time. `replay(app)` hands entries, oldest
first, to the replayer declared for their kind (ivr/registry.py):

- it returns: the entry is done (replayers must be idempotent: an entry can be replayed
  twice if the process dies between applying it and forgetting it);
- it raises `Rejected` (or the entry is unreadable, or no replayer knows its kind): the entry
  goes to the quarantine file with the reason, never retried;
- the database is unavailable (`TRANSIENT`): the entry and every later one stay, in order,
  for the next replay;
- any other error: retried on later replays, quarantined after `MAX_ATTEMPTS`.

Usage::

    spool.append(instance_path, "recording", {...})     # in the webhook, before answering
    REPLAYERS = {"recording": make_ticket}               # ivr/registry.py: one table of kinds
    spool.replay(app)                                    # the worker, every second or so
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from .clock import naive_utc, system_clock
from .services import services

log = logging.getLogger(__name__)

# Bigger entries are refused at append time: a webhook's form is a few hundred bytes.
MAX_ENTRY_BYTES = 16_384
MAX_KIND_LENGTH = 64
MAX_ATTEMPTS = 5
# Errors meaning "the database can't be written right now": keep the entry, keep the order.
TRANSIENT: tuple[type[BaseException], ...] = (OperationalError, InterfaceError, PoolTimeout, ConnectionError)

# `fn(app, payload, at)` applies one entry; it must be idempotent.
Replayer = Callable[[Any, dict[str, Any], datetime], None]


class Rejected(ValueError):
    """The entry can never be applied (malformed, out of range); it is quarantined with this reason."""


@dataclass(frozen=True)
class Entry:
    id: str
    kind: str
    payload: dict[str, Any]
    at: datetime  # when the webhook arrived (naive UTC, like the database's timestamps)
    attempts: int = 0

    def to_line(self) -> str:
        return json.dumps({"id": self.id, "kind": self.kind, "payload": self.payload,
                           "at": self.at.isoformat(), "attempts": self.attempts},
                          separators=(",", ":"), ensure_ascii=False) + "\n"

    @classmethod
    def from_line(cls, line: str) -> Entry:
        raw = json.loads(line)
        if not isinstance(raw, dict) or not isinstance(raw.get("payload"), dict):
            raise ValueError("entry is not an object with a payload object")
        kind = raw.get("kind")
        if not isinstance(kind, str) or not kind or len(kind) > MAX_KIND_LENGTH:
            raise ValueError("entry has no valid kind")
        at = datetime.fromisoformat(str(raw.get("at")))
        attempts = raw.get("attempts", 0)
        if not isinstance(attempts, int) or attempts < 0:
            raise ValueError("entry has a bad attempts count")
        return cls(id=str(raw.get("id") or uuid.uuid4().hex)[:64], kind=kind, payload=raw["payload"],
                   at=at.replace(tzinfo=None) if at.tzinfo is None else at.astimezone(UTC).replace(tzinfo=None),
                   attempts=attempts)


@dataclass(frozen=True)
class ReplayResult:
    applied: int = 0
    quarantined: int = 0
    kept: int = 0



def spool_dir(instance_path: Path | str) -> Path:
    return Path(instance_path) / "spool"


def entries_path(instance_path: Path | str) -> Path:
    return spool_dir(instance_path) / "entries.jsonl"


def quarantine_path(instance_path: Path | str) -> Path:
    return spool_dir(instance_path) / "quarantine.jsonl"


@contextmanager
def _flock(path: Path, *, blocking: bool = True) -> Iterator[bool]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_lines(path: Path, lines: list[str], mode: str) -> None:
    with open(path, mode, encoding="utf-8") as fh:
        fh.write("".join(lines))
        fh.flush()
        os.fsync(fh.fileno())


def append(instance_path: Path | str, kind: str, payload: dict[str, Any], *,
           at: datetime | None = None) -> Entry:
    """Durably add an entry (fsynced before returning). Raises Rejected for an oversized entry."""
    if not kind or len(kind) > MAX_KIND_LENGTH:
        raise Rejected(f"spool kind must be 1-{MAX_KIND_LENGTH} characters")
    entry = Entry(id=uuid.uuid4().hex, kind=kind, payload=dict(payload),
                  at=at or naive_utc(system_clock()))
    line = entry.to_line()
    if len(line.encode("utf-8")) > MAX_ENTRY_BYTES:
        raise Rejected(f"spool entry of {len(line)} bytes is over the {MAX_ENTRY_BYTES}-byte limit")
    folder = spool_dir(instance_path)
    with _flock(folder / "spool.lock"):
        path = entries_path(instance_path)
        new = not path.exists()
        _write_lines(path, [line], "a")
        if new:
            _fsync_dir(folder)  # the file's name is durable too
    return entry


def pending(instance_path: Path | str) -> int:
    """How many entries wait to be replayed (for `doctor` and tests)."""
    count = 0
    for path in (entries_path(instance_path), spool_dir(instance_path) / "replaying.jsonl"):
        if path.exists():
            count += sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    return count


def quarantined(instance_path: Path | str) -> list[dict[str, Any]]:
    """The quarantined entries, each with its `reason`."""
    path = quarantine_path(instance_path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _quarantine_line(line: str, reason: str) -> str:
    return json.dumps({"reason": reason[:500], "quarantined_at": system_clock().isoformat(),
                       "entry": line.rstrip("\n")[:MAX_ENTRY_BYTES]}, ensure_ascii=False) + "\n"


def _declared_replayers(app: Any) -> dict[str, Replayer]:
    try:
        return services(app).jobs.replayers
    except (KeyError, AttributeError):  # an app without services knows no kinds: entries are quarantined
        return {}


def replay(app: Any, instance_path: Path | str | None = None, *,
           replayers: dict[str, Replayer] | None = None) -> ReplayResult:
    """Apply spooled entries in order; returns counts. Another process already replaying: does nothing.

    `replayers` maps each entry kind to its replayer (default: the app's declared table)."""
    instance = Path(instance_path or app.config["IVR_SETTINGS"].instance_path)
    folder = spool_dir(instance)
    path, working = entries_path(instance), folder / "replaying.jsonl"
    if not path.exists() and not working.exists():
        return ReplayResult()
    if replayers is None:
        replayers = _declared_replayers(app)
    with _flock(folder / "replay.lock", blocking=False) as mine:
        if not mine:
            return ReplayResult()
        with _flock(folder / "spool.lock"):
            if not working.exists():  # else: left by a replayer that died; finish it first
                if not path.exists():
                    return ReplayResult()
                path.replace(working)
                _fsync_dir(folder)
        lines = [line for line in working.read_text(encoding="utf-8").splitlines(keepends=True) if line.strip()]
        applied, bad, keep = 0, [], []
        for index, line in enumerate(lines):
            try:
                entry = Entry.from_line(line)
            except (ValueError, TypeError) as exc:
                bad.append(_quarantine_line(line, f"unreadable entry: {exc}"))
                continue
            fn = replayers.get(entry.kind)
            if fn is None:
                bad.append(_quarantine_line(line, f"no replayer for kind {entry.kind!r}"))
                continue
            try:
                fn(app, entry.payload, entry.at)
                applied += 1
            except Rejected as exc:
                bad.append(_quarantine_line(line, str(exc)))
            except TRANSIENT as exc:
                log.warning("spool replay paused (database unavailable: %s); %d entr(ies) kept",
                            type(exc).__name__, len(lines) - index)
                keep = lines[index:]
                break
            except Exception as exc:
                log.exception("spooled %s entry %s failed (attempt %d)", entry.kind, entry.id, entry.attempts + 1)
                if entry.attempts + 1 >= MAX_ATTEMPTS:
                    bad.append(_quarantine_line(line, f"failed {MAX_ATTEMPTS} times: {type(exc).__name__}: {exc}"))
                else:
                    keep.append(Entry(entry.id, entry.kind, entry.payload, entry.at, entry.attempts + 1).to_line())
        if bad:
            with _flock(folder / "quarantine.lock"):
                _write_lines(quarantine_path(instance), bad, "a")
            log.error("quarantined %d spool entr(ies) in %s", len(bad), quarantine_path(instance))
        with _flock(folder / "spool.lock"):
            if keep:
                # Kept entries go back before anything appended meanwhile, so order holds.
                later = path.read_text(encoding="utf-8") if path.exists() else ""
                tmp = folder / "entries.tmp"
                _write_lines(tmp, keep + ([later] if later else []), "w")
                tmp.replace(path)
            working.unlink()
            _fsync_dir(folder)
    if applied:
        log.info("applied %d spooled entr(ies)", applied)
    return ReplayResult(applied=applied, quarantined=len(bad), kept=len(keep))
