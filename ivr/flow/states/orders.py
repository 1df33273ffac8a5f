"""Checking an order: its number by keypad or voice, read back, the caller proven, then its status.

    order -> order_number -> (menu order_confirm) -> order_lookup -> details (menu after_order)
                                                               \\-> order_postcode -> details
An order with a phone number or postcode is read only to a caller calling from that phone or
typing that postcode (ivr/orders/verify.py). Unknown or malformed numbers, wrong postcodes and
protected orders this phone can't prove count as failed attempts for the whole call; the third
stops order look-ups for the call and offers the caller a message instead.

The count and the orders proven are written as the state decides, in the turn's transaction, and
fail closed: a failure that can't be counted locks the call's look-ups, an order whose proof
can't be kept is not read.
"""
from __future__ import annotations

import logging

from ...calls.events import Event
from ...orders.lookup import KNOWN_STATUSES, is_order_number
from ...orders.source import OrderRecord, OrderSourceError, lookup_order
from ...orders.verify import (
    MAX_FAILURES,
    caller_may_hear,
    count_failure,
    digits_from_speech,
    failed_attempts,
    mark_verified,
    order_verified,
    postcode_can_prove,
    postcodes_match,
)
from ...spool import TRANSIENT
from ...tts.spoken import spell_out_digits
from ..actions import Listen, Say, Step, Turn, as_int, goto
from ..context import CallContext
from ..menus import (
    MESSAGE,
    NO_INPUT_LIMIT,
    TEXT_ME,
    Menu,
    choice_vocabulary,
    listed,
    menu_turn,
    option,
    shared,
    wants_main_menu,
)

log = logging.getLogger(__name__)


def _listen_for_digits(ctx: CallContext, prompts: list[str], on_input: Step, on_silence: Step,
                       *, hints: tuple[str, ...] = ()) -> Turn:
    """Keys up to # or words; long enough to say or key a 10-digit number."""
    hints = hints or ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "oh", "double")
    return Turn(Listen(prompts=tuple(Say(p) for p in prompts if p), on_input=on_input, on_silence=on_silence,
                       keys=True, speech=True, num_digits=None, finish_on_key="#", timeout_s=8,
                       hints=hints, vocabulary=choice_vocabulary(hints)))


def _locked(ctx: CallContext) -> bool:
    return failed_attempts(ctx.session, ctx.call_sid) >= MAX_FAILURES


def _verified(ctx: CallContext, number: str) -> bool:
    """Whether this call already proved it may hear `number` (earlier, or in this very turn)."""
    return order_verified(ctx.session, ctx.call_sid, number)


def _count_failure(ctx: CallContext, why: str, **detail: str) -> bool:
    """Count a failed attempt in this turn's transaction; True when the call is now locked out.

    Fails closed: a failure that can't be counted (the database busy or down) locks the call.
    """
    ctx.log(Event.ORDER_CHECK_FAILED, reason=why, **detail)  # the history staff see
    try:
        return count_failure(ctx.session, ctx.call_sid, ctx.caller, ctx.to) >= MAX_FAILURES
    except TRANSIENT:
        ctx.session.rollback()
        ctx.journal()  # the spool's replay counts it (ivr/calls/journal.py) once the database is back
        log.warning("call %s: could not count a failed order check; order look-ups locked", ctx.call_sid,
                    exc_info=True)
        return True


def _fail(ctx: CallContext, why: str, *preface: str, retry: Step) -> Turn:
    """Count a failed attempt; the third one locks order look-ups for this call and offers a message."""
    if _count_failure(ctx, why):
        ctx.log(Event.ORDER_LOCKED)
        return menu_turn(ctx, "order_locked", {}, preface=[*preface, ctx.t("order_locked")])
    return Turn(*(Say(p) for p in preface if p), goto(retry.state, **dict(retry.params)))


