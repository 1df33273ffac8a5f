"""Notification jobs. Each channel is its own durable job, so a failing webhook is retried
without re-sending the email, and nothing here can hold up creating the ticket."""
from __future__ import annotations

import smtplib
from email.message import EmailMessage

import requests
from flask import Flask

from ..config import Settings
from ..db import session_scope
from ..jobs.queue import enqueue
from ..services import services
from ..tickets.models import Ticket
from ..tts.spoken import spoken_reference


def _settings(app: Flask) -> Settings:
    return app.config["IVR_SETTINGS"]


# What each kind of ticket is called in a notification's first line.
KIND_WORDS = {"voicemail": "voicemail", "callback": "callback request", "web": "web message"}


def _headline(info: dict) -> str:
    who = info["caller"] or info.get("contact") or "unknown number"
    return f"New {KIND_WORDS.get(info['kind'], 'ticket')} {info['reference']} from {who}"


def _body(info: dict) -> str:
    if info["kind"] == "callback":
        number = info["callback_number"] or info["caller"] or "an unknown number"
        what = f"A caller asked to be called back on {number}.\n"
    elif info["kind"] == "web":
        what = "Someone sent a message from the help page.\n"
    else:
        what = f"A caller left a message ({info['duration_seconds']} s).\n"
    return (what + f"Reference: {info['reference']} ({spoken_reference(info['reference'] or '')})\n"
            f"From: {info['caller'] or info.get('contact') or 'unknown'}\nOpen it: {info['url']}\n")


def _ticket_summary(app: Flask, ticket: Ticket) -> dict:
    base = app.config["IVR_SETTINGS"].public_base_url
    return {"id": ticket.id, "reference": ticket.reference, "caller": ticket.caller, "kind": ticket.kind,
            "callback_number": ticket.callback_number, "contact": ticket.contact_email or ticket.contact_name,
            "duration_seconds": ticket.recording_duration, "created_at": ticket.created_at.isoformat(),
            "url": f"{base}/tickets/{ticket.id}" if base else f"/tickets/{ticket.id}"}


def fan_out(app: Flask, payload: dict) -> None:
    settings = _settings(app)
    with session_scope(services(app).sessionmaker) as session:
        if settings.notify_emails and settings.smtp_host:
            enqueue(session, "notify.email", payload, max_attempts=8)
        if settings.notify_webhook_url:
            enqueue(session, "notify.webhook", payload, max_attempts=8)


def send_email(app: Flask, payload: dict) -> None:
    settings = _settings(app)
    with session_scope(services(app).sessionmaker) as session:
        ticket = session.get(Ticket, payload["ticket_id"])
        if ticket is None:
            return
        info = _ticket_summary(app, ticket)
    msg = EmailMessage()
    msg["Subject"] = _headline(info)
    msg["From"] = settings.smtp_from
    msg["To"] = ", ".join(settings.notify_emails)
    msg.set_content(_body(info))
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=20) as smtp:
        if settings.smtp_tls:
            smtp.starttls()
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password)
        smtp.send_message(msg)


def post_webhook(app: Flask, payload: dict) -> None:
    url = _settings(app).notify_webhook_url  # staff-configured, never from a caller
    with session_scope(services(app).sessionmaker) as session:
        ticket = session.get(Ticket, payload["ticket_id"])
        if ticket is None:
            return
        info = _ticket_summary(app, ticket)
    text = f"{_headline(info)}: {info['url']}"
    resp = requests.post(url, json={"text": text, "ticket": info}, timeout=15, allow_redirects=False)
    if resp.status_code >= 300:
        raise RuntimeError(f"webhook answered HTTP {resp.status_code}")
