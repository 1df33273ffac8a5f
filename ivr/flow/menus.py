"""Menus: what is offered, how keys and spoken words pick a choice, and the no-input/invalid rules.

A menu is declared once, as a function of the call context and its parameters that returns its
choices: the key, the step it leads to, the words that pick it by voice and the catalogue line
that offers it (filled with the same key). The same declaration is read out and used to match
the caller's answer, so words and keys cannot drift apart.

One key map (`KEYS`): a shared meaning (text me, ask another question, a message, a person,
repeat, the main menu) has one key in every menu, and a menu's own choices (its list: topics,
articles, yes, another answer...) take the list keys 1-5 in the order they are read, most used
first. `shared(...)` and `listed(...)` are the only ways a builder gets a key, and
`all_choices` refuses a menu that breaks the map. A menu's choices are read as one sentence
("Press 1 for yes, 2 for another answer, or 7 for a text.") built from each choice's line.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from ..calls.events import Event
from .actions import Listen, Say, Step, Turn, Vocabulary
from .context import CallContext

# ---- the one key map: meaning -> key. A list key (1-5) means "the Nth thing this menu just read".
PERSON, MESSAGE, REPEAT, MAIN_MENU, ASK_ANOTHER, TEXT_ME = (
    "person", "message", "repeat", "main_menu", "ask_another", "text_me")
KEYS: dict[str, str] = {
    PERSON: "0", MESSAGE: "8", REPEAT: "9", MAIN_MENU: "*", ASK_ANOTHER: "6", TEXT_ME: "7",
}
LIST_KEYS = ("1", "2", "3", "4", "5")
MAX_READ = 5  # choices read per menu or page, shared ones included
# Seconds of our rendered audio before the caller can act (`prompts check` measures them).
MENU_BUDGET_SECONDS = 10.0
MENU_BUDGETS = {"main": 8.0, "feedback": 6.0}  # the main menu repeated; the prompt after an answer
FIRST_TURN_BUDGET_SECONDS = 12.0  # greeting, main menu and the shared keys
UNIVERSAL = (MESSAGE, PERSON, REPEAT)  # every menu answers these keys (star: `wants_main_menu`)

MAIN_MENU_KEY = KEYS[MAIN_MENU]
MESSAGE_KEY = KEYS[MESSAGE]
REPEAT_KEY = KEYS[REPEAT]
PERSON_KEY = KEYS[PERSON]
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
TEXT_ME_WORDS = ("text", "text me", "send it", "text message", "sms")
ASK_ANOTHER_WORDS = ("ask", "different question", "another question", "something else")
# What each shared meaning is heard as and matched by, when a menu offers it.
SHARED_WORDS = {MESSAGE: MESSAGE_WORDS, PERSON: PERSON_WORDS, REPEAT: REPEAT_WORDS, TEXT_ME: TEXT_ME_WORDS,
                ASK_ANOTHER: ASK_ANOTHER_WORDS}
SHARED_LINES = {MESSAGE: "choice_message", PERSON: "choice_person", REPEAT: "choice_repeat",
                TEXT_ME: "choice_text_me", ASK_ANOTHER: "choice_ask_different"}


@dataclass(frozen=True)
class Choice:
    key: str
    target: str  # a state name
    params: dict[str, Any] = field(default_factory=dict)
    words: tuple[str, ...] = ()
    line: str = ""  # catalogue id of the words offering this choice ("{key} for a text"); "" = not read
    values: dict[str, Any] = field(default_factory=dict)  # more placeholders of `line`
    meaning: str = ""  # a shared meaning of KEYS, or "" for the menu's own (list) choice

    @property
    def step(self) -> Step:
        return Step(self.target, dict(self.params))


def shared(meaning: str, target: str, params: dict[str, Any] | None = None, *, words: tuple[str, ...] = (),
           line: str | None = None, **values: Any) -> Choice:
    """A choice with a shared meaning: its key comes from the key map, never from the menu."""
    return Choice(KEYS[meaning], target, dict(params or {}), words or SHARED_WORDS.get(meaning, ()),
                  SHARED_LINES.get(meaning, "") if line is None else line, values, meaning)


def option(target: str, params: dict[str, Any] | None = None, *, words: tuple[str, ...] = (), line: str = "",
           values: dict[str, Any] | None = None) -> Choice:
    """One of a menu's own choices; `listed` gives it its key."""
    return Choice("", target, dict(params or {}), words, line, dict(values or {}))


