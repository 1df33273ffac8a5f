"""Checking an order: ask for its number on the keypad, look it up, read its status."""
from __future__ import annotations

from ...orders.lookup import KNOWN_STATUSES, find_order, is_order_number
from ...tts.spoken import spell_out_digits
from ..actions import Listen, Say, Step, Turn
from ..context import CallContext
from ..flow import as_int, goto, state
from ..menus import NO_INPUT_LIMIT, Choice, Menu, menu, menu_turn

ORDER_ATTEMPTS = 2


def ask_for_number(ctx: CallContext, attempt: int, *preface: str) -> Turn:
    prompts = tuple(Say(p) for p in preface if p) + (Say(ctx.t("order_ask")),)
    return Turn(Listen(prompts=prompts, on_input=Step("order_lookup", {"attempt": attempt}),
                       on_silence=Step("order_missed", {"attempt": attempt}),
                       keys=True, speech=False, num_digits=None, finish_on_key="#", timeout_s=8))


@state("order")
def order(ctx: CallContext, attempt: int | str = 0) -> Turn:
    return ask_for_number(ctx, as_int(attempt))


@state("order_missed")
def order_missed(ctx: CallContext, attempt: int | str = 0) -> Turn:
    attempt = as_int(attempt) + 1
    ctx.log("no_input", menu="order", attempt=attempt)
    if attempt > NO_INPUT_LIMIT:
        from .main import offer_message

        return offer_message(ctx)
    return ask_for_number(ctx, attempt, ctx.t("no_input"))


@state("order_lookup")
def order_lookup(ctx: CallContext, attempt: int | str = 0) -> Turn:
    digits = ctx.input.digits.strip().rstrip("#")
    attempt = as_int(attempt)
    if digits.startswith("*"):
        return Turn(goto("menu", name="main"))
    if not digits:
        return Turn(goto("order_missed", attempt=attempt))
    ctx.log("digits", menu="order", digits=digits)
    if not is_order_number(digits):
        failure = ctx.t("order_malformed")
    else:
        found = find_order(ctx.session, digits)
        if found is not None:
            ctx.log("order", number=digits, status=found.status)
            status_id = f"order_status_{found.status}"
            status = (ctx.t(status_id) if found.status in KNOWN_STATUSES
                      else ctx.t("order_status_unknown", status=found.status.replace("_", " ")))
            sentence = ctx.t("order_status", number=spell_out_digits(digits), status=status)
            return menu_turn(ctx, "after_order", {"number": digits},
                             preface=[Say(sentence, private=True), Say(found.detail, private=True)])
        ctx.log("order", number=digits, status=None)
        failure = ctx.t("order_not_found", number=spell_out_digits(digits))
    if attempt + 1 >= ORDER_ATTEMPTS:
        return menu_turn(ctx, "order_failed", {}, preface=[failure])
    return ask_for_number(ctx, attempt + 1, failure, ctx.t("order_try_again"))


@menu("order_failed")
def order_failed_menu(ctx: CallContext) -> Menu:
    return Menu(questions=False, choices=[
        Choice("1", "order", words=("another order", "try again", "again"), line="choice_another_order"),
    ])


@menu("after_order")
def after_order_menu(ctx: CallContext, number: str = "") -> Menu:
    return order_failed_menu(ctx)
