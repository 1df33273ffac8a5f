"""The call flow's engine: a small state machine that says *what* happens on a call.

Each state is a function `(ctx, **params) -> Turn` (see actions.py for the contract), named in
the one table of states in `ivr/flow/states/__init__.py`, one module per area.
`run_state` runs one and follows its `Goto`s; a transport (the webhook's TwiML, or the Media
Streams session) renders the resulting turn and, when the caller acts, calls `run_state` again for the
step the turn was waiting on, with `ctx.input` set.
"""
from __future__ import annotations

import logging
from typing import Any

from .actions import Goto, Input, Step, Turn, as_int, goto
from .context import CallContext
from .menus import input_step
from .states import STATES

__all__ = ["STATES", "as_int", "goto", "handle_input", "run_state", "start_call"]

log = logging.getLogger(__name__)

MAX_GOTOS = 20  # a longer chain without the caller acting is a loop in the flow


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
    ctx.input = input
    params = dict(params)
    attempt = as_int(params.pop("attempt", 0))
    return run_state(ctx, input_step(menu, params, attempt))


def start_call(ctx: CallContext) -> Turn:
    """The first turn of a call, whichever transport answered it."""
    return run_state(ctx, Step("start"))

