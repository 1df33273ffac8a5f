"""'Text me that': send the caller an answer, an order's details or a ticket reference by SMS.

Any menu offers it with a choice such as
    shared(TEXT_ME, "text_me", {"what": "order", "about": number, "back": "after_order", "number": number})
`what` (article | order | ticket) and `about` (its id, number or reference) say what to send (see
ivr/sms/service.py: the recipient is always the call's own number); `back` is the menu to return
to and the remaining parameters are that menu's (so a menu must not use the names what, about,
back, sms or checks). The text
is sent by a job off the webhook's clock; the caller waits a couple of seconds (a short listen)
while the flow checks the outcome, then hears whether it went.
"""
from __future__ import annotations

from typing import Any

from ...calls.events import Event
from ...services import services
from ...sms.service import SmsRefused, request_text, text_status
from ..actions import Listen, Say, Step, Turn, as_int
from ..context import CallContext
from ..menus import is_menu, menu_turn

WAIT_SECONDS = 2  # per check: the worker usually sends within one
MAX_CHECKS = 4  # then tell the caller it's on its way and move on


def _back(ctx: CallContext, back: str, params: dict[str, Any], *preface: str) -> Turn:
    if not is_menu(back):
        back, params = "main", {}
    return menu_turn(ctx, back, params, preface=list(preface))


def _wake_worker(ctx: CallContext) -> None:
    worker = services(ctx.app).worker
    if worker is not None:
        worker.wake()


def _wait(ctx: CallContext, message_id: int, checks: int, back: str, params: dict[str, Any], *prompts: str) -> Turn:
    step = Step("text_sent", {"sms": message_id, "checks": checks, "back": back, **params})
    return Turn(Listen(prompts=tuple(Say(p) for p in prompts), on_input=step, on_silence=step,
                       keys=True, speech=False, num_digits=1, timeout_s=WAIT_SECONDS))


def text_me(ctx: CallContext, what: str = "", about: str = "", back: str = "main", **params: Any) -> Turn:
    try:
        message = request_text(ctx.app, ctx.session, ctx.call_sid, what, about)
    except SmsRefused as exc:
        ctx.log(Event.SMS_REFUSED, what=what, about=about, reason=exc.reason, error=str(exc))
        return _back(ctx, back, params, _refusal_words(ctx, exc.reason))
    ctx.log(Event.SMS_REQUESTED, what=what, about=about, message_id=message.id)
    _wake_worker(ctx)
    return _wait(ctx, message.id, 0, back, params, ctx.t("sms_sending"))


def text_sent(ctx: CallContext, sms: int | str = 0, checks: int | str = 0, back: str = "main", **params: Any) -> Turn:
    message_id = as_int(sms)
    status = text_status(ctx.session, message_id, ctx.call_sid)
    checks = as_int(checks) + 1
    if status == "sent":
        ctx.log(Event.SMS_SENT, message_id=message_id)
        return _back(ctx, back, params, ctx.t("sms_sent"))
    if status == "queued" and checks < MAX_CHECKS:
        _wake_worker(ctx)
        return _wait(ctx, message_id, checks, back, params)
    ctx.log(Event.SMS_NOT_SENT, message_id=message_id, status=status)
    still_trying = status == "queued"
    return _back(ctx, back, params, ctx.t("sms_still_sending") if still_trying else ctx.t("sms_failed"))


def _refusal_words(ctx: CallContext, reason: str) -> str:
    if reason in ("no_number", "disabled"):
        return ctx.t("sms_no_number")
    if reason == "limit":
        return ctx.t("sms_limit")
    return ctx.t("sms_failed")
