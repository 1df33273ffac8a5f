"""Leaving the stream: the call goes on through the TwiML transport from the same state.

Used when the flow needs something only TwiML does (a `<Dial>` transfer), when the call ends,
and when the stream itself fails (socket, recogniser, audio). The turn still to be played is
rendered by the TwiML transport and given to Twilio with its REST API (update the live call's
TwiML); the same TwiML is kept in the call log, so if that request fails the `<Connect>`
action Twilio requests when the socket closes answers with it instead. Either way the caller
never sits in silence.
"""
from __future__ import annotations

import logging
import re

import requests
from flask import Flask
from twilio.twiml.voice_response import VoiceResponse

from ..calls.events import HANDOFF_EVENT  # noqa: F401 - re-exported for the session
from ..flow.actions import Turn
from ..twiml.renderer import TwimlRenderer
from ..language import line_language
from ..services import services

log = logging.getLogger(__name__)

TWIML_LIMIT = 4000  # Twilio's limit on the Twiml parameter of a call update


class HandoffError(RuntimeError):
    """Twilio's API did not take the new TwiML; the <Connect> action serves it instead."""


def render_turn(app: Flask, turn: Turn, base_url: str) -> str:
    """The turn as a TwiML document with absolute URLs (REST-given TwiML has no page to be relative to)."""
    settings = app.config["IVR_SETTINGS"]
    with app.test_request_context("/voice/stream", base_url=base_url):
        resp: VoiceResponse = TwimlRenderer(services(app).speaker, line_language(settings).tag).render(turn)
    return absolute_urls(str(resp), base_url)


def absolute_urls(twiml: str, base_url: str) -> str:
    base = base_url.rstrip("/")
    twiml = re.sub(r'(\s(?:action|url|recordingStatusCallback)=")/', rf"\1{base}/", twiml)
    return re.sub(r"(<(?:Redirect|Play)[^>]*>)/", rf"\1{base}/", twiml)


def update_call(settings, call_sid: str, twiml: str, *, timeout: float = 5.0) -> None:
    """Replace the live call's TwiML (POST .../Calls/{sid}.json with Twiml=...)."""
    if not re.fullmatch(r"CA[0-9a-fA-F]{32}", call_sid or ""):
        raise HandoffError(f"not a call sid: {call_sid!r}")
    url = f"{settings.twilio_api_base}/2010-04-01/Accounts/{settings.twilio_account_sid}/Calls/{call_sid}.json"
    try:
        resp = requests.post(url, data={"Twiml": twiml}, timeout=timeout, allow_redirects=False,
                             auth=(settings.twilio_account_sid, settings.twilio_auth_token))
    except requests.RequestException as exc:
        raise HandoffError(f"Twilio's API unreachable: {type(exc).__name__}") from None
    if resp.status_code not in (200, 201):
        raise HandoffError(f"Twilio's API refused the call update: HTTP {resp.status_code}")
