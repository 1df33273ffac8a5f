"""The job that sends a queued text through Twilio's REST API (the one client, ivr/twilio/client.py).

Runs on the worker, never on a webhook: Twilio's API usually answers in a fraction of a second
but can take several, and the call flow must answer Twilio in milliseconds. The Messages API
is only ever reached at TWILIO_API_BASE (a local stand-in in tests).
"""
from __future__ import annotations

import logging

from flask import Flask

from ..calls.events import Event
from ..calls.models import Call, CallEvent
from ..db import session_scope, utcnow
from ..services import services
from ..twilio.client import api_timeout, twilio_client
from .models import TextMessage

log = logging.getLogger(__name__)
SEND_TIMEOUT_SECONDS = 10
SMS_STATUS_PATH = "/voice/sms-status"


def send_text(app: Flask, payload: dict) -> None:
    from twilio.base.exceptions import TwilioRestException

    settings = app.config["IVR_SETTINGS"]
    with session_scope(services(app).sessionmaker) as session:
        message = session.get(TextMessage, payload.get("message_id"))
        if message is None or message.status != "queued":
            return  # already sent (a retried job) or gone
        call = session.get(Call, message.call_sid)
        sender = settings.sms_from or (call.to_number if call else "")
        options = {"messaging_service_sid": sender} if sender.startswith("MG") else {"from_": sender}
        if settings.public_base_url:  # Twilio needs an absolute URL to report delivery
            options["status_callback"] = settings.public_base_url + SMS_STATUS_PATH
        to, body = message.to_number, message.body
    if not sender:
        _finish(app, payload["message_id"], error="no number to send from (set IVR_SMS_FROM)")
        return
    try:
        with api_timeout(SEND_TIMEOUT_SECONDS):
            sent = twilio_client(settings).messages.create(to=to, body=body, **options)
    except TwilioRestException as exc:
        error = f"Twilio refused the text (HTTP {exc.status}, error {exc.code}): {exc.msg}"
        if exc.status >= 500 or exc.status == 429:
            raise RuntimeError(error) from None  # worth another try
        log.warning("text %s to %s not sent: %s", payload["message_id"], to, error)
        _finish(app, payload["message_id"], error=error)
        return
    _finish(app, payload["message_id"], twilio_sid=sent.sid)


def _finish(app: Flask, message_id: int, *, twilio_sid: str | None = None, error: str | None = None) -> None:
    with session_scope(services(app).sessionmaker) as session:
        message = session.get(TextMessage, message_id)
        if message is None:
            return
        if error is None:
            message.status, message.twilio_sid, message.sent_at, message.error = "sent", twilio_sid, utcnow(), None
        else:
            message.status, message.error = "failed", error
            if session.get(Call, message.call_sid) is not None:
                session.add(CallEvent(call_sid=message.call_sid, kind=Event.SMS_FAILED,
                                      detail={"message_id": message.id, "error": error}, at=utcnow()))


def gave_up(app: Flask, payload: dict, error: str) -> None:
    log.warning("text %s not sent after retries: %s", payload.get("message_id"), error)
    _finish(app, payload.get("message_id"), error=error)
