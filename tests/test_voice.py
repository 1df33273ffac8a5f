"""One voice per call: every line rendered ahead or within its budget, never <Say> while our renderer
works; Piper beside espeak-ng, run as its own program, with espeak-ng standing in when it fails."""
from __future__ import annotations

import copy
import json
import re
import shutil
from collections import deque
from pathlib import Path

import pytest

from ivr.services import services
from ivr.speech.audio import read_wav
from ivr.tts.render_worker import loudness
from ivr.tts.service import TTSService, piper_version

from .conftest import ACCOUNT_SID, AUTH_TOKEN, ROOT, invoke_cli, make_test_app

PIPER = piper_version() is not None and TTSService(Path("/nonexistent"), engine="piper").engine == "piper"
needs_piper = pytest.mark.skipif(not PIPER, reason="piper-tts and a Piper voice are not installed "
                                                   "(pip install -r requirements-piper.txt)")


def loaded_app(overrides: dict, **extra: str):
    from ivr.db import session_scope
    from ivr.kb.loader import load_knowledge_base
    from ivr.orders.lookup import import_orders

    app = make_test_app({**overrides, "extra": {"IVR_TTS": "on", **extra}})
    with app.app_context(), session_scope(services(app).sessionmaker) as session:
        load_knowledge_base(session, ROOT / "kb_data")
        import_orders(session, ROOT / "samples" / "orders.csv")
    return app


def warm_up(app) -> None:
    readiness = services(app).readiness
    readiness.start(app)
    assert readiness.wait(600), readiness.status()
    assert app.test_client().get("/healthz").status_code == 200


def walk_every_menu(app, caller: str = "+15005550006"):
    """Call the app as Twilio would and take every path: each key a menu announces, silence, a key no
    menu has, each article's title asked as a question, an order number and a callback number typed.
    Yields (what the press was, the TwiML documents the app answered with)."""
    from ivr.flow.menus import announced_keys
    from ivr.simulate.driver import CallDriver, FlaskTransport
    from ivr.tts.service import texts_to_render

    service = services(app).tts
    words = {service.cached_key(t): t for t in texts_to_render(app)}

    def clip_words(url: str) -> str | None:
        found = re.search(r"/audio/([0-9a-f]{32})\.wav", url)
        return words.get(found.group(1)) if found else None

    titles = [a.title for a in services(app).kb.engine.articles] if services(app).kb.engine else []
    first = CallDriver(FlaskTransport(app.test_client()), "http://localhost", AUTH_TOKEN,
                       account_sid=ACCOUNT_SID, caller=caller)
    first.clip_words = clip_words
    step = first.start()
    yield "start", list(first.documents)
    queue = deque([(first, step, 0)])
    seen: set[str] = set()
    asked_questions = False
    while queue:
        driver, step, depth = queue.popleft()
        if step.waiting is None:
            continue
        # One visit per menu and its parameters; answers to different questions share their menus' keys.
        node = step.waiting + " " + re.sub(r"([?&](?:q|rank|sms|checks)=)[^&]*", r"\1N", step.gather.get("action", ""))
        if node in seen:
            continue
        seen.add(node)
        heard = " ".join(step.heard)
        action = step.gather.get("action", "")
        moves: list[tuple[str, str]] = []
        if step.waiting == "gather":
            if "order_number" in action or "order_postcode" in action:
                moves.append(("press", "4512#" if "order_number" in action else "04101#"))
            elif "callback_typed" in action:
                moves.append(("press", "2125550100#"))
            elif "question" in action and not asked_questions:
                asked_questions = True
                moves += [("say", title) for title in titles]
                moves.append(("say", "zorblax gadget thingamajig"))  # matches nothing: the not-found menu
            else:
                moves += [("press", key) for key in sorted(announced_keys(heard))]
                moves.append(("press", "#"))
            moves.append(("silence", ""))
        for kind, value in moves:
            branch = copy.copy(driver)
            branch.documents, branch.heard, branch.dials = [], [], []
            branch._pending = list(driver._pending)
            if kind == "press":
                nxt = branch.press(value)
            elif kind == "say":
                nxt = branch.say(value)
            else:
                nxt = branch.silence()
            yield f"{node} {kind} {value}", branch.documents
            queue.append((branch, nxt, depth + 1))


