"""Menus: what is offered, how keys and spoken words pick a choice, and the no-input/invalid rules.

A menu is declared once, as a function of the call context and its parameters that returns its
choices: the key, the step it leads to, the words that pick it by voice and the catalogue line
that offers it (filled with the same key). The same declaration is read out and used to match
the caller's answer, so words and keys cannot drift apart.

Some keys mean the same thing in every menu (`UNIVERSAL`): leave a message, repeat, a person,
and star for the main menu. Menus never declare those keys for anything else.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..calls.events import Event
from .actions import Listen, Say, Step, Turn, Vocabulary
from .context import CallContext

MAIN_MENU_KEY = "*"
MESSAGE_KEY = "8"
REPEAT_KEY = "9"
PERSON_KEY = "0"
NO_INPUT_LIMIT = 2  # reprompts after silence before the caller is asked about a message
INVALID_LIMIT = 3  # unusable answers in a row before the caller is asked about a message
MENU_INPUT = "menu_input"  # the state that takes a menu's answer (see states/main.py)

SPOKEN_DIGITS = {
    "zero": "0", "oh": "0", "one": "1", "won": "1", "two": "2", "to": "2", "too": "2", "three": "3",
    "four": "4", "for": "4", "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
}
MAIN_MENU_WORDS = ("main menu", "start over", "go back to the start", "menu")
KEY_NAMES = {"star": "*", "pound": "#", "hash": "#"}
SPOKEN_KEYS = {"*": "star", "#": "pound"}
MESSAGE_WORDS = ("message", "voicemail", "leave a message")
PERSON_WORDS = ("operator", "agent", "person", "human", "representative", "someone", "speak to someone",
                "talk to someone", "a real person")
REPEAT_WORDS = ("repeat", "say that again", "again")


@dataclass(frozen=True)
class Choice:
    key: str
    target: str  # a state name
    params: dict[str, Any] = field(default_factory=dict)
    words: tuple[str, ...] = ()
    line: str = ""  # catalogue id of the sentence offering this choice; filled with {key}
    values: dict[str, Any] = field(default_factory=dict)  # more placeholders of `line`

    @property
    def step(self) -> Step:
        return Step(self.target, dict(self.params))


@dataclass
class Menu:
    choices: list[Choice]
    intro: list[str] = field(default_factory=list)  # said before the choices
    repeat: Step | None = None  # what the repeat key replays (default: this menu)
    message: Step | None = None  # where the message key leads (default: the message state)
    on_silence: Step | None = None  # default: say "I didn't hear anything" and read it again
    questions: bool = True  # words that match no choice are tried as a question
    announce_common: bool = True  # end with the universal keys' sentence
    offer_person: bool = True  # the main menu names the person key only when someone can answer
    # Universal keys read as lines of their own (the main menu's way) instead of the common sentence.
    universal_lines: tuple[str, ...] = ()

    def by_key(self, key: str) -> Choice | None:
        return next((c for c in self.choices if c.key == key), None)


MenuBuilder = Callable[..., Menu]


def menu_builder(name: str) -> MenuBuilder:
    """The builder of menu `name`, from the one table of menus (states/__init__.py)."""
    from .states import MENUS  # the states build on this module: look the table up when asked

    return MENUS[name]


def is_menu(name: object) -> bool:
    from .states import MENUS

    return name in MENUS


def universal_choices(name: str, params: dict[str, Any]) -> list[Choice]:
    """The keys every menu answers the same way (star is handled by `wants_main_menu`)."""
    return [
        Choice(MESSAGE_KEY, "message", words=MESSAGE_WORDS, line="choice_message"),
        Choice(PERSON_KEY, "operator", words=PERSON_WORDS, line="choice_person"),
        Choice(REPEAT_KEY, "menu", {"name": name, **params}, words=REPEAT_WORDS, line="choice_repeat"),
    ]


def spoken_key(key: str) -> str:
    return SPOKEN_KEYS.get(key, key)


def choice_line(ctx: CallContext, choice: Choice) -> str:
    return ctx.t(choice.line, key=spoken_key(choice.key), **choice.values) if choice.line else ""


def common_keys_line_text(catalogue) -> str:
    return catalogue.text("common_keys", message=MESSAGE_KEY, repeat=REPEAT_KEY, main=spoken_key(MAIN_MENU_KEY))


def common_keys_line(ctx: CallContext) -> str:
    return common_keys_line_text(ctx.catalogue)


def all_choices(name: str, built: Menu, params: dict[str, Any]) -> list[Choice]:
    """The menu's own choices, then the universal ones (a menu can't take a universal key)."""
    own = {c.key for c in built.choices}
    universal = universal_choices(name, params)
    clash = own & {c.key for c in universal} | ({MAIN_MENU_KEY} & own)
    if clash:
        raise ValueError(f"menu {name!r} declares universal key(s) {sorted(clash)}")
    overrides = {REPEAT_KEY: built.repeat, MESSAGE_KEY: built.message}
    universal = [Choice(c.key, overrides[c.key].state, dict(overrides[c.key].params), c.words, c.line)
                 if overrides.get(c.key) is not None else c for c in universal]
    return [*built.choices, *universal]


def normalise_speech(text: str) -> str:
    # Letters of any script: a Korean menu's words must survive as well as English ones.
    return " ".join(re.sub(r"[^\w' ]+|_", " ", text.lower()).split())


def announced_keys(text: str) -> set[str]:
    """Keys the spoken words tell the caller to press ("press 1", "press star")."""
    found = re.findall(r"press (\d|star|pound|hash)\b", text.lower())
    return {KEY_NAMES.get(k, k) for k in found}


def match_speech(choices: list[Choice], speech: str) -> Choice | None:
    """Pick a choice from what the caller said: a choice's words, else a spoken key ("press two")."""
    said = f" {normalise_speech(speech)} "
    if not said.strip():
        return None
    best: tuple[int, Choice] | None = None
    for choice in choices:
        for word in choice.words:
            if word and f" {word} " in said and (best is None or len(word) > best[0]):
                best = (len(word), choice)
    if best:
        return best[1]
    tokens = said.split()
    if len(tokens) <= 3:
        for key in (SPOKEN_DIGITS.get(tok, tok) for tok in tokens):
            choice = next((c for c in choices if c.key == key), None)
            if choice is not None:
                return choice
    return None


