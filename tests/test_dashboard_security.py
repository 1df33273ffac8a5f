"""Staff access hardening on the real app and database: throttling, logout, cookies, tokens, bad ids, CSV, CSP."""
from __future__ import annotations

import csv
import io
import json
import statistics
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from ivr.db import session_scope, utcnow
from ivr.services import services
from ivr.tickets.models import Ticket
from ivr.users.models import ApiToken, User
from ivr.users.service import issue_token

from .conftest import cli_app, invoke_cli
from .test_dashboard import PASSWORD, csrf_of, leave_voicemail, login


@pytest.fixture
def settings_overrides(settings_overrides):
    return {**settings_overrides, "login_max_failures": 3, "login_max_failures_per_address": 6,
            "login_window_seconds": 600}




def test_an_account_is_locked_after_repeated_failures_even_for_the_right_password(app, staff):
    client = app.test_client()
    for _ in range(3):
        assert login(client, password="wrong password!").status_code == 401
    locked = login(client)  # the right password, but too late
    assert locked.status_code == 429
    assert 500 <= int(locked.headers["Retry-After"]) <= 601
    assert "Too many failed logins" in locked.get_data(as_text=True)
    # Another account from another address is not affected.
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    assert login(other, email="boss@example.com").status_code == 302


def test_one_address_is_limited_across_accounts_and_processes(settings_overrides, staff, app):
    from ivr import create_app

    second_process = create_app(settings_overrides)  # another worker on the same database
    clients = [app.test_client(), second_process.test_client()]
    for n in range(6):
        assert login(clients[n % 2], email=f"nobody{n}@example.com", password="guess guess").status_code == 401
    refused = login(clients[0], email="agent@example.com")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert login(clients[1], email="boss@example.com").status_code == 429
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "203.0.113.50"
    assert login(elsewhere).status_code == 302


def test_unknown_accounts_take_as_long_to_refuse_as_known_ones(settings_overrides, staff):
    from ivr import create_app

    app = create_app({**settings_overrides, "login_max_failures": 100, "login_max_failures_per_address": 100})
    client = app.test_client()
    token = csrf_of(client.get("/login").get_data(as_text=True))

    def timed(email: str) -> float:
        start = time.perf_counter()
        resp = client.post("/login", data={"email": email, "password": "wrong password", "csrf_token": token})
        assert resp.status_code == 401
        return time.perf_counter() - start

    timed("agent@example.com")  # warm up
    known = statistics.median(timed("agent@example.com") for _ in range(5))
    unknown = statistics.median(timed(f"ghost{n}@example.com") for n in range(5))
    # Without the dummy hash an unknown account was refused ~60x faster (2 ms vs 130 ms).
    assert unknown > 0.4 * known, (known, unknown)


def test_logout_ends_the_session_on_the_server_so_a_copied_cookie_stops_working(app, staff):
    client = app.test_client()
    assert login(client).status_code == 302
    stolen = client.get_cookie("session").value
    assert client.get("/tickets").status_code == 200
    token = csrf_of(client.get("/tickets").get_data(as_text=True))
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    thief = app.test_client()
    thief.set_cookie("session", stolen)
    resp = thief.get("/tickets")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_password_change_and_admin_reset_end_other_sessions(app, staff):
    laptop, phone = app.test_client(), app.test_client()
    login(laptop), login(phone)
    page = laptop.get("/account").get_data(as_text=True)
    resp = laptop.post("/account", data={"current_password": PASSWORD, "new_password": "a brand new secret",
                                         "confirm_password": "a brand new secret", "csrf_token": csrf_of(page)})
    assert resp.status_code == 302
    assert laptop.get("/tickets").status_code == 200  # this session carries on
    assert phone.get("/tickets").status_code == 302  # the other one is logged out
    assert login(app.test_client(), password="a brand new secret").status_code == 302
    # An admin resets it: the agent's sessions end and the generated password works.
    admin = app.test_client()
    login(admin, email="boss@example.com")
    page = admin.get("/users").get_data(as_text=True)
    shown = admin.post(f"/users/{staff['agent']}/password", data={"csrf_token": csrf_of(page)}).get_data(as_text=True)
    new_password = shown.split('id="secret">')[1].split("<")[0]
    assert laptop.get("/tickets").status_code == 302
    assert login(app.test_client(), password=new_password).status_code == 302


