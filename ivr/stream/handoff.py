"""Leaving the stream: the call goes on through the TwiML transport from the same state.

Used when the flow needs something only TwiML does (a `<Dial>` transfer), when the call ends,
and when the stream itself fails (socket, recogniser, audio). The turn still to be played is
rendered by the TwiML transport and given to Twilio with its REST API (update the live call's
TwiML); the same TwiML is kept on the call (`calls.handoff_twiml`), so if that request fails
the `<Connect>` action Twilio requests when the socket closes answers with it instead. Either way the caller
never sits in silence.
"""
from __future__ import annotations

import logging
import re

from flask import Flask
from twilio.base.exceptions import TwilioException
from twilio.twiml.voice_response import VoiceResponse

from ..flow.actions import Turn
from ..language import line_language
from ..services import services
from ..twilio.client import TwilioUnreachable, api_timeout, http_status, twilio_client
from ..twiml.renderer import TwimlRenderer

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
    """Replace the live call's TwiML (the library's calls(sid).update: POST .../Calls/{sid}.json, Twiml=...)."""
    if not re.fullmatch(r"CA[0-9a-fA-F]{32}", call_sid or ""):
        raise HandoffError(f"not a call sid: {call_sid!r}")
    try:
        with api_timeout(timeout):
            twilio_client(settings).calls(call_sid).update(twiml=twiml)
    except TwilioUnreachable as exc:
        raise HandoffError(f"Twilio's API unreachable: {exc.reason}") from None
    except TwilioException as exc:
        raise HandoffError(f"Twilio's API refused the call update: HTTP {http_status(exc)}") from None
    except ValueError:
        pass  # a 2xx whose body is not a call resource: Twilio took the TwiML all the same
