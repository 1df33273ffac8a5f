"""The one place a Twilio REST client is made: `twilio_client(settings)`.

Every call to Twilio's REST API (recordings and their audio, the recordings list, live-call
updates, messages, the account check) goes through the `twilio` library's `Client`, built
here from Settings only (account sid, auth token, TWILIO_API_BASE) and cached: one client
per process and settings, so its connection pool is reused and never shared across a fork.

The library addresses `https://api.twilio.com`; its `HttpClient` (the supported extension
point, `Client(http_client=...)`) is ours: it sends those requests to TWILIO_API_BASE (a
local stand-in in tests) and refuses every other host, so no URL a caller or a response
brings can point the server elsewhere. It never follows redirects, keeps a response's bytes
(a recording's audio is binary), bounds every request with a timeout (`api_timeout` sets a
caller's own for the requests the library makes on its behalf) and turns "no answer at all"
into `TwilioUnreachable`. Answers with an HTTP error stay the library's `TwilioException`s;
`http_status` reads the status from them.
"""
from __future__ import annotations

import contextlib
import functools
import logging
import os
from collections.abc import Iterator
from contextvars import ContextVar

import requests
from twilio.base.exceptions import TwilioException
from twilio.http import HttpClient
from twilio.http.response import Response
from twilio.rest import Client

log = logging.getLogger(__name__)

TWILIO_API = "https://api.twilio.com"  # the library's base URL for the 2010-04-01 API
DEFAULT_TIMEOUT_SECONDS = 10.0
# The library falls back to os.environ for an empty mapping: name the two it reads, unset.
_NO_ENVIRONMENT = {"TWILIO_EDGE": "", "TWILIO_REGION": ""}
_timeout: ContextVar[float | None] = ContextVar("twilio_api_timeout", default=None)


class TwilioUnreachable(RuntimeError):
    """Twilio's API gave no HTTP answer (refused, DNS, timeout); `reason` names what happened."""

    def __init__(self, reason: str):
        super().__init__(f"Twilio's API unreachable: {reason}")
        self.reason = reason


class NotTwilioApi(RuntimeError):
    """A request for a host that is not Twilio's API (nor TWILIO_API_BASE): never sent."""


class ApiResponse(Response):
    """The library's response, plus `body`: the bytes as they came (text is decoded only if asked for)."""

    def __init__(self, raw: requests.Response):
        self._raw = raw
        self.body: bytes = raw.content
        self.headers = raw.headers
        self.cached = False
        self.status_code = int(raw.status_code)
        self.ok = self.status_code < 400

    @property
    def content(self) -> str:  # what the library's Response calls its text
        return self._raw.text


class ApiHttpClient(HttpClient):
    """Sends the library's requests to the configured API base, and nowhere else."""

    def __init__(self, api_base: str, timeout: float = DEFAULT_TIMEOUT_SECONDS):
        super().__init__(log, False, timeout)
        self.api_base = api_base.rstrip("/")
        self.session = requests.Session()

    def url_for(self, url: str) -> str:
        for base in (TWILIO_API, self.api_base):
            if url == base or url.startswith(base + "/"):
                return self.api_base + url[len(base):]
        raise NotTwilioApi(f"not Twilio's API: {url[:100]!r}")

    def request(self, method, url, params=None, data=None, headers=None, auth=None, timeout=None,
                allow_redirects=False) -> ApiResponse:
        kwargs = {"method": method.upper(), "url": self.url_for(url), "params": params, "headers": headers,
                  "auth": auth}
        if headers and headers.get("Content-Type") in ("application/json", "application/scim+json"):
            kwargs["json"] = data
        else:
            kwargs["data"] = data
        try:
            raw = self.session.request(**kwargs, timeout=timeout or _timeout.get() or self.timeout,
                                       allow_redirects=False)
        except requests.RequestException as exc:
            raise TwilioUnreachable(type(exc).__name__) from None
        log.debug("%s %s: HTTP %s", kwargs["method"], kwargs["url"], raw.status_code)
        return ApiResponse(raw)


@contextlib.contextmanager
def api_timeout(seconds: float) -> Iterator[None]:
    """Bound each request the library makes inside the block by `seconds` (connect and read)."""
    token = _timeout.set(seconds)
    try:
        yield
    finally:
        _timeout.reset(token)


def twilio_client(settings) -> Client:
    """The REST client for these settings in this process (made once, then reused)."""
    return _client(os.getpid(), settings.twilio_api_base, settings.twilio_account_sid, settings.twilio_auth_token)


@functools.lru_cache(maxsize=16)
def _client(_pid: int, api_base: str, account_sid: str, auth_token: str) -> Client:
    return Client(account_sid, auth_token, environment=_NO_ENVIRONMENT, http_client=ApiHttpClient(api_base))


def http_status(exc: TwilioException) -> int | None:
    """The HTTP status of Twilio's answer that the library raised `exc` for, if it was one."""
    status = getattr(exc, "status", None)
    if isinstance(status, int):
        return status
    # A list page that was not 200: TwilioException("Unable to fetch page", response)
    return next((arg.status_code for arg in exc.args if isinstance(arg, Response)), None)


def get_media(settings, uri: str, *, accept: str, timeout: float) -> ApiResponse:
    """GET a media resource (e.g. a recording's audio) at `uri`, a path of the 2010-04-01 API.

    Through the same client (its credentials, host check, no redirects) as every other call.
    """
    client = twilio_client(settings)
    return client.request("GET", client.api.v2010.absolute_url(uri), headers={"Accept": accept}, timeout=timeout)
