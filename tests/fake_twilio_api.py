"""A local HTTP server standing in for Twilio's REST API (recordings, calls, messages) and a model mirror in tests.

It speaks what the `twilio` library sends and expects: Basic auth, form-encoded POSTs, JSON
resources, lists paged with `next_page_uri`, and Twilio's error document
(`code`/`message`/`more_info`/`status`) for a refused login or an unknown resource.
"""
from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime, formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode

Route = Callable[[int], tuple[int, bytes]]  # attempt number -> (status, body)
API_PREFIX = "/2010-04-01/"


def twilio_error(status: int, code: int, message: str) -> tuple[int, bytes]:
    """Twilio's error document, as its REST API answers a failed request."""
    return status, json.dumps({"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
                               "status": status}).encode()


class FakeServer:
    def __init__(self, auth: tuple[str, str] | None = None):
        self.routes: dict[str, Route] = {}
        # POST routes that read the form: (form, attempt) -> (status, body)
        self.form_routes: dict[str, Callable[[dict[str, str], int], tuple[int, bytes]]] = {}
        self.hits: dict[str, int] = {}
        self.queries: dict[str, list[str]] = {}
        self.bodies: list[bytes] = []
        self.auth = auth
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _handle(self):
                path, _, query = self.path.partition("?")
                server.hits[path] = server.hits.get(path, 0) + 1
                server.queries.setdefault(path, []).append(query)
                if server.auth is not None:
                    expected = "Basic " + base64.b64encode(":".join(server.auth).encode()).decode()
                    if self.headers.get("Authorization") != expected:
                        _, body = twilio_error(401, 20003, "Authenticate")
                        self.send_response(401)
                        self.send_header("WWW-Authenticate", 'Basic realm="Twilio API"')
                        self.send_header("Content-Type", "application/json; charset=utf-8")
                        self.send_header("Content-Length", str(len(body)))
                        self.end_headers()
                        self.wfile.write(body)
                        return
                form_route = server.form_routes.get(path) if self.command == "POST" else None
                if form_route is not None:
                    raw = self.body.decode()  # this request's own (others may have come in since)
                    form = {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}
                    status, body = form_route(form, server.hits[path])
                else:
                    route = server.routes.get(path)
                    if route is not None:
                        status, body = route(server.hits[path])
                    elif path.startswith(API_PREFIX):
                        status, body = twilio_error(404, 20404, f"The requested resource {path} was not found")
                    else:
                        status, body = 404, b"not found"
                self.send_response(status)
                if body[:1] == b"{":
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                self.body = self.rfile.read(length)
                server.bodies.append(self.body)
                self._handle()

            do_GET = _handle
            do_DELETE = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> FakeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def slow(seconds: float, then: tuple[int, bytes]) -> Route:
    def route(attempt: int) -> tuple[int, bytes]:
        if attempt == 1:
            time.sleep(seconds)
        return then

    return route


class MessagesApi:
    """Twilio's Messages resource (POST /2010-04-01/Accounts/{sid}/Messages.json) on a FakeServer.

    Answers with Twilio's real JSON: 201 and a message resource, or Twilio's error document.
    `fail_with=(status, code, message)` makes every send fail that way; `sent` keeps the forms.
    """

    def __init__(self, server: FakeServer, account_sid: str, fail_with: tuple[int, int, str] | None = None):
        self.account_sid = account_sid
        self.fail_with = fail_with
        self.sent: list[dict[str, str]] = []
        self.path = f"/2010-04-01/Accounts/{account_sid}/Messages.json"
        server.form_routes[self.path] = self._create

    _error = staticmethod(twilio_error)

    def _create(self, form: dict[str, str], attempt: int) -> tuple[int, bytes]:
        if not form.get("To"):
            return self._error(400, 21604, "A 'To' phone number is required.")
        if not (form.get("From") or form.get("MessagingServiceSid")):
            return self._error(400, 21603, "A 'From' phone number is required.")
        if not (form.get("Body") or form.get("MediaUrl")):
            return self._error(400, 21602, "Message body is required.")
        if self.fail_with is not None:
            return self._error(*self.fail_with)
        self.sent.append(form)
        sid = "SM" + secrets.token_hex(16)
        now = formatdate(usegmt=True).replace("GMT", "+0000")
        uri = f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}"
        return 201, json.dumps({
            "account_sid": self.account_sid, "api_version": "2010-04-01", "body": form.get("Body", ""),
            "date_created": now, "date_sent": None, "date_updated": now, "direction": "outbound-api",
            "error_code": None, "error_message": None, "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"), "num_media": "0", "num_segments": "1",
            "price": None, "price_unit": "USD", "sid": sid, "status": "queued",
            "subresource_uris": {"media": f"{uri}/Media.json"}, "to": form["To"], "uri": f"{uri}.json",
        }).encode()