def wants_main_menu(digits: str, speech: str) -> bool:
    said = f" {normalise_speech(speech)} "
    return digits == MAIN_MENU_KEY or any(f" {w} " in said for w in MAIN_MENU_WORDS)


def input_step(name: str, params: dict[str, Any], attempt: int = 0) -> Step:
    return Step(MENU_INPUT, {"menu": name, "attempt": attempt, **params})


def menu_says(ctx: CallContext, name: str, built: Menu) -> list[str]:
    """The words that offer a menu: its intro, a line per choice, and the universal keys."""
    lines = [*built.intro, *(choice_line(ctx, c) for c in built.choices)]
    if built.universal_lines:
        lines += [choice_line(ctx, c) for c in universal_choices(name, {}) if c.key in built.universal_lines
                  and (built.offer_person or c.key != PERSON_KEY)]
    elif built.announce_common:
        lines.append(common_keys_line(ctx))
    return [line for line in lines if line]


def choice_vocabulary(hints: tuple[str, ...]) -> Vocabulary:
    """What a recogniser may restrict an answer to: the words offered, and those for the main menu
    (said anywhere). Nothing offered: recognise freely."""
    return Vocabulary((*hints, *MAIN_MENU_WORDS), closed=True) if hints else Vocabulary()


def menu_turn(ctx: CallContext, name: str, params: dict[str, Any], *, attempt: int = 0,
              preface: list[str | Say] | None = None) -> Turn:
    """Read a menu and listen for its answer (a key or words interrupt it); silence -> no_input."""
    built = menu_builder(name)(ctx, **params)
    choices = all_choices(name, built, params)
    hints = tuple(sorted({w for c in choices for w in c.words}))
    says = [p if isinstance(p, Say) else Say(p) for p in [*(preface or []), *menu_says(ctx, name, built)] if p]
    ctx.log(Event.MENU, menu=name, attempt=attempt, **{k: str(v) for k, v in params.items()})
    return Turn(Listen(
        prompts=tuple(says),
        on_input=input_step(name, params, attempt),
        on_silence=built.on_silence or Step("no_input", {"menu": name, "attempt": attempt, **params}),
        keys=True, speech=True, num_digits=1, timeout_s=6, hints=hints, vocabulary=choice_vocabulary(hints),
    ))
