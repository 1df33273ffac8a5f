"""What a state of the call knows: the call, the caller's last input, the database and the words.

Transport-neutral on purpose: built by a webhook route from Twilio's form or by a Media Streams
handler thread from its `start` message, so the same states run under either.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import Flask
from sqlalchemy.orm import Session

from ..calls.journal import PendingEvent, journal, write_events
from ..config import Settings
from ..language import Language, call_language
from ..prompts import PromptCatalogue
from ..services import services
from ..spool import TRANSIENT
from .actions import Input


@dataclass
class CallContext:
    app: Flask
    session: Session
    call_sid: str
    caller: str = ""
    to: str = ""
    input: Input = field(default_factory=Input)
    settings: Settings = field(init=False)
    catalogue: PromptCatalogue = field(init=False)
    language: Language = field(init=False)
    # The call log of this turn, written by `commit` (see ivr/calls/journal.py for why not at once).
    events: list[PendingEvent] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.settings = self.app.config["IVR_SETTINGS"]
        self.catalogue = services(self.app).prompts
        self.language = call_language(self.settings, self.call_sid)

    def now(self) -> datetime:
        """The current time (aware UTC) by the app's one clock (tests freeze `services(app).clock`)."""
        return services(self.app).now()

    def t(self, prompt_id: str, **values: Any) -> str:
        return self.catalogue.text(prompt_id, **values)

    def log(self, kind: str, **detail: Any) -> None:
        """Note what happened in the call; written with the turn's commit."""
        if self.call_sid:
            self.events.append(PendingEvent(kind, detail))

    def commit(self) -> bool:
        """End the turn: write its call log and commit. Every transport calls this.

        When the database can't be written within the lock timeout (locked, down), the turn's
        call log goes to the durable spool for the worker to write later, and False is returned:
        the caller still hears the turn, which was built without needing the write.
        """
        try:
            if self.events:
                write_events(self.session, self.call_sid, self.caller, self.to, self.events)
            self.session.commit()
        except TRANSIENT:
            self.session.rollback()
            self.journal()
            return False
        self.events.clear()
        return True

    def journal(self) -> None:
        """Keep the turn's call log durably (after a failed turn too) and forget it here."""
        if self.events:
            journal(self.settings.instance_path, self.call_sid, self.caller, self.to, self.events)
            self.events.clear()