@pytest.mark.slow  # real espeak-ng or Piper renders at length
def test_every_menu_and_article_is_played_in_our_voice_with_no_say(settings_overrides):
    """With TTS on and warm-up done, no TwiML on any path holds <Say>: every line the flow can speak
    was rendered ahead, and a caller's own sentence (an order read back, a number) within its budget."""
    app = loaded_app(settings_overrides, IVR_TTS_BUDGET_SECONDS="5")
    warm_up(app)
    service = services(app).tts
    said: list[str] = []
    documents = 0
    articles: set[str] = set()
    menus: set[str] = set()
    for what, docs in walk_every_menu(app):
        documents += len(docs)
        for doc in docs:
            menus.update(re.findall(r"(?:/voice/input/|menu=)(\w+)", doc))
            if "<Say" in doc:
                said.append(f"{what}: {re.findall(r'<Say[^>]*>([^<]*)', doc)}")
        articles.update(re.findall(r"(?:\?|&amp;|&)id=([\w-]+)", " ".join(docs)))
    assert not said, "\n".join(said[:20])
    assert service.events["say"] == 0
    # The walk really went everywhere: every menu of the flow, and every article's menu.
    from ivr.flow.states import MENUS

    reached = menus & set(MENUS)
    assert {"main", "topics", "articles", "after_article", "feedback", "after_help", "offer_message",
            "after_order", "callback_confirm", "not_found"} <= reached, reached
    from ivr.kb.models import Article

    session = services(app).sessionmaker()
    try:
        ids = {a.id for a in session.query(Article)}
    finally:
        session.close()
    assert ids <= articles, ids - articles
    assert documents > 200


def test_a_say_fallback_is_logged_counted_and_reported_by_doctor(settings_overrides):
    """Our renderer failing is the one time <Say> speaks: counted, and `doctor` says so."""
    from ivr.simulate.driver import CallDriver, FlaskTransport

    app = make_test_app({**settings_overrides, "extra": {"IVR_TTS": "on", "IVR_TTS_VOICE": "no-such-voice-xyz",
                                                            "IVR_TTS_BUDGET_SECONDS": "5"}})
    driver = CallDriver(FlaskTransport(app.test_client()), "http://localhost", AUTH_TOKEN, account_sid=ACCOUNT_SID)
    driver.start()
    assert any("<Say" in d for d in driver.documents)
    service = services(app).tts
    assert service.events["say"] >= 2
    events = service.recent_events()
    assert sum(n for (kind, reason), n in events.items() if kind == "say" and reason == "render failed") >= 2
    report = {row["check"]: row for row in json.loads(invoke_cli(app, "doctor", "--json").stdout)}
    assert not report["tts"]["ok"] and "spoken with Twilio's <Say>" in report["tts"]["detail"]


def test_cache_key_names_the_engine_and_voice(tmp_path):
    espeak = TTSService(tmp_path, secret="s" * 32)
    assert espeak.key("Hello.") == espeak.key("Hello.", "espeak")
    assert espeak.key("Hello.") != TTSService(tmp_path, secret="s" * 32, voice="gmw/en-gb-x-rp").key("Hello.")
    if PIPER:
        piper = TTSService(tmp_path, secret="s" * 32, engine="piper")
        assert piper.engine == "piper"
        assert piper.key("Hello.") != espeak.key("Hello.")  # a switch of engine re-renders
        assert piper.key("Hello.", "espeak") == espeak.key("Hello.")  # the stand-in is espeak's own clip
        assert piper.key("Hello.") != TTSService(tmp_path, secret="s" * 32, engine="piper", rate=120).key("Hello.")


