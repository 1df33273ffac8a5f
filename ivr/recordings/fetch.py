"""Fetch and delete recordings through Twilio's REST API, and nowhere else.

The URL is built from the configured API base, the account sid and a recording sid that
must look like one, so no caller and no request parameter can point the server at another
host. A recording is often not ready the instant Twilio reports it: 404s, 5xx and connection
errors are retried with back-off within a time budget.
"""
from __future__ import annotations

import re
import time

import requests

RECORDING_SID_RE = re.compile(r"^RE[0-9a-fA-F]{32}$")


class RecordingUnavailable(RuntimeError):
    """The recording could not be fetched within the time budget; says what was last seen."""


def recording_url(settings, recording_sid: str, extension: str = ".wav") -> str:
    if not RECORDING_SID_RE.match(recording_sid or ""):
        raise ValueError(f"not a recording sid: {recording_sid!r}")
    return (f"{settings.twilio_api_base}/2010-04-01/Accounts/{settings.twilio_account_sid}"
            f"/Recordings/{recording_sid}{extension}")


def fetch_recording(settings, recording_sid: str, *, timeout_seconds: float = 8.0,
                    first_delay: float = 0.25) -> bytes:
    """The recording as WAV bytes, retrying while Twilio is still preparing it."""
    url = recording_url(settings, recording_sid)
    auth = (settings.twilio_account_sid, settings.twilio_auth_token)
    deadline = time.monotonic() + timeout_seconds
    delay, last = first_delay, "no attempt made"
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise RecordingUnavailable(f"recording {recording_sid} not fetched in {timeout_seconds:.0f}s: {last}")
        try:
            resp = requests.get(url, auth=auth, timeout=max(0.5, min(remaining, 5.0)), allow_redirects=False)
            if resp.status_code == 200 and resp.content:
                return resp.content
            if resp.status_code in (401, 403):
                raise RecordingUnavailable(f"Twilio refused the credentials for {recording_sid} (HTTP {resp.status_code})")
            last = f"HTTP {resp.status_code}"
        except requests.RequestException as exc:
            last = f"{type(exc).__name__}"
        time.sleep(min(delay, max(deadline - time.monotonic(), 0)))
        delay = min(delay * 2, 2.0)


def delete_recording(settings, recording_sid: str, *, timeout_seconds: float = 10.0) -> None:
    """Delete the recording at Twilio (after we keep our own copy). 404 counts as done."""
    url = recording_url(settings, recording_sid, extension=".json")
    resp = requests.delete(url, auth=(settings.twilio_account_sid, settings.twilio_auth_token),
                           timeout=timeout_seconds, allow_redirects=False)
    if resp.status_code not in (200, 204, 404):
        raise RecordingUnavailable(f"Twilio did not delete {recording_sid}: HTTP {resp.status_code}")