def twilio_recording(account_sid: str, call_sid: str, recording_sid: str, created: datetime,
                     duration: int = 12, status: str = "completed") -> dict:
    """One recording as Twilio's REST API (2010-04-01) lists it."""
    base = f"/2010-04-01/Accounts/{account_sid}/Recordings/{recording_sid}"
    when = format_datetime(created.replace(tzinfo=UTC))  # "Mon, 23 Nov 2026 18:01:02 +0000"
    return {
        "account_sid": account_sid, "api_version": "2010-04-01", "call_sid": call_sid,
        "conference_sid": None, "date_created": when, "date_updated": when, "start_time": when,
        "duration": str(duration), "sid": recording_sid, "price": None, "price_unit": "USD",
        "status": status, "channels": 1, "source": "RecordVerb", "error_code": None, "track": "both",
        "uri": base + ".json", "media_url": "https://api.twilio.com" + base, "encryption_details": None,
        "subresource_uris": {"add_on_results": base + "/AddOnResults.json", "transcriptions": base + "/Transcriptions.json"},
    }


def recordings_list(server: FakeServer, account_sid: str, recordings: list[dict], page_size: int = 2) -> str:
    """Serve the account's Recordings list with Twilio's paging (next_page_uri); returns its path.

    Twilio filters by `DateCreated>` (a day) and pages with Page/PageSize/PageToken; so does this.
    """
    path = f"/2010-04-01/Accounts/{account_sid}/Recordings.json"

    def route(_attempt: int) -> tuple[int, bytes]:
        query = parse_qs(server.queries[path][-1])
        size = int(query.get("PageSize", [page_size])[0])
        size = min(size, page_size)
        page = int(query.get("Page", ["0"])[0])
        since = query.get("DateCreated>", [None])[0]
        from email.utils import parsedate_to_datetime

        rows = [r for r in recordings
                if since is None or parsedate_to_datetime(r["date_created"]).strftime("%Y-%m-%d") >= since]
        chunk = rows[page * size:(page + 1) * size]
        more = (page + 1) * size < len(rows)

        def uri(n: int) -> str:  # as Twilio writes them: the filter kept, the page and its token added
            query = {"DateCreated>": since} if since is not None else {}
            query.update({"PageSize": size, "Page": n})
            if n > page and chunk:
                query["PageToken"] = f"PA{chunk[-1]['sid']}"
            return f"{path}?{urlencode(query)}"

        body = {"recordings": chunk, "page": page, "page_size": size, "start": page * size,
                "end": page * size + max(len(chunk) - 1, 0), "uri": uri(page), "first_page_uri": uri(0),
                "previous_page_uri": uri(page - 1) if page else None, "next_page_uri": uri(page + 1) if more else None}
        return 200, json.dumps(body).encode()

    server.routes[path] = route
    return path


def twilio_call(account_sid: str, call_sid: str, status: str = "in-progress") -> dict:
    """One call as Twilio's REST API (2010-04-01) answers for it."""
    now = formatdate(usegmt=True).replace("GMT", "+0000")
    uri = f"/2010-04-01/Accounts/{account_sid}/Calls/{call_sid}"
    return {
        "account_sid": account_sid, "annotation": None, "answered_by": None, "api_version": "2010-04-01",
        "caller_name": None, "date_created": now, "date_updated": now, "direction": "inbound", "duration": None,
        "end_time": None, "forwarded_from": None, "from": "+15005550006", "from_formatted": "(500) 555-0006",
        "group_sid": None, "parent_call_sid": None, "phone_number_sid": "PN" + "0" * 32, "price": None,
        "price_unit": "USD", "sid": call_sid, "start_time": now, "status": status, "queue_time": "0",
        "to": "+15005550001", "to_formatted": "(500) 555-0001", "trunk_sid": None, "uri": f"{uri}.json",
        "subresource_uris": {"notifications": f"{uri}/Notifications.json", "recordings": f"{uri}/Recordings.json"},
    }


def live_call(server: FakeServer, account_sid: str, call_sid: str) -> str:
    """Serve a live call's update (POST .../Calls/{sid}.json, form-encoded Twiml= or Url=); returns its path.

    Twilio answers 200 and the call resource, or its error document when neither is given.
    """
    path = f"/2010-04-01/Accounts/{account_sid}/Calls/{call_sid}.json"

    def update(form: dict[str, str], _attempt: int) -> tuple[int, bytes]:
        if not (form.get("Twiml") or form.get("Url") or form.get("Status")):
            return twilio_error(400, 21201, "No 'Url' or 'Twiml' provided")
        return 200, json.dumps(twilio_call(account_sid, call_sid)).encode()

    server.form_routes[path] = update
    return path


def twilio_account(account_sid: str, friendly_name: str, status: str = "active") -> dict:
    """The account as Twilio's REST API (GET /2010-04-01/Accounts/{sid}.json) answers for it."""
    now = formatdate(usegmt=True).replace("GMT", "+0000")
    uri = f"/2010-04-01/Accounts/{account_sid}"
    return {"auth_token": "redacted", "date_created": now, "date_updated": now, "friendly_name": friendly_name,
            "owner_account_sid": account_sid, "sid": account_sid, "status": status, "type": "Full",
            "subresource_uris": {"calls": f"{uri}/Calls.json", "recordings": f"{uri}/Recordings.json"},
            "uri": f"{uri}.json"}
