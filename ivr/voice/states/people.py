"""Reaching a person: live transfer in business hours, otherwise a message."""
from __future__ import annotations

from ..actions import Say, Turn
from ..context import CallContext
from ..flow import goto, state


@state("operator")
def operator(ctx: CallContext) -> Turn:
    ctx.log("operator_requested")
    return Turn(Say(ctx.t("operator_unavailable")), goto("message"))
