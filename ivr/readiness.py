"""Start-up work that must finish before the service says it is ready.

Building the knowledge-base index, loading the embedding model and rendering prompt audio take
seconds to minutes; none of it may happen on a caller's webhook. `start_warm_up` runs every
registered task in a background thread, and `/healthz` answers 503 "starting" until they have
all finished, so a load balancer (or an operator) sends calls only to a warm process.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from flask import Flask

from .services import services

log = logging.getLogger(__name__)

WarmUpTask = Callable[[Flask], object]


class Readiness:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.tasks: dict[str, WarmUpTask] = {}
        self.pending: set[str] = set()
        self.failed: dict[str, str] = {}
        self.started = False  # warm-up was started: this process is a long-running server
        self._done = threading.Event()

    def add(self, name: str, task: WarmUpTask) -> None:
        """Register a warm-up task (from an area's init_app)."""
        self.tasks[name] = task

    @property
    def ready(self) -> bool:
        return self.started and self._done.is_set()

    def status(self) -> dict[str, object]:
        with self._lock:
            if not self.started:
                return {"status": "starting", "waiting_for": ["warm-up not started"]}
            if self._done.is_set():
                body: dict[str, object] = {"status": "ok"}
                if self.failed:
                    body["degraded"] = dict(self.failed)
                return body
            return {"status": "starting", "waiting_for": sorted(self.pending)}

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    def start(self, app: Flask) -> threading.Thread:
        """Run every task once, in order, in one background thread."""
        with self._lock:
            self.started = True
            self.pending = set(self.tasks)

        def run() -> None:
            for name, task in list(self.tasks.items()):
                began = time.perf_counter()
                try:
                    task(app)
                    log.info("warm-up %s done in %.1fs", name, time.perf_counter() - began)
                except Exception as exc:
                    log.exception("warm-up %s failed", name)
                    self.failed[name] = f"{type(exc).__name__}: {exc}"
                with self._lock:
                    self.pending.discard(name)
            self._done.set()

        thread = threading.Thread(target=run, name="ivr-warm-up", daemon=True)
        thread.start()
        return thread


def readiness(app: Flask) -> Readiness:
    return services(app).readiness
