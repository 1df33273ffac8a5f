"""Notification jobs. Each channel is its own durable job, so a failing webhook is retried
without re-sending the email, and nothing here can hold up creating the ticket."""
from __future__ import annotations

import smtplib
from email.message import EmailMessage

import requests
from flask import Flask

from ..config import Settings
from ..db import session_scope
from ..jobs.queue import enqueue, job_handler
from ..tickets.models import Ticket
from ..tts.spoken import spoken_reference


def _settings(app: Flask) -> Settings:
    return app.config["IVR_SETTINGS"]


def _ticket_summary(app: Flask, ticket: Ticket) -> dict:
    base = app.config["IVR_SETTINGS"].public_base_url
    return {"id": ticket.id, "reference": ticket.reference, "caller": ticket.caller,
            "duration_seconds": ticket.recording_duration, "created_at": ticket.created_at.isoformat(),
            "url": f"{base}/tickets/{ticket.id}" if base else f"/tickets/{ticket.id}"}


@job_handler("ticket.notify")
def fan_out(app: Flask, payload: dict) -> None:
    settings = _settings(app)
    with session_scope(app.extensions["ivr.sessionmaker"]) as session:
        if settings.notify_emails and settings.smtp_host:
            enqueue(session, "notify.email", payload, max_attempts=8)
        if settings.notify_webhook_url:
            enqueue(session, "notify.webhook", payload, max_attempts=8)


@job_handler("notify.email")
def send_email(app: Flask, payload: dict) -> None:
    settings = _settings(app)
    with session_scope(app.extensions["ivr.sessionmaker"]) as session:
        ticket = session.get(Ticket, payload["ticket_id"])
        if ticket is None:
            return
        info = _ticket_summary(app, ticket)
    msg = EmailMessage()
    msg["Subject"] = f"New voicemail {info['reference']} from {info['caller'] or 'unknown number'}"
    msg["From"] = settings.smtp_from
    msg["To"] = ", ".join(settings.notify_emails)
    msg.set_content(f"A caller left a message ({info['duration_seconds']} s).\n"
                    f"Reference: {info['reference']} ({spoken_reference(info['reference'] or '')})\n"
                    f"Caller: {info['caller'] or 'unknown'}\nOpen it: {info['url']}\n")
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=20) as smtp:
        if settings.smtp_tls:
            smtp.starttls()
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password)
        smtp.send_message(msg)


@job_handler("notify.webhook")
def post_webhook(app: Flask, payload: dict) -> None:
    url = _settings(app).notify_webhook_url  # staff-configured, never from a caller
    with session_scope(app.extensions["ivr.sessionmaker"]) as session:
        ticket = session.get(Ticket, payload["ticket_id"])
        if ticket is None:
            return
        info = _ticket_summary(app, ticket)
    text = f"New voicemail {info['reference']} from {info['caller'] or 'unknown number'}: {info['url']}"
    resp = requests.post(url, json={"text": text, "ticket": info}, timeout=15, allow_redirects=False)
    if resp.status_code >= 300:
        raise RuntimeError(f"webhook answered HTTP {resp.status_code}")