def test_session_cookie_is_secure_over_https_only(app, staff):
    secure = app.test_client()
    page = secure.get("/login", base_url="https://desk.example.com")
    resp = secure.post("/login", base_url="https://desk.example.com",
                       headers={"Referer": "https://desk.example.com/login"},  # Flask-WTF checks it on https
                       data={"email": "agent@example.com", "password": PASSWORD,
                             "csrf_token": csrf_of(page.get_data(as_text=True))})
    assert resp.status_code == 302
    session_cookie = [c for c in resp.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert session_cookie and "; Secure" in session_cookie[0]
    assert "max-age" in resp.headers["Strict-Transport-Security"]
    http = app.test_client()
    page = http.get("/login")
    resp = http.post("/login", data={"email": "agent@example.com", "password": PASSWORD,
                                     "csrf_token": csrf_of(page.get_data(as_text=True))})
    session_cookie = [c for c in resp.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert session_cookie and "Secure" not in session_cookie[0]


def test_api_tokens_are_listed_revoked_one_by_one_and_expire(app, call, staff):
    leave_voicemail(app, call)
    with session_scope(services(app).sessionmaker) as s:
        agent = s.get(User, staff["agent"])
        _, keep = issue_token(s, agent, "crm")
        revoked_row, drop = issue_token(s, agent, "old-script")
        old_row, old = issue_token(s, agent, "temporary", days=1)
        old_row.expires_at = utcnow() - timedelta(minutes=1)
        revoked_id = revoked_row.id
    client = app.test_client()

    def status(token: str) -> int:
        return client.get("/api/tickets", headers={"Authorization": f"Bearer {token}"}).status_code

    assert (status(keep), status(drop), status(old)) == (200, 200, 401)
    admin = app.test_client()
    login(admin, email="boss@example.com")
    page = admin.get("/users").get_data(as_text=True)
    assert "crm" in page and "old-script" in page and "expired" in page
    assert drop not in page  # secrets are never shown again
    assert admin.post(f"/tokens/{revoked_id}/revoke", data={"csrf_token": csrf_of(page)}).status_code == 302
    assert (status(keep), status(drop)) == (200, 401)
    # A new expiring token from the admin page is shown once and works.
    shown = admin.post("/tokens", data={"user_id": staff["agent"], "name": "nightly", "days": "30",
                                        "csrf_token": csrf_of(page)}).get_data(as_text=True)
    new = shown.split('id="secret">')[1].split("<")[0]
    assert status(new) == 200
    with session_scope(services(app).sessionmaker) as s:
        row = s.scalar(select(ApiToken).where(ApiToken.name == "nightly"))
        assert timedelta(days=29) < row.expires_at - utcnow() <= timedelta(days=30)


def test_out_of_range_ids_and_pages_are_400_or_404_never_500(app, call, staff):
    leave_voicemail(app, call)
    with session_scope(services(app).sessionmaker) as s:
        agent = s.get(User, staff["agent"])
        _, token = issue_token(s, agent, "api")
    api = app.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    huge = "9" * 30
    for path, want in [(f"/api/tickets/{huge}", 404), ("/api/tickets/99999999999999999999", 404),
                       ("/api/tickets/" + "X" * 500, 404), (f"/api/tickets?page={huge}", 400),
                       ("/api/tickets?page=0", 400), ("/api/tickets?per_page=-5", 400),
                       (f"/api/tickets?assignee={huge}", 400), ("/api/no-such-thing", 404)]:
        resp = api.get(path, headers=auth)
        assert resp.status_code == want, path
        assert "error" in resp.get_json(), path
    resp = api.patch("/api/tickets/1", headers=auth, json={"assignee_id": 2**70})
    assert resp.status_code == 400 and "error" in resp.get_json()
    client = app.test_client()
    login(client, email="boss@example.com")
    token_form = csrf_of(client.get("/tickets").get_data(as_text=True))
    for path in [f"/tickets/{huge}", "/tickets/9223372036854775808", f"/tickets/{huge}/audio", "/kb/articles/NOPE",
                 "/kb/articles/no-such-article"]:
        assert client.get(path).status_code == 404, path
    resp = client.get(f"/tickets?page={huge}")
    assert resp.status_code == 302  # back to the list, with a message
    assert "page must be between" in client.get(resp.headers["Location"]).get_data(as_text=True)
    assert client.get(f"/tickets.csv?page={huge}").status_code == 400
    assert client.get(f"/tickets/feed.json?page={huge}").status_code == 400
    for path, data in [(f"/users/{huge}/active", {}), (f"/users/{huge}/role", {"role": "admin"}),
                       (f"/tokens/{huge}/revoke", {}), ("/tokens", {"user_id": huge})]:
        assert client.post(path, data={**data, "csrf_token": token_form}).status_code == 404, path
    resp = client.post("/tickets/1/update", data={"assignee": huge, "csrf_token": token_form})
    assert resp.status_code == 302
    resp = client.post("/tickets/bulk", data={"ids": [huge, "1"], "action": "resolve", "csrf_token": token_form})
    assert resp.status_code == 302
    with session_scope(services(app).sessionmaker) as s:
        assert s.get(Ticket, 1).status == "resolved"


def test_csv_export_neutralises_formula_cells(app, call, staff):
    leave_voicemail(app, call, transcript='=HYPERLINK("http://evil.example","click")')
    leave_voicemail(app, call, transcript="@SUM(A1:A9)")
    leave_voicemail(app, call, transcript="\t-2+3")
    client = app.test_client()
    login(client)
    rows = list(csv.DictReader(io.StringIO(client.get("/tickets.csv").get_data(as_text=True))))
    transcripts = sorted(r["transcript"] for r in rows)
    assert transcripts == sorted(["'=HYPERLINK(\"http://evil.example\",\"click\")", "'@SUM(A1:A9)", "'\t-2+3"])
    assert all(not r["caller"].startswith("+") for r in rows)


def test_pages_forbid_framing_and_inline_script(app, staff):
    client = app.test_client()
    for path in ["/login", "/help"]:
        resp = client.get(path)
        csp = resp.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert resp.headers["X-Frame-Options"] == "DENY"
    login(client)
    assert "frame-ancestors 'none'" in client.get("/tickets").headers["Content-Security-Policy"]


@pytest.mark.slow
def test_users_commands_enable_set_role_reset_password_and_tokens(app, tmp_path, staff):
    url = app.config["IVR_SETTINGS"].sqlalchemy_url
    cli_process = cli_app(tmp_path / "cli", DATABASE_URL=url)  # what python -m ivr builds there

    def cli(*args: str, ok: bool = True):
        done = invoke_cli(cli_process, *args)
        assert (done.returncode == 0) == ok, done.stderr
        return done

    cli("users", "disable", "agent@example.com")
    assert login(app.test_client()).status_code == 401
    cli("users", "enable", "agent@example.com")
    assert login(app.test_client()).status_code == 302
    cli("users", "set-role", "agent@example.com", "admin")
    cli("users", "set-role", "boss@example.com", "agent")
    last = cli("users", "set-role", "agent@example.com", "agent", ok=False)
    assert last.stderr.strip() == "error: this is the last active admin: make someone else admin first"
    out = cli("users", "reset-password", "boss@example.com", "--generate").stdout
    new_password = out.rsplit("new password: ", 1)[1].strip()
    assert login(app.test_client(), email="boss@example.com", password=new_password).status_code == 302
    token = cli("users", "token", "boss@example.com", "--name", "crm", "--expires-days", "7").stdout.strip()
    listed = json.loads(cli("users", "tokens", "--json").stdout)
    assert [(t["name"], t["state"]) for t in listed] == [("crm", "active")] and listed[0]["expires_at"]
    assert token not in json.dumps(listed)
    cli("users", "revoke-token", str(listed[0]["id"]))
    assert app.test_client().get("/api/tickets", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert cli("users", "revoke-token", "999", ok=False).stderr.strip() == "error: no API token with id 999"
