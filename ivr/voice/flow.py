"""The call flow's engine: a small state machine that says *what* happens on a call.

Each state is a function `(ctx, **params) -> Turn` (see actions.py for the contract) registered
with `@state(name)`; the states themselves live in `ivr/voice/states/`, one module per area.
`run_state` runs one and follows its `Goto`s; a transport (twiml.py, or the Media Streams
handler) renders the resulting turn and, when the caller acts, calls `run_state` again for the
step the turn was waiting on, with `ctx.input` set.
"""
from __future__ import annotations

import logging
from typing import Any, Callable

from sqlalchemy.exc import SQLAlchemyError

from ..tickets.service import RecordingCallback, store_recording
from .actions import Goto, Input, Step, Turn
from .context import CallContext

log = logging.getLogger(__name__)

StateFn = Callable[..., Turn]
STATES: dict[str, StateFn] = {}
MAX_GOTOS = 20  # a longer chain without the caller acting is a loop in the flow


def state(name: str) -> Callable[[StateFn], StateFn]:
    def register(func: StateFn) -> StateFn:
        STATES[name] = func
        return func

    return register


def goto(state_name: str, /, **params: Any) -> Goto:
    """Continue at another state within this turn (no round trip to the transport)."""
    return Goto(Step(state_name, {k: v for k, v in params.items() if v is not None}))


def as_int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def run_state(ctx: CallContext, step: Step) -> Turn:
    """Run `step` and every state it continues to, until the turn waits on the caller.

    An unknown state (a stale or hand-made URL) sends the caller to the main menu. A `Goto` starts
    the next state with no input: input belongs to the state the caller answered.
    """
    actions: list = []
    for _ in range(MAX_GOTOS):
        func = STATES.get(step.state)
        if func is None:
            log.warning("unknown state %r requested; sending the caller to the main menu", step.state)
            step, func = Step("menu", {"name": "main"}), STATES["menu"]
        turn = func(ctx, **dict(step.params))
        jump = next((i for i, a in enumerate(turn) if isinstance(a, Goto)), None)
        if jump is None:
            actions.extend(turn)
            return Turn.of(actions)
        actions.extend(turn[:jump])
        step = turn[jump].step
        ctx.input = Input()
    raise RuntimeError(f"call flow loops: more than {MAX_GOTOS} states without waiting for the caller")


def handle_input(ctx: CallContext, menu: str, params: dict[str, Any], input: Input) -> Turn:
    """The caller's answer to menu `menu` (read with `params`)."""
    from .menus import input_step

    ctx.input = input
    params = dict(params)
    attempt = as_int(params.pop("attempt", 0))
    return run_state(ctx, input_step(menu, params, attempt))


def start_call(ctx: CallContext) -> Turn:
    """The first turn of a call, whichever transport answered it."""
    return run_state(ctx, Step("start"))


def store_voicemail(ctx: CallContext, cb: RecordingCallback, *,
                    missed_transfer: bool = False) -> tuple[str | None, bool]:
    """Make the ticket for a recorded message. Returns (reference, stored).

    The callback is written ahead to the durable spool first, so if the database refuses (or the
    process dies) it still becomes a ticket, with its original time, when the worker replays it.
    `missed_transfer` marks a message left because nobody answered a transfer.
    """
    ticket = store_recording(ctx.app, ctx.session, cb)
    if ticket is None:
        return None, False
    if missed_transfer and not ticket.missed_transfer:
        try:
            ticket.missed_transfer = True
            ctx.session.commit()
            ctx.log("missed_transfer", ticket_id=ticket.id)
        except SQLAlchemyError:  # the message is safe; only the flag waits for the other callback
            ctx.session.rollback()
            log.warning("could not mark ticket %s as a missed transfer", ticket.id, exc_info=True)
    return ticket.reference, True


from . import states  # noqa: E402,F401 - registers every state and menu