def order(ctx: CallContext, attempt: int | str = 0, again: int | str = 0) -> Turn:
    if _locked(ctx):
        return menu_turn(ctx, "order_locked", {}, preface=[ctx.t("order_locked")])
    attempt = as_int(attempt)
    return _listen_for_digits(ctx, [ctx.t("order_ask")], Step("order_number", {"attempt": attempt}),
                              Step("order_missed", {"attempt": attempt}))


def order_missed(ctx: CallContext, attempt: int | str = 0) -> Turn:
    attempt = as_int(attempt) + 1
    ctx.log(Event.NO_INPUT, menu="order", attempt=attempt)
    if attempt > NO_INPUT_LIMIT:
        from .main import offer_message

        return offer_message(ctx)
    return _listen_for_digits(ctx, [ctx.t("no_input"), ctx.t("order_ask")], Step("order_number", {"attempt": attempt}),
                              Step("order_missed", {"attempt": attempt}))


def order_number(ctx: CallContext, attempt: int | str = 0) -> Turn:
    """What the caller keyed or said: digits, read back for confirmation."""
    keyed = ctx.input.digits.strip().rstrip("#")
    said = ctx.input.speech.strip()
    if keyed.startswith("*") or (said and wants_main_menu("", said)):
        return Turn(goto("menu", name="main"))
    if not keyed and not said:
        return Turn(goto("order_missed", attempt=attempt))
    number = keyed or digits_from_speech(said)
    ctx.log(Event.DIGITS if keyed else Event.SPEECH, menu="order", digits=number, text=said or None)
    if not number:
        return _listen_for_digits(ctx, [ctx.t("order_not_digits"), ctx.t("order_ask")],
                                  Step("order_number", {"attempt": attempt}),
                                  Step("order_missed", {"attempt": attempt}))
    if not is_order_number(number):
        return _fail(ctx, "malformed", ctx.t("order_malformed"), retry=Step("order", {"attempt": attempt}))
    return menu_turn(ctx, "order_confirm", {"number": number},
                     preface=[ctx.t("order_heard", number=spell_out_digits(number))])


def order_confirm_menu(ctx: CallContext, number: str = "") -> Menu:
    return Menu(questions=False, choices=listed(
        option("order_lookup", {"number": number}, line="choice_order_yes",
               words=("yes", "yeah", "yep", "correct", "that's right", "right")),
        option("order", {"again": 1}, line="choice_order_reenter", words=("no", "nope", "wrong", "not right")),
    ))


def _details(ctx: CallContext, found: OrderRecord) -> Turn:
    """Read the order: only ever called once the caller may hear it, and only once that is kept."""
    try:
        mark_verified(ctx.session, ctx.call_sid, found.number, ctx.caller, ctx.to)
    except TRANSIENT:  # fail closed: what can't be remembered as proven is not read
        ctx.session.rollback()
        log.warning("call %s: could not keep order %s as verified; not read", ctx.call_sid, found.number,
                    exc_info=True)
        return menu_turn(ctx, "order_failed", {}, preface=[ctx.t("order_unavailable")])
    ctx.log(Event.ORDER_VERIFIED, number=found.number)
    ctx.log(Event.ORDER, number=found.number, status=found.status)
    status_id = f"order_status_{found.status}"
    status = (ctx.t(status_id) if found.status in KNOWN_STATUSES
              else ctx.t("order_status_unknown", status=found.status.replace("_", " ")))
    sentence = ctx.t("order_status", number=spell_out_digits(found.number), status=status)
    return menu_turn(ctx, "after_order", {"number": found.number},
                     preface=[Say(sentence, private=True), Say(found.detail, private=True)])


def _find(ctx: CallContext, number: str) -> OrderRecord | None | Turn:
    try:
        return lookup_order(ctx.app, ctx.session, number)
    except OrderSourceError as exc:
        ctx.log(Event.ORDER_SOURCE_ERROR, number=number, error=str(exc))
        return menu_turn(ctx, "order_failed", {}, preface=[ctx.t("order_unavailable")])


