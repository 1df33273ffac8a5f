"""Fixing the knowledge base from the dashboard, on a temporary copy of kb_data/, and the public help page."""
from __future__ import annotations

import shutil

import pytest
import yaml
from sqlalchemy import select

from ivr.db import session_scope
from ivr.kb.files import FRONT_MATTER_RE, read_knowledge_base
from ivr.kb.models import Article
from ivr.services import services
from ivr.tickets.models import Ticket
from ivr.users.service import create_user

from .conftest import ROOT, ask, question_asked
from .test_dashboard import PASSWORD, csrf_of, login

ODD = "zorblax gadget thingamajig fizzbuzz"


@pytest.fixture
def settings_overrides(settings_overrides, tmp_path):
    kb = tmp_path / "kb_data"
    shutil.copytree(ROOT / "kb_data", kb)
    return {**settings_overrides, "kb_path": kb, "web_message_min_seconds": 0, "web_messages_per_hour": 2}


@pytest.fixture
def staff_client(app):
    with session_scope(services(app).sessionmaker) as s:
        create_user(s, "editor@example.com", "agent", PASSWORD)
    client = app.test_client()
    assert login(client, email="editor@example.com").status_code == 302
    return client


def front(path) -> dict:
    return yaml.safe_load(FRONT_MATTER_RE.match(path.read_text()).group(1))


def form_of(client, url: str) -> dict:
    page = client.get(url).get_data(as_text=True)
    return {"csrf_token": csrf_of(page)}


def test_edit_an_article_writes_the_file_and_the_next_call_hears_it(app, call, staff_client):
    kb = app.config["IVR_SETTINGS"].kb_path
    url = "/kb/articles/opening-hours"
    new_answer = "We are open every day from eight in the morning until eight at night, holidays included."
    data = {**form_of(staff_client, url), "title": "Opening hours", "topic": "contact",
            "keywords": "hours, open, closing", "questions": "When are you open?\nWhat time do you close?",
            "answer": new_answer, "written": "Open **every day**, 8am to 8pm.\n\nHolidays too."}
    resp = staff_client.post(url, data=data)
    assert resp.status_code == 302
    path = kb / "articles" / "opening-hours.md"
    assert FRONT_MATTER_RE.match(path.read_text()).group(2).strip() == new_answer
    assert front(path)["keywords"] == ["hours", "open", "closing"]
    assert (kb / "web" / "opening-hours.md").read_text() == "Open **every day**, 8am to 8pm.\n\nHolidays too.\n"
    read_knowledge_base(kb)  # what was written is a valid knowledge base for `kb load`
    driver = call()
    step = ask(driver, "what time do you close")
    assert new_answer in " ".join(step.heard)
    help_page = app.test_client().get("/help/a/opening-hours").get_data(as_text=True)
    assert "<p>Open **every day**, 8am to 8pm.</p>" in help_page and "<p>Holidays too.</p>" in help_page


def test_invalid_edits_are_refused_with_kb_loads_reasons_and_change_nothing(app, staff_client):
    kb = app.config["IVR_SETTINGS"].kb_path
    path = kb / "articles" / "opening-hours.md"
    before = path.read_text()
    form = form_of(staff_client, "/kb/articles/opening-hours")
    resp = staff_client.post("/kb/articles/opening-hours", data={**form, "title": "", "topic": "nope",
                                                                 "questions": "", "answer": " ".join(["word"] * 300)})
    page = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert "&#39;title&#39; is missing" in page and "topic &#39;nope&#39; is not in topics.yaml" in page
    assert "the answer has 300 words" in page
    assert path.read_text() == before
    resp = staff_client.post("/kb/articles/new", data={**form, "id": "opening-hours", "title": "Again",
                                                       "topic": "contact", "questions": "when", "answer": "Hi."})
    assert resp.status_code == 400 and "already exists" in resp.get_data(as_text=True)
    assert path.read_text() == before


def test_create_and_retire_an_article(app, call, staff_client, db):
    kb = app.config["IVR_SETTINGS"].kb_path
    form = form_of(staff_client, "/kb/articles/new")
    resp = staff_client.post("/kb/articles/new", data={
        **form, "id": "", "title": "Gift wrapping", "topic": "orders", "keywords": "gift wrap, wrapping",
        "questions": "Can you gift wrap my order?\nDo you do gift wrapping?",
        "answer": "Yes: tick gift wrapping at checkout and we wrap it in recycled paper for two dollars."})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/kb/articles/gift-wrapping")
    assert front(kb / "articles" / "gift-wrapping.md")["questions"] == [
        "Can you gift wrap my order?", "Do you do gift wrapping?"]
    step = ask(call(), "can you gift wrap my order")
    assert "recycled paper" in " ".join(step.heard)

    resp = staff_client.post("/kb/articles/gift-wrapping/retire", data=form)
    assert resp.status_code == 302
    assert not (kb / "articles" / "gift-wrapping.md").exists() and (kb / "retired" / "gift-wrapping.md").exists()
    assert db.get(Article, "gift-wrapping") is None
    driver = call()
    step = ask(driver, "can you gift wrap my order")
    assert "recycled paper" not in " ".join(step.heard)


