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
from ivr.tickets.models import Ticket
from ivr.users.service import create_user

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


@pytest.fixture
def live(app, call):
    """The app served over real HTTP, one voicemail with a transcript and a real recording."""
    from waitress.server import create_server

    from ivr.recordings.store import get_store

    driver = call(caller="+15551234567")
    driver.start()
    driver.press("8")  # the message key
    driver.record(seconds=3)
    raw = subprocess.run(["espeak-ng", "--stdout", "Hello, my blender arrived cracked."], capture_output=True,
                         check=True).stdout
    wav = subprocess.run(["sox", "-t", "wav", "-", "-r", "8000", "-c", "1", "-b", "16", "-t", "wav", "-"],
                         input=raw, capture_output=True, check=True).stdout
    with session_scope(app.extensions["ivr.sessionmaker"]) as s:
        create_user(s, "agent@example.com", "agent", PASSWORD)
        t = s.scalars(select(Ticket)).one()
        t.transcript, t.transcript_confidence, t.transcript_status = "hello my blender arrived cracked", 0.9, "done"
        t.recording_path = get_store(app).save(t.id, t.recording_sid, wav)
        ref = t.reference
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = create_server(app, host="127.0.0.1", port=port, threads=4)
    threading.Thread(target=server.run, daemon=True).start()
    yield f"http://127.0.0.1:{port}", ref
    server.close()


@pytest.fixture
def page():
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--autoplay-policy=no-user-gesture-required"])
        context = browser.new_context(viewport={"width": 390, "height": 844})  # a phone screen
        yield context.new_page()
        browser.close()


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