def listed(*options: Choice) -> list[Choice]:
    """A menu's own choices, keyed 1, 2, 3... in the order given (the order they are read)."""
    if len(options) > len(LIST_KEYS):
        raise ValueError(f"a menu lists at most {len(LIST_KEYS)} choices of its own")
    return [replace(c, key=key) for key, c in zip(LIST_KEYS, options)]


@dataclass
class Menu:
    choices: list[Choice]
    intro: list[str] = field(default_factory=list)  # said before the choices
    private_intro: bool = False  # the intro holds the caller's data (their number): never a shared clip
    repeat: Step | None = None  # what the repeat key replays (default: this menu)
    message: Step | None = None  # where the message key leads (default: the message state)
    on_silence: Step | None = None  # default: say "I didn't hear anything" and read it again
    questions: bool = True  # words that match no choice are tried as a question
    read_universal: tuple[str, ...] = ()  # universal meanings read after the menu's own choices
    lead: str = "menu_press"  # the catalogue line the choices are read in: "Press {choices}."
    one_line: bool = True  # read the choices as one sentence (False: a short sentence each)

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
        shared(MESSAGE, "message"),
        shared(PERSON, "operator"),
        shared(REPEAT, "menu", {"name": name, **params}),
    ]


def spoken_key(key: str) -> str:
    return SPOKEN_KEYS.get(key, key)


def choice_line(ctx: CallContext, choice: Choice) -> str:
    return ctx.t(choice.line, key=spoken_key(choice.key), **choice.values) if choice.line else ""


def key_map_errors(name: str, choices: list[Choice]) -> list[str]:
    """How a menu's choices break the key map (empty: they keep it)."""
    errors = []
    meaning_of = {key: meaning for meaning, key in KEYS.items()}
    seen: dict[str, Choice] = {}
    for c in choices:
        if not c.key:  # words only ("back" at a list of articles): no key, never read
            continue
        if c.key in seen:
            errors.append(f"menu {name!r}: key {c.key} declared twice")
        seen[c.key] = c
        if c.meaning:
            if KEYS.get(c.meaning) != c.key:
                errors.append(f"menu {name!r}: {c.meaning} is key {KEYS.get(c.meaning)}, not {c.key}")
        elif c.key in meaning_of:
            errors.append(f"menu {name!r}: key {c.key} means {meaning_of[c.key]} in every menu, "
                          f"not {c.target}")
        elif c.key not in LIST_KEYS:
            errors.append(f"menu {name!r}: key {c.key!r} is neither shared nor a list key")
    return errors


def all_choices(name: str, built: Menu, params: dict[str, Any]) -> list[Choice]:
    """The menu's own choices, then the universal ones (a menu can't take a universal key)."""
    universal = universal_choices(name, params)
    overrides = {REPEAT_KEY: built.repeat, MESSAGE_KEY: built.message}
    universal = [replace(c, target=overrides[c.key].state, params=dict(overrides[c.key].params))
                 if overrides.get(c.key) is not None else c for c in universal]
    # A menu may declare a universal meaning itself (its own words: "yes" for a message); its declaration wins.
    declared = {c.meaning for c in built.choices}
    choices = [*built.choices, *(c for c in universal if c.meaning not in declared)]
    errors = key_map_errors(name, choices)
    if errors:
        raise ValueError("; ".join(errors))
    return choices


def read_choices(name: str, built: Menu) -> list[Choice]:
    """The choices a menu reads out, in order: its own (with a line), then the universal ones it names."""
    own = [c for c in built.choices if c.line]
    extra = [c for c in universal_choices(name, {}) if c.meaning in built.read_universal]
    return [*own, *extra]


def shared_keys_line(ctx: CallContext) -> str:
    """The keys every menu shares, said once, early in the call (after the first main menu)."""
    text = ctx.t("shared_keys", main=spoken_key(MAIN_MENU_KEY))
    return text[:1].upper() + text[1:]


def joined(ctx: CallContext, items: list[str]) -> str:
    if len(items) == 1:
        return items[0]
    return ctx.t("choices_or", items=", ".join(items[:-1]), last=items[-1])


def menu_choice_lines(ctx: CallContext, name: str, built: Menu) -> list[str]:
    """The sentence(s) reading a menu's choices: "Press 1 for yes, 2 for another answer, or 7 for a text."."""
    items = [choice_line(ctx, c) for c in read_choices(name, built)]
    items = [i for i in items if i]
    if not items:
        return []
    if built.one_line:
        return [ctx.t(built.lead, choices=joined(ctx, items))]
    # One short sentence per choice, so each can be rendered ahead (choices naming articles).
    return [ctx.t(built.lead, choices=items[0]),
            *(ctx.t("choices_next" if i < len(items) - 1 else "choices_last", choice=item)
              for i, item in enumerate(items[1:], 1))]


