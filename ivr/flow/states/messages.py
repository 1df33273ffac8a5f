"""Leaving a message (it becomes a ticket exactly once), rating the call, and ending it."""
from __future__ import annotations

from sqlalchemy import select

from ...calls.events import Event
from ...calls.models import Call
from ...kb.models import QuestionAsked
from ...tickets.service import RecordingCallback, store_voicemail
from ...tts.spoken import spoken_reference
from ..actions import Hangup, Listen, Record, Say, Step, Turn, as_int, goto
from ..context import CallContext
from ..menus import TEXT_ME, Menu, menu_turn, shared


def message(ctx: CallContext, missed: int | str = 0) -> Turn:
    ctx.log(Event.MESSAGE_PROMPT)
    done = Step("message_saved", {"missed": 1} if as_int(missed) else {})
    return Turn(Say(ctx.t("message_intro")),
                Record(purpose="message", on_done=done, on_empty=Step("no_message"),
                       max_seconds=ctx.settings.max_message_seconds, silence_s=5, beep=True, finish_on_key="#",
                       missed_transfer=bool(as_int(missed))))


def no_message(ctx: CallContext) -> Turn:
    """Nothing was recorded: never dead air, back to the main menu."""
    return Turn(Say(ctx.t("no_message")), goto("menu", name="main"))


def message_saved(ctx: CallContext, missed: int | str = 0) -> Turn:
    recording = ctx.input.recording
    if recording is None or not recording.sid:
        return Turn(goto("no_message"))
    cb = RecordingCallback(ctx.call_sid, ctx.caller, recording.sid, recording.url, recording.duration_s)
    # The caller asked for a person and nobody answered: staff see it on the ticket.
    reference, _ = store_voicemail(ctx.app, ctx.session, cb, missed_transfer=bool(as_int(missed)), note=ctx.log)
    if reference:
        said = Say(ctx.t("message_saved", reference=spoken_reference(reference)), interruptible=False, private=True)
        if ctx.settings.sms_enabled:
            return menu_turn(ctx, "after_reference", {"ref": reference}, preface=[said])
    else:
        said = Say(ctx.t("message_saved_no_reference"), interruptible=False)
    return Turn(said, goto("goodbye"))


def after_reference_menu(ctx: CallContext, ref: str = "") -> Menu:
    """After the reference is read out: one key texts it to the caller; silence says goodbye."""
    return Menu(choices=[shared(TEXT_ME, "text_me", {"what": "ticket", "about": ref, "back": "after_reference",
                                                     "ref": ref})],
                on_silence=Step("goodbye"), questions=False)


def may_rate(ctx: CallContext) -> bool:
    """Ratings are on, a question was answered on this call, and it isn't rated yet."""
    if not ctx.settings.ratings_enabled:
        return False
    call = ctx.session.get(Call, ctx.call_sid)
    if call is None or call.rating is not None:
        return False
    return ctx.session.scalars(select(QuestionAsked.id).where(
        QuestionAsked.call_sid == ctx.call_sid, QuestionAsked.outcome == "answered").limit(1)).first() is not None


def goodbye(ctx: CallContext, rated: int | str = 0) -> Turn:
    if not as_int(rated) and may_rate(ctx):
        # One short, skippable question: silence or any other key just says goodbye.
        return Turn(Listen(prompts=(Say(ctx.t("rate_call")),), on_input=Step("rating"),
                           on_silence=Step("goodbye", {"rated": 1}), keys=True, speech=False,
                           num_digits=1, timeout_s=5))
    return Turn(Say(ctx.t("goodbye")), Hangup())


def rating(ctx: CallContext) -> Turn:
    digits = ctx.input.digits.strip()
    call = ctx.session.get(Call, ctx.call_sid)
    if digits in {"1", "2", "3", "4", "5"} and call is not None and call.rating is None:
        call.rating = int(digits)
        ctx.log(Event.RATING, rating=call.rating)
        return Turn(Say(ctx.t("rating_thanks")), goto("goodbye", rated=1))
    return Turn(goto("goodbye", rated=1))
