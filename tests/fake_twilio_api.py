"""A local HTTP server standing in for Twilio's recording API (and a model mirror) in tests."""
from __future__ import annotations

import base64
import json
import threading
import time
from datetime import datetime, timezone
from email.utils import format_datetime
from urllib.parse import parse_qs
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

Route = Callable[[int], tuple[int, bytes]]  # attempt number -> (status, body)


class FakeServer:
    def __init__(self, auth: tuple[str, str] | None = None):
        self.routes: dict[str, Route] = {}
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
