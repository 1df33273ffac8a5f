"""A local HTTP server standing in for Twilio's REST API (recordings, messages) and a model mirror in tests."""
from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from email.utils import formatdate
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
        self.bodies: list[bytes] = []
        self.auth = auth
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _handle(self):
                path = self.path.split("?")[0]
                server.hits[path] = server.hits.get(path, 0) + 1
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
                if body[:1] in (b"{", b"["):
                    self.send_header("Content-Type", "application/json")
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
