"""Twilio request signatures: every Twilio-facing route proves the request came from Twilio."""
from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Request, abort, current_app, request
from twilio.request_validator import RequestValidator

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])


def url_twilio_used(req: Request, public_base_url: str) -> str:
    """Rebuild the URL Twilio signed: the public base if configured, else the request's own.

    Forwarded headers count only through ProxyFix, i.e. when IVR_TRUSTED_PROXIES says how many
    proxies to believe; otherwise anyone could choose the URL the signature is checked against.
    """
    return base_url_twilio_used(req, public_base_url) + (req.full_path if req.query_string else req.path)


def base_url_twilio_used(req: Request, public_base_url: str) -> str:
    """The scheme and host (or the configured public base) of the URL Twilio used, no path."""
    if public_base_url:
        return public_base_url.rstrip("/")
    return f"{req.scheme}://{req.host}"


def is_valid_twilio_request(req: Request, *, websocket: bool = False) -> bool:
    """Check X-Twilio-Signature. A Media Streams handshake is signed over its ws(s):// URL, no params."""
    settings = current_app.config["IVR_SETTINGS"]
    if not settings.validate_twilio_signature:
        return True
    signature = req.headers.get("X-Twilio-Signature", "")
    if not signature:
        return False
    validator = RequestValidator(settings.twilio_auth_token)
    url = url_twilio_used(req, settings.public_base_url)
    if websocket:
        url = url.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
    params = req.form.to_dict(flat=True) if req.method == "POST" and not websocket else {}
    return bool(validator.validate(url, params, signature))


def twilio_only(view: F) -> F:
    """Answer 403 unless the request carries a valid X-Twilio-Signature."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not is_valid_twilio_request(request):
            log.warning("rejected request to %s: missing or invalid Twilio signature", request.path)
            abort(403)
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
