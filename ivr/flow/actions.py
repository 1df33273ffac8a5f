"""What a call does next, independent of how it reaches the caller.

The contract between the call flow and its transports (TwiML webhooks, Twilio Media Streams):

* A **state** is a function `(ctx, **params) -> Turn` registered by name (see flow.py). It decides
  *what* happens: the words to speak, what to listen for, a message to record, a transfer, the
  end of the call. It never builds TwiML, never reads a Flask request and never touches audio.
* A **Turn** is a sequence of actions. Any number of `Say` come first; the turn ends with exactly
  one *waiting* action: `Listen`, `Record`, `Transfer` or `Hangup` (a `Goto` is resolved by the
  engine before a transport ever sees the turn, so transports receive no `Goto`).
* A **Step** names the state to run next and its parameters. Parameters are small scalars
  (str/int) because the TwiML transport carries them in a URL query; they come back as strings,
  and states parse them. Never put what a caller said into a parameter that chooses anything
  security-relevant (a dial destination, a URL): those come from settings only.
* When the caller acts, the transport builds an `Input` and calls the engine
  (`flow.run_state(ctx, step)` with `ctx.input` set, or `flow.handle_input(...)` for a menu) for the
  `Step` the waiting action named: `Listen.on_input` / `Listen.on_silence`, `Record.on_done` /
  `Record.on_empty`, `Transfer.on_done`. "Silence" is delivered as an empty `Input()`.
* The engine runs a state inside the caller's database transaction; the transport commits and
  only then renders the turn (TTS, TwiML, audio frames), so nothing slow runs in a transaction.

Transport obligations, per action:

* `Say(text, interruptible, private)`: speak the text (our rendered clip, or `<Say>`).
  `interruptible=False` (legal notices, a reference number) must not be cut off by barge-in;
  `private=True` means the text holds caller data (order details, a ticket reference): a rendered
  clip of it must not be cached beyond the day.
* `Listen`: speak `prompts` (interruptible ones may be barged into), then wait `timeout_s` seconds
  after the last prompt ended for keys (when `keys`) and/or speech (when `speech`). Keys end at
  `num_digits` digits or at `finish_on_key`. `hints` are words worth biasing recognition towards
  (TwiML's `<Gather hints>`); `vocabulary` is what a transport's own recogniser expects (below).
  Any input -> `on_input` with `Input(digits=..., speech=..., confidence=...)`; none -> `on_silence`.
* `Record`: after any preceding `Say`, record up to `max_seconds`, ending after `silence_s` of
  silence or a key in `finish_on_key`. `purpose="message"` is a voicemail: it must become a ticket
  exactly once (the TwiML transport asks for Twilio's recording status callback too), marked
  `missed_transfer` when the Record says so, whichever callback makes it.
  `purpose="question"` is a spoken question: a transport that recognises speech itself (Media
  Streams) may deliver the transcript as `Input.speech` instead of a recording, recognising it with
  the Record's `vocabulary`. Something recorded
  -> `on_done` with `Input(recording=Recording(...))` (and `digits` = the key that ended it);
  nothing recorded -> `on_empty`.
* `Transfer`: connect the caller to `destinations` (E.164 numbers or `sip:` URIs, taken from
  settings by the flow and only ever from there), all rung together, for `timeout_s`, showing
  `caller_id` (ringing in order is the flow's job: one Transfer per destination). When the
  dialled leg ends -> `on_done` with
  `Input(dial_status=...)` using Twilio's DialCallStatus words (completed, answered, busy,
  no-answer, failed, canceled). The Media Streams transport hands the call to TwiML for this.
* `Hangup`: end the call.

The recognition vocabulary (`Vocabulary`, on `Listen` and `Record`) is computed once, by the flow
(a menu's words, the knowledge base's words for a question); a transport that recognises speech
itself uses only what the action carries and never reads the knowledge base or the menus again.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

ParamValue = str | int


@dataclass(frozen=True)
class Step:
    """Which state runs next, with what parameters."""

    state: str
    params: Mapping[str, ParamValue] = field(default_factory=dict)

    def with_params(self, **params: ParamValue | None) -> Step:
        merged = {**self.params, **{k: v for k, v in params.items() if v is not None}}
        return Step(self.state, merged)


@dataclass(frozen=True)
class Say:
    """Speak `text`. See the module docstring for `interruptible` and `private`."""

    text: str
    interruptible: bool = True
    private: bool = False


@dataclass(frozen=True)
class Vocabulary:
    """What a recogniser should expect of an answer.

    `closed`: the answer is one of `phrases` (a menu's words): a recogniser may restrict itself to
    them. Otherwise the answer is free-form and `phrases` are words worth biasing it towards.
    Empty: nothing known, recognise freely.
    """

    phrases: tuple[str, ...] = ()
    closed: bool = False


@dataclass(frozen=True)
class Listen:
    """Speak `prompts`, then wait for keys and/or speech."""

    prompts: tuple[Say, ...]
    on_input: Step
    on_silence: Step
    keys: bool = True
    speech: bool = True
    num_digits: int | None = 1
    finish_on_key: str | None = None
    timeout_s: int = 6
    hints: tuple[str, ...] = ()
    vocabulary: Vocabulary = Vocabulary()


@dataclass(frozen=True)
class Record:
    """Record the caller: a message for staff, or a spoken question."""

    purpose: Literal["message", "question"]
    on_done: Step
    on_empty: Step
    max_seconds: int
    silence_s: int = 5
    beep: bool = True
    finish_on_key: str = "#"
    # A message left because nobody answered a transfer: whoever makes the ticket marks it so.
    missed_transfer: bool = False
    # A spoken question's words worth biasing recognition towards (the knowledge base's).
    vocabulary: Vocabulary = Vocabulary()


@dataclass(frozen=True)
class Transfer:
    """Connect the caller to a person at configured destinations only."""

    destinations: tuple[str, ...]
    on_done: Step
    timeout_s: int = 20
    simultaneous: bool = False
    caller_id: str | None = None


@dataclass(frozen=True)
class Goto:
    """Continue at another state in the same turn (resolved by the engine, not by transports)."""

    step: Step


@dataclass(frozen=True)
class Hangup:
    """End the call."""


Action = Say | Listen | Record | Transfer | Goto | Hangup
WAITING = (Listen, Record, Transfer, Hangup)


class Turn(tuple):
    """An immutable sequence of actions; `Turn(a, b)` or `Turn.of([a, b])`."""

    def __new__(cls, *actions: Action) -> Turn:
        return super().__new__(cls, actions)

    @classmethod
    def of(cls, actions: list[Action] | tuple[Action, ...]) -> Turn:
        return cls(*actions)

    def __add__(self, other: tuple[Action, ...]) -> Turn:  # type: ignore[override]
        return Turn(*self, *other)

    def __radd__(self, other: tuple[Action, ...]) -> Turn:
        return Turn(*other, *self)

    @property
    def last(self) -> Action | None:
        return self[-1] if self else None

    def says(self) -> list[str]:
        """Every sentence this turn speaks (including a Listen's prompts), in order."""
        out: list[str] = []
        for action in self:
            if isinstance(action, Say):
                out.append(action.text)
            elif isinstance(action, Listen):
                out.extend(p.text for p in action.prompts)
        return out


@dataclass(frozen=True)
class Recording:
    """A finished recording: Twilio's (sid + url) or one a transport stored itself (path)."""

    sid: str
    url: str = ""
    duration_s: int = 0
    path: str | None = None


@dataclass(frozen=True)
class Input:
    """What the caller did in answer to a waiting action; all empty means silence."""

    digits: str = ""
    speech: str = ""
    confidence: float | None = None
    recording: Recording | None = None
    dial_status: str | None = None

    @property
    def empty(self) -> bool:
        return not (self.digits or self.speech or self.recording or self.dial_status)


def goto(state_name: str, /, **params: Any) -> Goto:
    """Continue at another state within this turn (no round trip to the transport)."""
    return Goto(Step(state_name, {k: v for k, v in params.items() if v is not None}))


def as_int(value: Any, default: int = 0) -> int:
    """A step parameter as a number (parameters come back from the TwiML transport as strings)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return default
