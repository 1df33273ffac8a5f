"""Twilio's message status callback: what the carrier did with a text after Twilio accepted it.

A text can be accepted by Twilio's API and still not arrive (e.g. error 30003, unreachable
handset); that comes later to this signed route and is kept on the text's row and logged, so
staff can see why a caller says they never got it. A signed Twilio callback, exempt from the
dashboard's CSRF protection (ivr/registry.py).
"""
from __future__ import annotations

import logging

from flask import Blueprint, request
from sqlalchemy import select

from ..db import get_session
from ..sms.models import TextMessage
from ..twilio import paths
from ..twilio.signature import twilio_only

log = logging.getLogger(__name__)
FINAL = {"delivered", "undelivered", "failed"}
bp = Blueprint("voice_sms", __name__, url_prefix=paths.VOICE)


@bp.post("/sms-status")
@twilio_only
def sms_status() -> tuple[str, int]:
    status = (request.form.get("MessageStatus") or "").lower()
    sid = request.form.get("MessageSid", "")
    if status not in FINAL or not sid:
        return "", 204  # queued, sending, sent...: nothing final yet
    session = get_session()
    try:
        message = session.scalar(select(TextMessage).where(TextMessage.twilio_sid == sid))
        if message is not None:
            message.delivery = status
            message.delivery_error = (request.form.get("ErrorCode") or None)
            session.commit()
            if status != "delivered":
                log.warning("text %s to %s %s (Twilio error %s)", message.id, message.to_number, status,
                            message.delivery_error or "none")
    except Exception:
        session.rollback()
        log.exception("could not record the status of text %s", sid)
    return "", 204
