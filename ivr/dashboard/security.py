"""Browser-facing protections shared by the staff pages and the public help page.

Cookies are Secure whenever the request came over https (directly or through a trusted proxy),
every page forbids framing and inline script, and a bad id or page number is a 404/400, never a 500.
"""
from __future__ import annotations

from flask import Flask, Response, jsonify, request
from flask.sessions import SecureCookieSessionInterface
from werkzeug.exceptions import HTTPException

# Styles and scripts come only from our own static files; charts are inline SVG (no script needed).
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
MAX_ID = 2**63 - 1  # largest id any supported database stores; anything above is simply not found


class HttpsAwareSessionInterface(SecureCookieSessionInterface):
    """Mark the session cookie Secure for https requests even when PUBLIC_BASE_URL is not set."""

    def get_cookie_secure(self, app: Flask) -> bool:  # type: ignore[override]
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure


def _headers(resp: Response) -> Response:
    resp.headers.setdefault("Content-Security-Policy", CSP)
    resp.headers.setdefault("X-Frame-Options", "DENY")
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("Referrer-Policy", "same-origin")
    if request.is_secure:
        resp.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return resp


def _api_errors(exc: HTTPException):
    """The API answers errors in JSON; other paths keep Flask's pages."""
    if request.path.startswith("/api/"):
        return jsonify({"error": exc.description or exc.name}), exc.code or 500
    return exc.response if exc.response is not None else exc.get_response()


def init_security(app: Flask) -> None:
    app.session_interface = HttpsAwareSessionInterface()
    app.after_request(_headers)
    app.register_error_handler(HTTPException, _api_errors)


def valid_id(value: int | str | None) -> int | None:
    """A database id from a URL or form, or None when it can't be one (non-numeric, 0, too big)."""
    text = str(value or "").strip()
    if not text.isdigit() or len(text) > 19:
        return None
    number = int(text)
    return number if 0 < number <= MAX_ID else None
