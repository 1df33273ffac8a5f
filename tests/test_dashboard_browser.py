"""A staff member in a real headless Chromium (Debian's), driven by Playwright, on the real service."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading

import pytest
from sqlalchemy import select

from ivr.db import session_scope
from ivr.services import services
from ivr.tickets.models import Ticket
from ivr.users.service import create_user

from .conftest import ROOT

pytestmark = pytest.mark.slow  # a real Chromium on the real service

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PASSWORD = "correct horse battery"

if not os.path.exists(CHROMIUM) and not os.environ.get("CI"):
    pytest.skip("Debian's chromium is not installed (scripts/bootstrap --dev installs it)", allow_module_level=True)

try:
    from playwright import sync_api
except ImportError:
    if os.environ.get("CI"):
        raise
    pytest.skip("playwright is not installed (scripts/bootstrap --dev installs it)", allow_module_level=True)


def serve(app) -> tuple[str, object]:
    """The app over real HTTP on a free port (waitress, as `make run` without streaming)."""
    from waitress.server import create_server

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = create_server(app, host="127.0.0.1", port=port, threads=4)
    threading.Thread(target=server.run, daemon=True).start()
    return f"http://127.0.0.1:{port}", server


@pytest.fixture
def settings_overrides(settings_overrides, tmp_path):
    kb = tmp_path / "kb_data"  # pages edit the knowledge base: never the repository's own files
    shutil.copytree(ROOT / "kb_data", kb)
    return {**settings_overrides, "kb_path": kb, "web_message_min_seconds": 1}


@pytest.fixture
def live(app, call):
    """The app served over real HTTP, one voicemail with a transcript and a real recording."""
    from ivr.recordings.store import get_store

    driver = call(caller="+15551234567")
    driver.start()
    driver.press("8")  # the message key
    driver.record(seconds=3)
    raw = subprocess.run(["espeak-ng", "--stdout", "Hello, my blender arrived cracked."], capture_output=True,
                         check=True).stdout
    wav = subprocess.run(["sox", "-t", "wav", "-", "-r", "8000", "-c", "1", "-b", "16", "-t", "wav", "-"],
                         input=raw, capture_output=True, check=True).stdout
    with session_scope(services(app).sessionmaker) as s:
        create_user(s, "agent@example.com", "agent", PASSWORD)
        create_user(s, "boss@example.com", "admin", PASSWORD)
        t = s.scalars(select(Ticket)).one()
        t.transcript, t.transcript_confidence, t.transcript_status = "hello my blender arrived cracked", 0.9, "done"
        t.recording_path = get_store(app).save(t.id, t.recording_sid, wav)
        ref = t.reference
    base, server = serve(app)
    yield base, ref
    server.close()


@pytest.fixture(scope="session")
def browser():
    """One Chromium for the whole session; each test gets a fresh context (cookies, viewport)."""
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--autoplay-policy=no-user-gesture-required"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, accept_downloads=True)  # a phone screen
    context.set_default_timeout(15000)
    yield context.new_page()
    context.close()


def log_in(page, base: str, email: str = "agent@example.com") -> None:
    page.goto(base + "/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)


def test_staff_member_works_a_voicemail_in_the_browser(live, page):
    base, ref = live
    page.goto(base + "/tickets")
    assert "/login" in page.url  # anonymous: sent to log in
    page.fill("input[name=email]", "agent@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.fill("input[name=q]", "blender")
    page.click("text=Filter")
    page.click(f"text={ref}")
    assert page.inner_text("#transcript") == "hello my blender arrived cracked"
    # The audio element loads and plays the real recording.
    page.eval_on_selector("audio", "a => { a.muted = true; return a.play(); }")
    page.wait_for_function("document.querySelector('audio').readyState >= 2", timeout=15000)
    duration = page.eval_on_selector("audio", "a => a.duration")
    assert 1.0 < duration < 10.0
    page.fill("textarea[name=body]", "Called back, replacement on its way.")
    page.click("text=Add note")
    assert "Called back, replacement on its way." in page.content()
    page.select_option("select[name=status]", "resolved")
    page.click("text=Save")
    assert "Ticket updated." in page.content() and "Resolved" in page.inner_text("h1")
    page.click("text=Log out")
    assert "/login" in page.url
    page.goto(base + "/tickets")
    assert "/login" in page.url


def test_insights_charts_count_the_calls_placed(live, page, app, call, tmp_path):
    from .test_insights import ODD, place_calls

    base, _ = live
    want = place_calls(app, call)  # five more calls; the live fixture's voicemail call makes six
    log_in(page, base)
    page.click("text=Insights")
    assert page.inner_text("#fig-calls") == str(want["calls"] + 1)
    assert page.get_attribute("#chart-day", "data-total") == str(want["calls"] + 1)
    bars = page.eval_on_selector_all("#chart-hour rect.bar", "rs => rs.map(r => Number(r.dataset.value))")
    assert len(bars) == 24 and sum(bars) == want["calls"] + 1
    heights = page.eval_on_selector_all("#chart-hour rect.bar", "rs => rs.map(r => r.getBoundingClientRect().height)")
    assert max(heights) > 20  # drawn, not just present in the markup
    outcomes = dict(page.eval_on_selector_all(
        "#chart-outcomes rect.bar", "rs => rs.map(r => [r.dataset.label, Number(r.dataset.value)])"))
    assert outcomes["Solved by the phone line"] == want["contained"]
    assert outcomes["Hung up before an answer"] == want["abandoned"]
    assert outcomes["Handed to a person (message, callback, transfer)"] == want["escalated"] + 1
    unanswered = page.eval_on_selector_all("#chart-unanswered rect.bar", "rs => rs.map(r => r.dataset.label)")
    assert unanswered == [ODD]
    with page.expect_download() as download:
        page.click("#h-per_day ~ p a")
    rows = (tmp_path / "per-day.csv")
    download.value.save_as(rows)
    assert sum(int(line.split(",")[1]) for line in rows.read_text().splitlines()[1:]) == want["calls"] + 1


def test_a_declined_question_is_fixed_from_gaps_in_one_click(live, page, app, call, db):
    from ivr.kb.models import Article

    from .conftest import ask, question_asked
    from .test_insights import ODD

    base, _ = live
    first = call()
    ask(first, ODD)
    assert question_asked(db, first).outcome == "declined"
    log_in(page, base)
    page.click("text=Gaps")
    row = page.locator("#gaps tr", has_text=ODD)
    suggested = row.locator("select[name=article_id]").input_value()
    row.locator("text=Add phrasing").click()
    page.wait_for_selector("text=callers asking that now get this answer")
    assert page.locator("#gaps tr", has_text=ODD).count() == 0
    kb = app.config["IVR_SETTINGS"].kb_path
    assert ODD in (kb / "articles" / f"{suggested}.md").read_text()
    answer = db.get(Article, suggested).answer
    step = ask(call(), ODD)
    assert answer in " ".join(step.heard)


def test_an_article_edited_in_the_browser_is_written_and_spoken(live, page, app, call):
    from .conftest import ask

    base, _ = live
    log_in(page, base)
    page.click("text=Knowledge base")
    page.fill("#try-q", "what time do you close")
    page.click("text=Try it")
    assert "A caller would hear" in page.inner_text("#verdict")
    page.click("#candidates a >> nth=0")
    new_answer = "From Monday to Saturday we are open nine to six, and on Sunday ten to four."
    page.fill("textarea[name=answer]", new_answer)
    page.click("text=Save")
    page.wait_for_selector("text=callers hear the new answer now")
    slug = page.url.rsplit("/", 1)[1]
    text = (app.config["IVR_SETTINGS"].kb_path / "articles" / f"{slug}.md").read_text()
    assert text.rstrip().endswith(new_answer)
    step = ask(call(), "what time do you close")
    assert new_answer in " ".join(step.heard)


def test_ticket_list_shows_a_new_voicemail_without_a_reload_and_keys_move(live, page, app, call):
    base, ref = live
    log_in(page, base)
    page.goto(base + "/tickets")
    page.evaluate("window.__same_document = true")  # gone if the page reloads
    driver = call(caller="+15557654321")
    driver.start()
    driver.press("8")
    driver.record(seconds=5)
    with session_scope(services(app).sessionmaker) as s:
        new_ref = s.scalars(select(Ticket.reference).where(Ticket.call_sid == driver.call_sid)).one()
    page.wait_for_selector(f"#ticket-rows >> text={new_ref}", timeout=20000)
    assert page.evaluate("window.__same_document") is True
    assert "new ticket" in page.inner_text("#live")
    page.keyboard.press("j")
    page.keyboard.press("j")
    assert page.get_attribute("#ticket-rows tr.current", "data-id") is not None
    page.keyboard.press("Enter")
    page.wait_for_url("**/tickets/*")
    first = page.url
    page.keyboard.press("k")
    page.wait_for_url(lambda url: url != first)
    assert ref in page.inner_text("h1") or new_ref in page.inner_text("h1")


def test_public_help_page_answers_and_its_form_makes_a_web_ticket(live, page, app):
    base, _ = live
    page.goto(base + "/help")
    page.fill("#q", "how long does a refund take")
    page.click("text=Search")
    assert "Answers for" in page.inner_text("#results-h")
    assert page.locator("#results article.answer").count() >= 1
    page.fill("#m-name", "Ann Lee")
    page.fill("#m-email", "ann@example.com")
    page.fill("#m-message", "My refund has not arrived after two weeks.")
    page.wait_for_timeout(1100)  # the form refuses anything sent within a second of loading (bots)
    page.click("text=Send message")
    page.wait_for_selector("text=Your reference is")
    with session_scope(services(app).sessionmaker) as s:
        ticket = s.scalars(select(Ticket).where(Ticket.kind == "web")).one()
        assert (ticket.contact_email, ticket.message) == ("ann@example.com", "My refund has not arrived after two weeks.")
        assert ticket.reference in page.inner_text("[role=status]")


PAGES = ["/login", "/tickets", "/tickets/1", "/kb", "/kb?q=where+is+my+order", "/kb/articles/where-is-my-order",
         "/kb/articles/new", "/kb/gaps", "/insights", "/users", "/account", "/help",
         "/help?q=how+do+i+return+something", "/help/a/how-to-return"]


def test_every_page_fits_a_phone_and_a_desktop(live, browser, app, call, tmp_path):
    from .test_insights import place_calls

    base, _ = live
    place_calls(app, call)
    shots = tmp_path / "screens"
    shots.mkdir()
    for width in (390, 1280):
        context = browser.new_context(viewport={"width": width, "height": 900})
        page = context.new_page()
        for path in PAGES:
            if path == "/tickets":
                log_in(page, base, "boss@example.com")
            page.goto(base + path)
            name = path.strip("/").replace("/", "_").replace("?", "_").replace("=", "_") or "root"
            page.screenshot(path=str(shots / f"{width}-{name}.png"), full_page=True)
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{path} is {overflow}px too wide at {width}px"
            wide = page.evaluate("""() => [...document.querySelectorAll('body *')]
                .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
                .map(e => e.tagName + (e.id ? '#' + e.id : ''))""")
            assert wide == [], f"{path} at {width}px: {wide[:5]}"
        context.close()