def order_lookup(ctx: CallContext, number: str = "") -> Turn:
    if _locked(ctx):
        return menu_turn(ctx, "order_locked", {}, preface=[ctx.t("order_locked")])
    if not is_order_number(number):
        return Turn(goto("order"))
    found = _find(ctx, number)
    if isinstance(found, Turn):
        return found
    if found is None:
        ctx.log(Event.ORDER, number=number, status=None)
        return _fail(ctx, "not_found", ctx.t("order_not_found", number=spell_out_digits(number)),
                     ctx.t("order_try_again"), retry=Step("order", {"again": 1}))
    if caller_may_hear(found, ctx.caller) or _verified(ctx, number):
        return _details(ctx, found)
    if postcode_can_prove(found):
        return _ask_postcode(ctx, number)
    if _count_failure(ctx, "phone_mismatch", number=number):
        return menu_turn(ctx, "order_locked", {}, preface=[ctx.t("order_cannot_verify"), ctx.t("order_locked")])
    return menu_turn(ctx, "order_failed", {}, preface=[ctx.t("order_cannot_verify")])


def _ask_postcode(ctx: CallContext, number: str, *preface: str, attempt: int = 0) -> Turn:
    step = {"number": number, "attempt": attempt}
    return _listen_for_digits(ctx, [*preface, ctx.t("order_postcode_ask")], Step("order_postcode", step),
                              Step("order_postcode", {**step, "silent": 1}))


def order_postcode(ctx: CallContext, number: str = "", attempt: int | str = 0, silent: int | str = 0) -> Turn:
    attempt = as_int(attempt)
    if _locked(ctx):
        return menu_turn(ctx, "order_locked", {}, preface=[ctx.t("order_locked")])
    typed = ctx.input.digits.strip().rstrip("#")
    said = ctx.input.speech.strip()
    if typed.startswith("*"):
        return Turn(goto("menu", name="main"))
    if as_int(silent) or not (typed or said):
        if attempt + 1 > NO_INPUT_LIMIT:
            from .main import offer_message

            return offer_message(ctx)
        return _ask_postcode(ctx, number, ctx.t("no_input"), attempt=attempt + 1)
    found = _find(ctx, number)
    if isinstance(found, Turn):
        return found
    if found is None:
        return Turn(goto("order"))
    candidate = typed or _spoken_postcode(said)
    if postcodes_match(found.postcode, candidate):
        return _details(ctx, found)
    if _count_failure(ctx, "postcode", number=number):
        ctx.log(Event.ORDER_LOCKED)
        return menu_turn(ctx, "order_locked", {}, preface=[ctx.t("order_postcode_wrong"), ctx.t("order_locked")])
    return _ask_postcode(ctx, number, ctx.t("order_postcode_wrong"), attempt=attempt)


def _spoken_postcode(said: str) -> str:
    """'zero four one oh one' -> '04101'; 'S W one A one A A' -> 'SW1A1AA'."""
    digits = digits_from_speech(said)
    if digits:
        return digits
    out = []
    for token in said.upper().replace("-", " ").split():
        spoken = digits_from_speech(token)
        out.append(spoken or (token if token.isalnum() else ""))
    return "".join(out)


def after_order_menu(ctx: CallContext, number: str = "") -> Menu:
    # The repeat key reads the details again (this call has already proven it may hear them).
    texting = [shared(TEXT_ME, "text_me", {"what": "order", "about": number, "back": "after_order", "number": number})
               ] if ctx.settings.sms_enabled else []
    return Menu(questions=False, repeat=Step("order_lookup", {"number": number}), choices=[
        *listed(option("order", {"again": 1}, words=("another order", "another", "different order"),
                       line="choice_another_order")),
        *texting,
    ])


def order_failed_menu(ctx: CallContext) -> Menu:
    return Menu(questions=False, read_universal=(MESSAGE,), choices=listed(
        option("order", {"again": 1}, words=("another order", "try again"), line="choice_another_order"),
    ))


def order_locked_menu(ctx: CallContext) -> Menu:
    """Only the universal keys: the message key (read here), repeat, star."""
    return Menu(questions=False, choices=[], read_universal=(MESSAGE,))
