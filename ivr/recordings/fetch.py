"""Fetch and delete recordings through Twilio's REST API, and nowhere else.

Both go through the one REST client (ivr/twilio/client.py), which only ever requests the
configured API base; the path is built from the account sid and a recording sid that must
look like one, so no caller and no request parameter can point the server at another host
or resource. A recording is often not ready the instant Twilio reports it: 404s, 5xx and
connection errors are retried with back-off within a time budget.
"""
from __future__ import annotations

import re
import time

from twilio.base.exceptions import TwilioException

from ..twilio.client import TwilioUnreachable, api_timeout, get_media, http_status, twilio_client

RECORDING_SID_RE = re.compile(r"^RE[0-9a-fA-F]{32}$")


class RecordingUnavailable(RuntimeError):
    """The recording could not be fetched within the time budget; says what was last seen."""


def _checked(recording_sid: str) -> str:
    if not RECORDING_SID_RE.match(recording_sid or ""):
        raise ValueError(f"not a recording sid: {recording_sid!r}")
    return recording_sid


def fetch_recording(settings, recording_sid: str, *, timeout_seconds: float = 8.0,
                    first_delay: float = 0.25) -> bytes:
    """The recording as WAV bytes, retrying while Twilio is still preparing it."""
    uri = f"Accounts/{settings.twilio_account_sid}/Recordings/{_checked(recording_sid)}.wav"
    deadline = time.monotonic() + timeout_seconds
    delay, last = first_delay, "no attempt made"
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise RecordingUnavailable(f"recording {recording_sid} not fetched in {timeout_seconds:.0f}s: {last}")
        try:
            resp = get_media(settings, uri, accept="audio/wav", timeout=max(0.5, min(remaining, 5.0)))
            if resp.status_code == 200 and resp.body:
                return resp.body
            if resp.status_code in (401, 403):
                raise RecordingUnavailable(f"Twilio refused the credentials for {recording_sid} "
                                           f"(HTTP {resp.status_code})")
            last = f"HTTP {resp.status_code}"
        except TwilioUnreachable as exc:
            last = exc.reason
        time.sleep(min(delay, max(deadline - time.monotonic(), 0)))
        delay = min(delay * 2, 2.0)


def delete_recording(settings, recording_sid: str, *, timeout_seconds: float = 10.0) -> None:
    """Delete the recording at Twilio (after we keep our own copy). 404 counts as done."""
    try:
        with api_timeout(timeout_seconds):
            twilio_client(settings).recordings(_checked(recording_sid)).delete()
    except TwilioUnreachable as exc:
        raise RecordingUnavailable(f"Twilio did not delete {recording_sid}: {exc.reason}") from None
    except TwilioException as exc:
        if http_status(exc) != 404:
            raise RecordingUnavailable(f"Twilio did not delete {recording_sid}: HTTP {http_status(exc)}") from None
