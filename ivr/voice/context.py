"""What a state of the call knows: the call, the caller's last input, the database and the words.

Transport-neutral on purpose: built by a webhook route from Twilio's form or by a Media Streams
handler thread from its `start` message, so the same states run under either.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from sqlalchemy.orm import Session

from ..calls.log import log_event
from ..config import Settings
from ..prompts import PromptCatalogue
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

    def __post_init__(self) -> None:
        self.settings = self.app.config["IVR_SETTINGS"]
        self.catalogue = self.app.extensions["ivr.prompts"]

    def t(self, prompt_id: str, **values: Any) -> str:
        return self.catalogue.text(prompt_id, **values)

    def log(self, kind: str, **detail: Any) -> None:
        if self.call_sid:
            log_event(self.session, self.call_sid, kind, **detail)
