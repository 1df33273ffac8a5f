"""Reaching a person: a transfer in business hours, otherwise a message or a callback.

Toll-fraud safe by construction: a Transfer's destinations are read from settings here and
nowhere else; the only thing a step's parameters carry is an index into that list, checked
against it. Nothing a caller says or types can add a number to dial.
"""
from __future__ import annotations

import re

from ...calls.events import Event
from ...tickets.callbacks import request_callback
from ...tts.spoken import spell_out_digits, spoken_phone_number, spoken_reference
from ..actions import Hangup, Listen, Say, Step, Transfer, Turn, as_int, goto
from ..context import CallContext
from ..menus import MESSAGE, Menu, listed, menu_turn, option
from .desk import callback_when, desk_now

ANSWERED = {"completed", "answered"}


def can_transfer(ctx: CallContext) -> bool:
    return bool(ctx.settings.transfer_to) and desk_now(ctx).open


def operator(ctx: CallContext) -> Turn:
    ctx.log(Event.OPERATOR_REQUESTED)
    if not can_transfer(ctx):
        desk = desk_now(ctx)
        return menu_turn(ctx, "after_hours", {}, preface=[ctx.t("operator_unavailable"), desk.closed_words])
    return Turn(Say(ctx.t("transfer_hold"), interruptible=False), *transfer_to(ctx, 0))


def transfer_to(ctx: CallContext, index: int) -> tuple[Transfer]:
    """Ring configured destination `index` (sequential), or all of them (simultaneous)."""
    s = ctx.settings
    together = s.transfer_ring == "simultaneous"
    destinations = s.transfer_to if together else (s.transfer_to[index],)
    caller_id = ctx.caller if re.fullmatch(r"\+[1-9]\d{6,14}", ctx.caller or "") else None
    ctx.log(Event.TRANSFER, destinations=list(destinations), index=index)
    return (Transfer(destinations=destinations, on_done=Step("transfer_done", {"i": index}),
                     timeout_s=s.transfer_timeout_seconds, simultaneous=together, caller_id=caller_id),)


def transfer_done(ctx: CallContext, i: int | str = 0) -> Turn:
    """The dialled leg ended: the call is over if someone answered, else the next or a message."""
    status = ctx.input.dial_status or "failed"
    index = as_int(i)
    ctx.log(Event.TRANSFER_RESULT, status=status, index=index)
    if status in ANSWERED or status == "canceled":  # talked to someone, or the caller hung up
        return Turn(Hangup())
    nxt = index + 1
    if ctx.settings.transfer_ring == "sequential" and 0 <= nxt < len(ctx.settings.transfer_to) and desk_now(ctx).open:
        return Turn(Say(ctx.t("transfer_next"), interruptible=False), *transfer_to(ctx, nxt))
    return Turn(Say(ctx.t("transfer_missed")), goto("message", missed=1))


def after_hours_menu(ctx: CallContext) -> Menu:
    # What the flow can do instead of a person: the main menu's callback (the same key) or a message.
    from .main import main_menu

    callback = next(c for c in main_menu(ctx, brief=0).choices if c.target == "callback")
    return Menu(questions=False, read_universal=(MESSAGE,), choices=[callback])


# --------------------------------------------------------------------------- callbacks

def e164(ctx: CallContext, digits: str) -> str | None:
    """A typed number as E.164: 10 digits take the caller's +1 country; otherwise the full number."""
    digits = re.sub(r"\D", "", digits)
    if len(digits) == 10 and ctx.caller.startswith("+1"):
        digits = "1" + digits
    return f"+{digits}" if 8 <= len(digits) <= 15 and digits[0] != "0" else None


def callback(ctx: CallContext) -> Turn:
    ctx.log(Event.CALLBACK_REQUESTED)
    if re.fullmatch(r"\+[1-9]\d{6,14}", ctx.caller or ""):
        return menu_turn(ctx, "callback_number", {})
    return Turn(goto("callback_type"))


def callback_number_menu(ctx: CallContext) -> Menu:
    return Menu(intro=[ctx.t("callback_own_number", last4=spell_out_digits(ctx.caller[-4:]))], private_intro=True,
                questions=False,
                choices=listed(
                    option("callback_confirmed", {}, words=("yes", "confirm", "that's right"),
                           line="choice_callback_confirm"),
                    option("callback_type", {}, words=("different", "another number", "no"),
                           line="choice_callback_other"),
                ))


def callback_type(ctx: CallContext, attempt: int | str = 0, bad: int | str = 0) -> Turn:
    """Ask for the number to call; `bad` says why we ask again (1: not a number, 2: nothing typed)."""
    prompts = (Say(ctx.t("callback_bad_number" if as_int(bad) == 1 else "no_input")),) if as_int(bad) else ()
    prompts += (Say(ctx.t("callback_enter")),)
    return Turn(Listen(prompts=prompts, on_input=Step("callback_typed", {"attempt": as_int(attempt)}),
                       on_silence=Step("callback_typed", {"attempt": as_int(attempt)}),
                       keys=True, speech=False, num_digits=None, finish_on_key="#", timeout_s=10))


def callback_typed(ctx: CallContext, attempt: int | str = 0) -> Turn:
    attempt = as_int(attempt) + 1
    digits = ctx.input.digits.rstrip("#")
    if digits.startswith("*"):
        return Turn(goto("menu", name="main"))
    number = e164(ctx, digits)
    if number is None:
        ctx.log(Event.CALLBACK_BAD_NUMBER, digits=digits, attempt=attempt)
        if attempt >= 3:
            from .main import offer_message

            return offer_message(ctx)
        return Turn(goto("callback_type", attempt=attempt, bad=1 if digits else 2))
    return menu_turn(ctx, "callback_confirm", {"number": number},
                     preface=[Say(ctx.t("callback_read_back", number=spoken_phone_number(number, ctx.caller)),
                                  private=True)])


def callback_confirm_menu(ctx: CallContext, number: str = "") -> Menu:
    return Menu(questions=False, choices=listed(
        option("callback_confirmed", {"number": number}, words=("yes", "confirm", "that's right"),
               line="choice_callback_confirm"),
        option("callback_type", {}, words=("no", "again", "wrong"), line="choice_callback_retype"),
    ))


def callback_confirmed(ctx: CallContext, number: str = "") -> Turn:
    """Store the request as a callback ticket (once per call, however often Twilio retries)."""

    number = number or ctx.caller
    if not re.fullmatch(r"\+[1-9]\d{6,14}", number):
        return Turn(goto("callback_type"))
    ticket = request_callback(ctx.session, ctx.call_sid, ctx.caller, number)
    ctx.log(Event.CALLBACK_TICKET, ticket_id=ticket.id, reference=ticket.reference)
    said = ctx.t("callback_saved", number=spoken_phone_number(number, ctx.caller), when=callback_when(ctx),
                 reference=spoken_reference(ticket.reference or ""))
    return Turn(Say(said, interruptible=False, private=True), goto("goodbye"))

