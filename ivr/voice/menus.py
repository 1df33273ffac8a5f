"""Menus: what is offered, how keys and spoken words pick a choice, and the no-input/invalid rules.

A menu is declared as a function of the call context and its parameters that returns the
words to speak and the choices. The same function serves both when the menu is read out and
when the caller's answer arrives, so the two can never disagree.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from twilio.twiml.voice_response import VoiceResponse

from .context import CallContext

MAIN_MENU_KEY = "*"
NO_INPUT_LIMIT = 2  # reprompts after silence before the caller is offered a message
INVALID_LIMIT = 3  # invalid answers in a row before the caller is offered a message

SPOKEN_DIGITS = {
    "zero": "0", "oh": "0", "one": "1", "won": "1", "two": "2", "to": "2", "too": "2", "three": "3",
    "four": "4", "for": "4", "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
}
MAIN_MENU_WORDS = ("main menu", "start over", "go back to the start", "menu")


@dataclass(frozen=True)
class Choice:
    key: str
    target: str  # a state name
    params: dict[str, Any] = field(default_factory=dict)
    words: tuple[str, ...] = ()


@dataclass
class Menu:
    prompts: list[str]
    choices: list[Choice]
    # States may pass a preface (e.g. an answer) to be spoken before the menu, inside the Gather.
    interruptible_preface: list[str] = field(default_factory=list)

    def by_key(self, key: str) -> Choice | None:
        return next((c for c in self.choices if c.key == key), None)


MenuBuilder = Callable[..., Menu]
MENUS: dict[str, MenuBuilder] = {}


def menu(name: str) -> Callable[[MenuBuilder], MenuBuilder]:
    def register(builder: MenuBuilder) -> MenuBuilder:
        MENUS[name] = builder
        return builder

    return register


def normalise_speech(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split())


def match_speech(menu_: Menu, speech: str) -> Choice | None:
    """Pick a choice from what the caller said: a choice's words, else a spoken key ("press two")."""
    said = f" {normalise_speech(speech)} "
    if not said.strip():
        return None
    best: tuple[int, Choice] | None = None
    for choice in menu_.choices:
        for word in choice.words:
            if f" {word} " in said and (best is None or len(word) > best[0]):
                best = (len(word), choice)
    if best:
        return best[1]
    tokens = said.split()
    keys = [SPOKEN_DIGITS.get(tok, tok) for tok in tokens]
    if len(tokens) <= 3:
        for key in keys:
            choice = menu_.by_key(key)
            if choice is not None:
                return choice
    return None


def wants_main_menu(digits: str, speech: str) -> bool:
    said = f" {normalise_speech(speech)} "
    return digits == MAIN_MENU_KEY or any(f" {w} " in said for w in MAIN_MENU_WORDS)


def render_menu(ctx: CallContext, name: str, params: dict[str, Any], *, attempt: int = 0,
                preface: list[str] | None = None, response: VoiceResponse | None = None) -> VoiceResponse:
    """Read a menu inside a Gather (so a key interrupts it), then fall through to the no-input path."""
    built = MENUS[name](ctx, **params)
    resp = response or ctx.response()
    hints = sorted({w for c in built.choices for w in c.words})
    gather = resp.gather(
        input="dtmf speech",
        action=ctx.input_url(name, attempt=attempt, **params),
        method="POST",
        num_digits=1,
        timeout=6,
        speech_timeout="auto",
        language=ctx.settings.say_language,
        hints=", ".join(hints)[:1000] or None,
    )
    ctx.speak(gather, *(preface or []), *built.interruptible_preface, *built.prompts)
    if name != "main":
        ctx.speak(gather, ctx.t("star_for_main_menu"))
    resp.redirect(ctx.url("no_input", menu=name, attempt=attempt, **params), method="POST")
    ctx.log("menu", menu=name, attempt=attempt, **{k: str(v) for k, v in params.items()})
    return resp
