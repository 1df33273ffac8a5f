"""The shared call flow, run for one streamed call: each step in a transaction of its own,
committed before anything is played (nothing slow runs in a transaction)."""
from __future__ import annotations

import logging
from typing import Any

from flask import Flask

from ..calls.events import Event
from ..calls.log import log_event, record_handoff
from ..flow.actions import Input, Step, Turn
from ..flow.context import CallContext
from ..flow.engine import run_state, start_call
from ..services import services

log = logging.getLogger(__name__)


class FlowRunner:
    def __init__(self, app: Flask, call_sid: str, caller: str, to: str):
        self.app, self.call_sid, self.caller, self.to = app, call_sid, caller, to

    def run(self, step: Step | None, given: Input | None = None) -> Turn:
        """The turn `step` leads to (the call's first turn for None), committed."""
        session = services(self.app).sessionmaker()
        ctx = CallContext(app=self.app, session=session, call_sid=self.call_sid, caller=self.caller, to=self.to)
        try:
            if step is None:
                turn = start_call(ctx)
            else:
                ctx.input = given or Input()
                turn = run_state(ctx, step)
            if not ctx.commit():  # the call log went to the spool; the caller still hears the turn
                log.warning("database busy: call %s goes on, its log kept in the spool", self.call_sid)
            return turn
        except Exception:
            session.rollback()
            ctx.journal()
            raise
        finally:
            session.close()

    def hand_off(self, twiml: str, **detail: Any) -> None:
        """Keep the TwiML the call continues with (for the `<Connect>` action), in a transaction of its own."""
        session = services(self.app).sessionmaker()
        try:
            record_handoff(session, self.call_sid, twiml, **detail)
            session.commit()
        finally:
            session.close()

    def note(self, kind: Event, **detail: Any) -> None:
        """An event in the call's log, in a transaction of its own."""
        session = services(self.app).sessionmaker()
        try:
            log_event(session, self.call_sid, kind, **detail)
            session.commit()
        finally:
            session.close()
