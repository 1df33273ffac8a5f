"""Leaving a message (it becomes a ticket exactly once) and ending the call."""
from __future__ import annotations

from ...tickets.service import RecordingCallback
from ...tts.spoken import spoken_reference
from ..actions import Hangup, Record, Say, Step, Turn
from ..context import CallContext
from ..flow import goto, state, store_voicemail


@state("message")
def message(ctx: CallContext) -> Turn:
    ctx.log("message_prompt")
    return Turn(Say(ctx.t("message_intro")),
                Record(purpose="message", on_done=Step("message_saved"), on_empty=Step("no_message"),
                       max_seconds=ctx.settings.max_message_seconds, silence_s=5, beep=True, finish_on_key="#"))


@state("no_message")
def no_message(ctx: CallContext) -> Turn:
    """Nothing was recorded: never dead air, back to the main menu."""
    return Turn(Say(ctx.t("no_message")), goto("menu", name="main"))


@state("message_saved")
def message_saved(ctx: CallContext) -> Turn:
    recording = ctx.input.recording
    if recording is None or not recording.sid:
        return Turn(goto("no_message"))
    cb = RecordingCallback(ctx.call_sid, ctx.caller, recording.sid, recording.url, recording.duration_s)
    reference, _ = store_voicemail(ctx, cb)
    if reference:
        said = Say(ctx.t("message_saved", reference=spoken_reference(reference)), interruptible=False, private=True)
    else:
        said = Say(ctx.t("message_saved_no_reference"), interruptible=False)
    return Turn(said, goto("goodbye"))


@state("goodbye")
def goodbye(ctx: CallContext) -> Turn:
    return Turn(Say(ctx.t("goodbye")), Hangup())