# "press 4 to leave a message", "press star for the main menu", "pressing 0": the key, and what it's said to do.
PRESS_RE = re.compile(r"\bpress(?:ing)?\s+(\d|star|pound|hash)\b"
                      r"(?:\s*,?\s*(?:[\w']+\s+){0,4}?(?:to|for)\s+([^.,;:!?]*))?", re.I)
SHARED_DOES = {PERSON: "speaks with a person", MESSAGE: "leaves a message", REPEAT: "repeats",
               MAIN_MENU: "goes to the main menu", ASK_ANOTHER: "asks another question", TEXT_ME: "sends a text"}


def key_descriptions() -> dict[str, tuple[str, tuple[str, ...]]]:
    """What each key does wherever a knowledge-base answer may send the caller: the shared keys, and the main
    menu's list (answers say "from the main menu, press 3"). key -> (what it does, words that name it)."""
    from .states.main import MAIN_MENU_DOES, main_choices

    described = {key: (SHARED_DOES[meaning], SHARED_WORDS.get(meaning, MAIN_MENU_WORDS))
                 for meaning, key in KEYS.items()}
    for choice in main_choices():
        described[choice.key] = (f"{MAIN_MENU_DOES[choice.target]} in the main menu", choice.words)
    return described


def key_mention_problems(text: str) -> list[str]:
    """Each "press N" in `text` that sends the caller to a key not doing what the sentence says."""
    described = key_descriptions()
    problems = []
    for match in PRESS_RE.finditer(text):
        key = KEY_NAMES.get(match.group(1).lower(), match.group(1))
        purpose = normalise_speech(match.group(2) or "")
        if key not in described:
            problems.append(f'says "{match.group(0).strip()}" but {spoken_key(key)} does nothing in our menus')
            continue
        does, words = described[key]
        if purpose and not any(f" {w} " in f" {purpose} " for w in words):
            right = [k for k, (_, w) in described.items() if any(f" {x} " in f" {purpose} " for x in w)]
            hint = f" (that's {spoken_key(right[0])})" if right else ""
            problems.append(f'says "{match.group(0).strip()}" but {spoken_key(key)} {does}{hint}')
    return problems


def normalise_speech(text: str) -> str:
    # Letters of any script: a Korean menu's words must survive as well as English ones.
    return " ".join(re.sub(r"[^\w' ]+|_", " ", text.lower()).split())


def announced_keys(text: str) -> set[str]:
    """Keys the spoken words tell the caller to press ("press 1", "press star")."""
    found = re.findall(r"(?:press|,|\bor|^|\.) ?(\d|star|pound|hash) (?:for|to)\b|press (\d|star|pound|hash)\b",
                       text.lower())
    return {KEY_NAMES.get(k, k) for pair in found for k in pair if k}


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
    """The words that offer a menu: its intro, then its choices read in one sentence."""
    lines = [*built.intro, *menu_choice_lines(ctx, name, built)]
    return [line for line in lines if line]


def choice_vocabulary(hints: tuple[str, ...]) -> Vocabulary:
    """What a recogniser may restrict an answer to: the words offered, and those for the main menu
    (said anywhere). Nothing offered: recognise freely."""
    return Vocabulary((*hints, *MAIN_MENU_WORDS), closed=True) if hints else Vocabulary()


def menu_turn(ctx: CallContext, name: str, params: dict[str, Any], *, attempt: int = 0,
              preface: list[str | Say] | None = None, coda: list[str] | None = None) -> Turn:
    """Read a menu and listen for its answer (a key or words interrupt it); silence -> no_input."""
    built = menu_builder(name)(ctx, **params)
    choices = all_choices(name, built, params)
    hints = tuple(sorted({w for c in choices for w in c.words}))
    spoken = [*(preface or []), *menu_says(ctx, name, built), *(coda or [])]
    private = set(built.intro) if built.private_intro else set()
    says = [p if isinstance(p, Say) else Say(p, private=p in private) for p in spoken if p]
    ctx.log(Event.MENU, menu=name, attempt=attempt, **{k: str(v) for k, v in params.items()})
    return Turn(Listen(
        prompts=tuple(says),
        on_input=input_step(name, params, attempt),
        on_silence=built.on_silence or Step("no_input", {"menu": name, "attempt": attempt, **params}),
        keys=True, speech=True, num_digits=1, timeout_s=6, hints=hints, vocabulary=choice_vocabulary(hints),
    ))
