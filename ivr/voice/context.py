"""What one webhook request of a call knows: the caller, the database, the words and the voice."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping
from urllib.parse import urlencode

from flask import Flask
from sqlalchemy.orm import Session
from twilio.twiml.voice_response import VoiceResponse

from ..calls.log import log_event
from ..config import Settings
from ..prompts import PromptCatalogue
from .speaker import Container, Speaker


@dataclass
class CallContext:
    app: Flask
    session: Session
    form: Mapping[str, str]
    args: Mapping[str, str]
    settings: Settings = field(init=False)
    catalogue: PromptCatalogue = field(init=False)
    speaker: Speaker = field(init=False)

    def __post_init__(self) -> None:
        self.settings = self.app.config["IVR_SETTINGS"]
        self.catalogue = self.app.extensions["ivr.prompts"]
        self.speaker = self.app.extensions["ivr.speaker"]

    @property
    def call_sid(self) -> str:
        return self.form.get("CallSid", "") or self.args.get("CallSid", "")

    @property
    def caller(self) -> str:
        return self.form.get("From", "")

    def t(self, prompt_id: str, **values: Any) -> str:
        return self.catalogue.text(prompt_id, **values)

    def speak(self, container: Container, *texts: str, private: bool = False) -> None:
        """Speak `texts`; `private` when they hold the caller's data (clips kept for the day only)."""
        for text in texts:
            if text:
                self.speaker.speak(container, text, private=private)

    def log(self, kind: str, **detail: Any) -> None:
        if self.call_sid:
            log_event(self.session, self.call_sid, kind, **detail)

    @staticmethod
    def url(state: str, **params: Any) -> str:
        """Relative URL of a state; Twilio resolves it against the URL it just requested."""
        query = urlencode({k: v for k, v in params.items() if v is not None})
        return f"/voice/state/{state}" + (f"?{query}" if query else "")

    @staticmethod
    def input_url(menu: str, **params: Any) -> str:
        query = urlencode({k: v for k, v in params.items() if v is not None})
        return f"/voice/input/{menu}" + (f"?{query}" if query else "")

    @staticmethod
    def response() -> VoiceResponse:
        return VoiceResponse()
