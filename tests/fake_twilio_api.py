"""A local HTTP server standing in for Twilio's REST API (recordings, messages) and a model mirror in tests."""
from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from datetime import datetime, timezone
from email.utils import format_datetime, formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import parse_qs

Route = Callable[[int], tuple[int, bytes]]  # attempt number -> (status, body)


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
                        self.send_response(401)
                        self.end_headers()
                        return
                form_route = server.form_routes.get(path) if self.command == "POST" else None
                if form_route is not None:
                    raw = server.bodies[-1].decode()
                    form = {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}
                    status, body = form_route(form, server.hits[path])
                else:
                    route = server.routes.get(path)
                    status, body = route(server.hits[path]) if route else (404, b"not found")
                self.send_response(status)
                if body[:1] == b"{":
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                server.bodies.append(self.rfile.read(length))
                self._handle()

            do_GET = _handle
            do_DELETE = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> "FakeServer":
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

    @staticmethod
    def _error(status: int, code: int, message: str) -> tuple[int, bytes]:
        return status, json.dumps({"code": code, "message": message, "status": status,
                                   "more_info": f"https://www.twilio.com/docs/errors/{code}"}).encode()

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
    when = format_datetime(created.replace(tzinfo=timezone.utc))  # "Mon, 23 Nov 2026 18:01:02 +0000"
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

        def uri(n: int) -> str:
            return f"{path}?PageSize={size}&Page={n}" + (f"&PageToken=PA{chunk[-1]['sid']}" if n > page and chunk else "")

        body = {"recordings": chunk, "page": page, "page_size": size, "start": page * size,
                "end": page * size + max(len(chunk) - 1, 0), "uri": uri(page), "first_page_uri": uri(0),
                "previous_page_uri": uri(page - 1) if page else None, "next_page_uri": uri(page + 1) if more else None}
        return 200, json.dumps(body).encode()

    server.routes[path] = route
    return path
