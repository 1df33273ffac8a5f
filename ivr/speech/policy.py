"""Which recogniser serves a call: ours (Vosk) when a model serves its language, else Twilio's.

Decided here and nowhere else. `IVR_SPEECH=twilio` forces Twilio's everywhere: no model is
looked up, loaded or warmed, no stream is offered, and messages are transcribed by Twilio.
"""
from __future__ import annotations

from pathlib import Path

from ..language import Language
from .engine import SpeechEngine, get_engine, model_path_for


class SpeechPolicy:
    def __init__(self, settings) -> None:
        self.settings = settings

    @property
    def ours_allowed(self) -> bool:
        return self.settings.speech != "twilio"

    def model_path(self, language: Language) -> Path | None:
        """The Vosk model folder that would serve `language` (cheap: a folder listing, no loading)."""
        if not self.ours_allowed:
            return None
        return model_path_for(self.settings, language.code)

    def serves(self, language: Language) -> bool:
        """Whether our own recogniser serves `language`."""
        return self.model_path(language) is not None

    def engine(self, language: Language) -> SpeechEngine | None:
        """Our loaded engine for `language`, or None: then Twilio's recogniser serves the call."""
        if not self.ours_allowed:
            return None
        return get_engine(self.settings, language.code)

    def streams(self, language: Language) -> bool:
        """Whether a call in `language` may be held over Media Streams (our recogniser, streaming on)."""
        return self.settings.stream_enabled and self.serves(language)

    def twilio_transcribes_messages(self, language: Language) -> bool:
        """Whether a voicemail's <Record> asks Twilio to transcribe it: no model of ours serves the
        language, and Twilio only transcribes English."""
        return language.code == "en" and not self.serves(language)
