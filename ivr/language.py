"""The language of a call: decided in one place, asked by everything that speaks, listens or writes.

Today a line has one language (`IVR_LANGUAGE`); `call_language` is the single place that will
choose among several (the number dialled, the caller's choice) without its askers changing.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Language:
    """A BCP 47 tag as Twilio takes it (`en-US`), and the primary subtag our models and voices use."""

    tag: str

    @property
    def code(self) -> str:
        """`en` for `en-US`: the key of Vosk models, prompt catalogues and voices."""
        return self.tag.split("-")[0].lower()

    def __str__(self) -> str:
        return self.tag


def line_language(settings) -> Language:
    """The line's (default) language."""
    return Language(settings.say_language)


def call_language(settings, call_sid: str = "") -> Language:
    """The language of call `call_sid`: every transport and area asks this, never the settings."""
    return line_language(settings)
