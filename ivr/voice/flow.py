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

from ..calls.log import ensure_call
from ..tickets.service import RecordingCallback, create_ticket, replay_spool, spool_callback
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


def store_voicemail(ctx: CallContext, cb: RecordingCallback) -> tuple[str | None, bool]:
    """Make the ticket for a recorded message. Returns (reference, stored).

    If the database refuses, the callback goes to the on-disk spool and becomes a ticket later:
    a voicemail is never lost.
    """
    if not cb.caller and cb.call_sid:
        call = ensure_call(ctx.session, cb.call_sid)
        cb = RecordingCallback(cb.call_sid, call.from_number, cb.recording_sid, cb.recording_url, cb.duration)
    try:
        ticket, _created = create_ticket(ctx.session, cb)
        reference = ticket.reference
    except Exception:  # noqa: BLE001 - the voicemail must not be lost
        ctx.app.logger.exception("could not store recording %s; spooling it", cb.recording_sid)
        ctx.session.rollback()
        spool_callback(ctx.settings.instance_path, cb)
        return None, False
    try:
        replay_spool(ctx.settings.instance_path, ctx.app.extensions["ivr.sessionmaker"])
    except Exception:  # noqa: BLE001
        ctx.app.logger.exception("spool replay failed")
    worker = ctx.app.extensions.get("ivr.worker")
    if worker is not None:
        worker.wake()
    return reference, True


from . import states  # noqa: E402,F401 - registers every state and menu