def test_gap_to_answer_in_one_click(app, call, staff_client, db):
    kb = app.config["IVR_SETTINGS"].kb_path
    for _ in range(2):
        driver = call()
        ask(driver, ODD)
        assert question_asked(db, driver).outcome == "declined"
    page = staff_client.get("/kb/gaps").get_data(as_text=True)
    assert f'<td data-label="Question">“{ODD}”' in page and "2 declined" in page and "(suggested," in page
    resp = staff_client.post("/kb/gaps/add", data={"csrf_token": csrf_of(page), "question": ODD,
                                                   "article_id": "warranty"})
    assert resp.status_code == 302
    assert front(kb / "articles" / "warranty.md")["questions"][-1] == ODD
    after = staff_client.get("/kb/gaps").get_data(as_text=True)
    assert "to “Product warranty”" in after and f'<td data-label="Question">“{ODD}”' not in after
    driver = call()
    ask(driver, ODD)
    db.expire_all()
    assert question_asked(db, driver).article_id == "warranty"


def test_try_a_question_says_what_a_caller_would_get_in_words(app, staff_client):
    page = staff_client.get("/kb?q=How+do+I+cancel+my+order").get_data(as_text=True)
    assert "A caller would hear “Cancelling an order”" in page and "% sure" in page
    page = staff_client.get("/kb?q=" + ODD.replace(" ", "+")).get_data(as_text=True)
    assert "A caller would be told we have no answer" in page
    assert "Start a new article from this question" in page


def test_help_page_answers_from_the_same_engine_and_takes_messages(app):
    client = app.test_client()
    home = client.get("/help").get_data(as_text=True)
    assert "Returns and refunds" in home and "Send us a message" in home
    page = client.get("/help?q=how+long+does+a+refund+take").get_data(as_text=True)
    assert "Answers for “how long does a refund take”" in page and "refund" in page.lower()
    page = client.get("/help?q=" + ODD.replace(" ", "+")).get_data(as_text=True)
    assert "We couldn't find an answer" in page and f">{ODD}</textarea>" in page  # the form is prefilled

    def send(**fields):
        form = client.get("/help").get_data(as_text=True)
        stamp = form.split('name="stamp" value="')[1].split('"')[0]
        return client.post("/help/message", data={"csrf_token": csrf_of(form), "stamp": stamp, "name": "Ann Lee",
                                                  "email": "ann@example.com", "message": "My blender is broken.",
                                                  **fields})

    assert send(website="http://spam.example").status_code == 302  # the honeypot: looks fine, stores nothing
    assert send(email="not-an-email").status_code == 400
    assert send(stamp="forged").status_code == 400
    resp = send()
    assert resp.status_code == 302
    done = client.get(resp.headers["Location"]).get_data(as_text=True)
    with session_scope(services(app).sessionmaker) as s:
        tickets = s.scalars(select(Ticket)).all()
        assert [(t.kind, t.contact_name, t.contact_email, t.message, t.status) for t in tickets] == [
            ("web", "Ann Lee", "ann@example.com", "My blender is broken.", "new")]
        assert f"Your reference is {tickets[0].reference}" in done
    assert send().status_code == 302
    limited = send()
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    assert client.post("/help/message", data={"name": "x"}).status_code == 400  # no CSRF token


def test_help_form_sent_too_fast_is_refused(app, settings_overrides):
    from ivr import create_app

    app = create_app({**settings_overrides, "web_message_min_seconds": 30})  # the same database, stricter
    client = app.test_client()
    form = client.get("/help").get_data(as_text=True)
    stamp = form.split('name="stamp" value="')[1].split('"')[0]
    resp = client.post("/help/message", data={"csrf_token": csrf_of(form), "stamp": stamp, "name": "Bot",
                                              "email": "bot@example.com", "message": "Buy cheap things now"})
    assert resp.status_code == 400 and "That was very quick" in resp.get_data(as_text=True)
