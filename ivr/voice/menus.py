"""Menus: what is offered, how keys and spoken words pick a choice, and the no-input/invalid rules.

A menu is declared once, as a function of the call context and its parameters that returns the
words to speak and the choices (key, next step, words that pick it by voice). The same function
serves both when the menu is read out and when the caller's answer arrives, so the two can never
disagree; `announced_keys` lets a test check the spoken words name exactly the declared keys.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from .actions import Listen, Say, Step, Turn
from .context import CallContext

MAIN_MENU_KEY = "*"
NO_INPUT_LIMIT = 2  # reprompts after silence before the caller is offered a message
INVALID_LIMIT = 3  # invalid answers in a row before the caller is offered a message
MENU_INPUT = "menu_input"  # the state that takes a menu's answer (see flow.handle_input)

SPOKEN_DIGITS = {
    "zero": "0", "oh": "0", "one": "1", "won": "1", "two": "2", "to": "2", "too": "2", "three": "3",
    "four": "4", "for": "4", "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
}
MAIN_MENU_WORDS = ("main menu", "start over", "go back to the start", "menu")
KEY_NAMES = {"star": "*", "pound": "#", "hash": "#"}


@dataclass(frozen=True)
class Choice:
    key: str
    target: str  # a state name
    params: dict[str, Any] = field(default_factory=dict)
    words: tuple[str, ...] = ()

    @property
    def step(self) -> Step:
        return Step(self.target, dict(self.params))


@dataclass
class Menu:
    prompts: list[str]
    choices: list[Choice]
    # States may pass a preface (e.g. an answer) to be spoken before the menu, inside the listen.
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
    # Letters of any script: a Korean menu's words must survive as well as English ones.
    return " ".join(re.sub(r"[^\w' ]+|_", " ", text.lower()).split())


def announced_keys(text: str) -> set[str]:
    """Keys the spoken words tell the caller to press ("press 1", "press star")."""
    found = re.findall(r"press (\d|star|pound|hash)\b", text.lower())
    return {KEY_NAMES.get(k, k) for k in found}


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


def input_step(name: str, params: dict[str, Any], attempt: int = 0) -> Step:
    return Step(MENU_INPUT, {"menu": name, "attempt": attempt, **params})


def menu_turn(ctx: CallContext, name: str, params: dict[str, Any], *, attempt: int = 0,
              preface: list[str | Say] | None = None) -> Turn:
    """Read a menu and listen for its answer (a key or words interrupt it); silence -> no_input."""
    built = MENUS[name](ctx, **params)
    hints = tuple(sorted({w for c in built.choices for w in c.words}))
    says = [p if isinstance(p, Say) else Say(p) for p in [*(preface or []), *built.interruptible_preface,
                                                          *built.prompts] if p]
    if name != "main":
        says.append(Say(ctx.t("star_for_main_menu")))
    ctx.log("menu", menu=name, attempt=attempt, **{k: str(v) for k, v in params.items()})
    return Turn(Listen(
        prompts=tuple(says),
        on_input=input_step(name, params, attempt),
        on_silence=Step("no_input", {"menu": name, "attempt": attempt, **params}),
        keys=True, speech=True, num_digits=1, timeout_s=6, hints=hints,
    ))
