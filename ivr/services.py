"""The app's services in one typed object, built by `create_app` and reached as `services(app)`.

Areas never look services up by string key: `services(app).sessionmaker`, `.speech`, `.tts` and
the rest are typed fields, so a missing one is an attribute error at the line that needs it and
an editor can follow every use. The tables of what the app is made of (blueprints, states, jobs,
spool replayers, warm-up tasks) are declared once in `ivr/registry.py`.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app

from .clock import Clock, system_clock

if TYPE_CHECKING:
    from flask_wtf.csrf import CSRFProtect
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from .config import Settings
    from .hours import HoursCache
    from .jobs.queue import JobTable, Worker
    from .kb.service import EngineHolder
    from .prompts import PromptCatalogue
    from .readiness import Readiness
    from .speech.policy import SpeechPolicy
    from .tts.service import TTSService
    from .twiml.speaker import Speaker

EXTENSION_KEY = "ivr"

TextSource = Callable[[Flask], Iterable[str]]
ReloadHook = Callable[[Flask], Any]


@dataclass(eq=False)
class Services:
    settings: Settings
    engine: Engine
    sessionmaker: sessionmaker[Session]
    readiness: Readiness
    prompts: PromptCatalogue
    speech: SpeechPolicy
    tts: TTSService
    kb: EngineHolder
    hours: HoursCache
    jobs: JobTable
    clock: Clock = system_clock
    speaker: Speaker | None = None
    csrf: CSRFProtect | None = None
    worker: Worker | None = None
    orders_engine: Engine | None = None
    # Sentences worth rendering before a caller needs them (menus, choices), beside the catalogue's.
    prerender: list[TextSource] = field(default_factory=list)
    # The in-process simulator's ear: `tap(call_sid, mark, text)` for each clip a stream plays.
    stream_tap: Callable[[str, str, str], Any] | None = None
    # Run after another process reloaded the knowledge base (e.g. render the new answers' audio).
    kb_reload_hooks: list[ReloadHook] = field(default_factory=list)

    def now(self) -> datetime:
        """The current time (aware UTC) by the app's one clock."""
        return self.clock()


def services(app: Flask | None = None) -> Services:
    """The services of `app` (default: the current app)."""
    return (app or current_app).extensions[EXTENSION_KEY]
