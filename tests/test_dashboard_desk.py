"""Help-desk basics on the real app: views, bulk actions, the call in words, the business's time zone, users."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from ivr.db import session_scope
from ivr.services import services
from ivr.tickets.models import Ticket
from ivr.users.models import User

from .conftest import ask
from .test_dashboard import csrf_of, leave_voicemail, login


@pytest.fixture
def settings_overrides(settings_overrides):
    return {**settings_overrides, "timezone": "America/New_York"}




def rows_of(html: str) -> list[str]:
    return [chunk.split('"')[0] for chunk in html.split('<tr data-href="/tickets/')[1:]]


def test_views_bulk_actions_and_open_by_default(app, call, staff):
    tickets = [leave_voicemail(app, call, caller=f"+1555000000{n}") for n in range(3)]
    client = app.test_client()
    login(client)
    page = client.get("/tickets").get_data(as_text=True)
    assert sorted(rows_of(page)) == sorted(str(t.id) for t in tickets)
    resp = client.post("/tickets/bulk", data={"csrf_token": csrf_of(page), "action": "assign_me",
                                              "ids": [str(tickets[0].id), str(tickets[1].id)], "back": "/tickets"})
    assert resp.status_code == 302
    assert sorted(rows_of(client.get("/tickets?assignee=me").get_data(as_text=True))) == sorted(
        [str(tickets[0].id), str(tickets[1].id)])
    assert rows_of(client.get("/tickets?assignee=none").get_data(as_text=True)) == [str(tickets[2].id)]
    client.post("/tickets/bulk", data={"csrf_token": csrf_of(page), "action": "resolve", "ids": [str(tickets[0].id)]})
    # Resolved tickets leave the default (open) list but stay under "Everything".
    assert str(tickets[0].id) not in rows_of(client.get("/tickets").get_data(as_text=True))
    assert str(tickets[0].id) in rows_of(client.get("/tickets?status=any").get_data(as_text=True))
    bad = client.post("/tickets/bulk", data={"csrf_token": csrf_of(page), "action": "explode",
                                             "ids": [str(tickets[2].id)]})
    assert "choose what to do" in client.get(bad.headers["Location"]).get_data(as_text=True)
    feed = client.get("/tickets/feed.json").get_json()
    assert feed["newest_id"] == tickets[2].id
    leave_voicemail(app, call)
    assert client.get("/tickets/feed.json").get_json()["signature"] != feed["signature"]


def test_ticket_page_tells_the_call_in_words_with_titles_and_local_time(app, call, staff):
    driver = call(caller="+15559998888")
    ask(driver, "How do I cancel my order?")
    driver.press("8")  # "leave a message" after the answer
    driver.record(seconds=6)
    with session_scope(services(app).sessionmaker) as s:
        ticket = s.scalars(select(Ticket)).one()
        tid, created = ticket.id, ticket.created_at
    client = app.test_client()
    login(client)
    page = client.get(f"/tickets/{tid}").get_data(as_text=True)
    assert "Asked “How do I cancel my order?”: answered; best match “Cancelling an order” (" in page
    assert "Heard the answer “Cancelling an order”" in page
    assert "Left a message: ticket" in page
    assert "cancel-order" not in page.split('id="call-log"')[1]  # titles, not ids
    zone = "EST" if created.month in (1, 2, 3, 11, 12) else "EDT"
    assert f" {zone}" in page and "Times are in America/New_York." in page


def test_web_message_ticket_shows_its_sender_and_text(app, staff):
    with session_scope(services(app).sessionmaker) as s:
        t = Ticket(kind="web", call_sid="web-1", caller="", contact_name="Ann Lee", contact_email="ann@example.com",
                   message="Where is my refund?", reference="AA1")
        s.add(t)
        s.flush()
        tid = t.id
    client = app.test_client()
    login(client)
    page = client.get(f"/tickets/{tid}").get_data(as_text=True)
    assert 'href="mailto:ann@example.com"' in page and '<p id="message">Where is my refund?</p>' in page
    listing = client.get("/tickets?kind=web").get_data(as_text=True)
    assert rows_of(listing) == [str(tid)] and "Web message" in listing


def test_admins_change_roles_and_disable_and_reenable_users(app, staff):
    admin = app.test_client()
    login(admin, email="boss@example.com")
    agent = app.test_client()
    login(agent)
    assert agent.get("/users").status_code == 403
    token = csrf_of(admin.get("/users").get_data(as_text=True))
    admin.post(f"/users/{staff['agent']}/active", data={"csrf_token": token})
    assert agent.get("/tickets").status_code == 302  # disabling ends their session at once
    assert login(app.test_client()).status_code == 401
    admin.post(f"/users/{staff['agent']}/active", data={"csrf_token": token})
    assert login(app.test_client()).status_code == 302
    admin.post(f"/users/{staff['agent']}/role", data={"role": "admin", "csrf_token": token})
    admin.post(f"/users/{staff['admin']}/role", data={"role": "agent", "csrf_token": token})
    with session_scope(services(app).sessionmaker) as s:
        assert {u.email: u.role for u in s.scalars(select(User))} == {"boss@example.com": "agent",
                                                                       "agent@example.com": "admin"}
    assert admin.get("/users").status_code == 403


def test_date_filters_are_the_business_days(app, call, staff):
    from datetime import datetime

    t = leave_voicemail(app, call)
    with session_scope(services(app).sessionmaker) as s:
        s.get(Ticket, t.id).created_at = datetime(2026, 11, 20, 3, 0)  # 22:00 on the 19th in New York
    client = app.test_client()
    login(client)
    assert rows_of(client.get("/tickets?since=2026-11-19&until=2026-11-19").get_data(as_text=True)) == [str(t.id)]
    assert rows_of(client.get("/tickets?since=2026-11-20&until=2026-11-20").get_data(as_text=True)) == []
    page = client.get(f"/tickets/{t.id}").get_data(as_text=True)
    assert "received 2026-11-19 22:00 EST" in page