def test_piper_is_used_only_for_a_language_it_has_a_voice_for(tmp_path):
    assert TTSService(tmp_path, engine="piper", language="ko").engine == "espeak"
    assert TTSService(tmp_path, engine="piper", piper_model=tmp_path / "none.onnx").engine == "espeak"
    assert TTSService(tmp_path, engine="espeak").engine == "espeak"


@pytest.mark.slow  # real espeak-ng or Piper renders at length
@needs_piper
def test_a_real_piper_render_through_our_renderer_is_phone_format_at_espeaks_loudness(tmp_path):
    from .test_tts import wav_header

    text = "Thank you for calling. To ask a question, press 1 or just say it."
    piper = TTSService(tmp_path / "piper", engine="piper")
    espeak = TTSService(tmp_path / "espeak")
    try:
        result = piper.render([text])
        assert result.rendered == 1 and not result.failed and not result.fell_back
        assert espeak.render([text]).rendered == 1
        clip = piper.cached_path(text)
        assert clip is not None and piper.cached_key(text) == piper.key(text)  # Piper's clip, not a stand-in
        data = clip.read_bytes()
        assert wav_header(data) == (7, 1, 8000, 8)
        pcm = read_wav(data)
        assert 2.5 < pcm.seconds < 8.0 and max(abs(pcm.samples)) > 3000
        # Piper ran as its own program, a child of our renderer child: never in this process.
        import sys

        assert not any(name == "piper" or name.startswith("piper.") for name in sys.modules)
        worker = piper._renderer._proc
        children = Path(f"/proc/{worker.pid}/task/{worker.pid}/children").read_text().split()
        cmdlines = [Path(f"/proc/{c}/cmdline").read_bytes().split(b"\0") for c in children]
        assert any(b"piper" in parts for parts in cmdlines)
        # The same loudness as espeak-ng's clip of the same sentence (within 1.5 dB RMS).
        (p_rms, _), (e_rms, _) = loudness(str(clip)), loudness(str(espeak.cached_path(text)))
        assert abs(p_rms - e_rms) < 1.5
        # A second sentence goes to the same long-lived Piper process.
        assert piper.render(["Goodbye."]).rendered == 1
        assert Path(f"/proc/{worker.pid}/task/{worker.pid}/children").read_text().split() == children
    finally:
        piper.close()
        espeak.close()


@pytest.mark.slow  # real espeak-ng or Piper renders at length
@needs_piper
def test_espeak_stands_in_when_piper_fails_and_piper_is_tried_again(tmp_path):
    broken_model = tmp_path / "voice" / "en_US-broken-medium.onnx"
    broken_model.parent.mkdir()
    broken_model.write_bytes(b"not an onnx model")
    shutil.copy(TTSService(tmp_path, engine="piper").piper.config, broken_model.with_name(broken_model.name + ".json"))
    service = TTSService(tmp_path / "cache", engine="piper", piper_model=broken_model)
    try:
        assert service.engine == "piper"
        text = "Your order has shipped."
        result = service.render([text])
        assert result.rendered == 0 and not result.failed and len(result.fell_back) == 1
        assert "piper exited" in result.fell_back[0][1]
        # The caller hears espeak-ng's clip under espeak's key: a fixed Piper renders it again next time.
        assert service.cached_key(text) == service.key(text, "espeak") != service.key(text)
        assert service.events["engine_fallback"] == 1
        assert ("engine_fallback", result.fell_back[0][1][:200]) in service.recent_events()
        again = service.render([text])
        assert again.cached == 0 and len(again.fell_back) == 1  # Piper is tried again, espeak's clip kept
    finally:
        service.close()


@needs_piper
def test_doctor_names_the_engine(settings_overrides):
    app = make_test_app({**settings_overrides, "extra": {"IVR_TTS": "on", "IVR_TTS_ENGINE": "piper"}})
    report = {row["check"]: row for row in json.loads(invoke_cli(app, "doctor", "--json").stdout)}
    assert report["tts"]["ok"] and "Piper" in report["tts"]["detail"]
