"""How words reach the caller. The call flow only says *what* to speak; a Speaker decides *how*.

The default speaks through Twilio's `<Say>`; the TTS package installs a Speaker that plays our
own rendered audio (and falls back to `<Say>` itself when a clip is missing).
"""
from __future__ import annotations

from typing import Protocol

from twilio.twiml.voice_response import Gather, VoiceResponse

Container = VoiceResponse | Gather


class Speaker(Protocol):
    def speak(self, container: Container, text: str, *, private: bool = False) -> None:
        """Append verbs that speak `text` to `container`.

        `private` text holds caller data (an order's details, a ticket reference): a speaker that
        keeps audio must not keep it beyond the day.
        """


class SaySpeaker:
    """Speak through Twilio's `<Say>` with a configured voice and language."""

    def __init__(self, voice: str, language: str):
        self.voice = voice
        self.language = language

    def speak(self, container: Container, text: str, *, private: bool = False) -> None:
        container.say(text, voice=self.voice, language=self.language)
