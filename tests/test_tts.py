"""Our own voice, rendered for real with pyttsx3 + espeak-ng and served over HTTP."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from datetime import UTC
from pathlib import Path

import pytest

from ivr.services import services
from ivr.speech.audio import read_wav
from ivr.tts.service import TTSService
from ivr.tts.spoken import spell_out_digits, spoken_reference

from .conftest import ACCOUNT_SID, AUTH_TOKEN, ROOT, cli_app, cli_env, invoke_cli


@pytest.fixture
def tts(tmp_path):
    service = TTSService(tmp_path / "tts")
    yield service
    service.close()


def wav_header(data: bytes) -> tuple[int, int, int, int]:
    """(format tag, channels, rate, bits) straight from the RIFF header."""
    import struct

    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    pos = 12
    while pos < len(data):
        cid, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        if cid == b"fmt ":
            tag, ch, rate, _, _, bits = struct.unpack("<HHIIHH", data[pos + 8:pos + 24])
            return tag, ch, rate, bits
        pos += 8 + size + (size & 1)
    raise AssertionError("no fmt chunk")


def test_render_is_8khz_mono_mulaw_of_plausible_length(tts):
    short, long_ = "Goodbye.", "Thank you for calling. To ask a question, press 1. To browse help topics, press 2."
    result = tts.render([short, long_])
    assert result.rendered == 2 and not result.failed
    a, b = (tts.cached_path(t).read_bytes() for t in (short, long_))
    assert wav_header(a) == (7, 1, 8000, 8) == wav_header(b)
    sa, sb = read_wav(a).seconds, read_wav(b).seconds
    assert 0.3 < sa < 2.0 and 3.0 < sb < 12.0  # ~2.5 words a second
    assert sb > 4 * sa
    assert max(abs(read_wav(b).samples)) > 3000  # not silence


def test_second_render_hits_the_cache(tts):
    text = "Your message is saved."
    tts.render([text])
    path = tts.cached_path(text)
    mtime = path.stat().st_mtime_ns
    again = tts.render([text])
    assert (again.rendered, again.cached) == (0, 1)
    assert path.stat().st_mtime_ns == mtime


def test_key_changes_with_text_voice_and_rate(tmp_path):
    a = TTSService(tmp_path)
    assert a.key("Hello.") == a.key("  Hello.  ")
    assert a.key("Hello.") != a.key("Hello there.")
    assert a.key("Hello.") != TTSService(tmp_path, rate=120).key("Hello.")
    assert a.key("Hello.") != TTSService(tmp_path, voice="gmw/en-gb-x-rp").key("Hello.")


def test_clip_keys_depend_on_the_secret_so_a_sentence_cannot_be_guessed(tmp_path):
    """Without SECRET_KEY nobody can compute the URL of "order 4512 has shipped" and test it."""
    import hashlib
    import json

    from ivr.tts.service import FORMAT

    one, two = TTSService(tmp_path, secret="s" * 32), TTSService(tmp_path, secret="t" * 32)
    sentence = "Order four five one two has shipped."
    assert one.key(sentence) != two.key(sentence)
    unkeyed = hashlib.sha256(json.dumps([sentence, one.voice, one.rate, one.volume, FORMAT,
                                         one.engine_version]).encode()).hexdigest()[:32]
    assert one.key(sentence) not in {unkeyed, two.key(sentence)}


def test_private_clips_are_served_today_and_deleted_after_the_day(tmp_path):
    from datetime import datetime, timedelta

    tts = TTSService(tmp_path, secret="s" * 32)
    text = "Your reference is K X 17."
    assert tts.render([text], private=True).rendered == 1
    key = tts.key(text)
    path = tts.path_for_key(key)
    assert path.is_file() and "private" in path.parts
    assert tts.cached_path(text) is not None  # found by key, whichever folder it is in
    assert tts.purge_private() == 0  # today's stay
    assert tts.purge_private(datetime.now(UTC) + timedelta(days=1, hours=1)) == 1
    assert not path.exists() and tts.cached_path(text) is None


def test_renderer_failure_is_reported_with_cause(tmp_path):
    bad = TTSService(tmp_path, voice="no-such-voice-xyz")
    result = bad.render(["Hello."])
    assert result.rendered == 0 and result.failed and result.failed[0][1]
    assert bad.cached_path("Hello.") is None


def test_one_renderer_child_serves_every_render_and_runs_niced(tts):
    tts.render(["First sentence."])
    child = tts._renderer._proc
    assert child is not None and child.poll() is None
    tts.render(["Second sentence."], private=True)
    assert tts._renderer._proc is child  # no new Python + pyttsx3 start per sentence
    nice = int(Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()[16])
    assert nice > 0  # renders yield the CPU to webhooks


def test_the_renderer_outlives_the_thread_that_started_it(tts):
    """Warm-up, background and request threads come and go; the child must not go with them."""
    import threading
    import time

    thread = threading.Thread(target=tts.render, args=(["Started from a short-lived thread."],))
    thread.start()
    thread.join()
    child = tts._renderer._proc
    time.sleep(0.5)
    assert child.poll() is None
    assert tts.render(["Rendered after that thread ended."]).rendered == 1
    assert tts._renderer._proc is child


def test_a_render_past_its_deadline_kills_the_child_and_the_next_render_works(tts):
    tts.render(["Warm up."])
    first = tts._renderer._proc
    late = tts.render([" ".join(["A long sentence that takes a while to say."] * 20)], timeout=0.05)
    assert late.rendered == 0 and "did not finish" in late.failed[0][1]
    assert first.poll() is not None  # killed, not left running
    again = tts.render(["After the timeout."])
    assert again.rendered == 1 and tts.cached_path("After the timeout.") is not None


def test_the_renderer_child_dies_with_its_parent(tmp_path):
    """A killed web worker (kill -9) must not leave renderer processes behind."""
    import os
    import signal
    import time

    script = ("import sys; from pathlib import Path; from ivr.tts.service import TTSService; "
              f"s = TTSService(Path({str(tmp_path)!r})); s.render(['Hello.']); "
              "print(s._renderer._proc.pid, flush=True); import time; time.sleep(60)")
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(10)
        def running() -> bool:  # a zombie has exited; only its (gone) parent's reaper is missing
            try:
                return Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
            except (FileNotFoundError, ProcessLookupError):
                return False

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and running():
            time.sleep(0.05)
        assert not running()
    finally:
        parent.kill()


def test_spoken_numbers():
    assert spell_out_digits("4512") == "4 5 1 2"
    assert spoken_reference("AB12") == "A B 12"


@pytest.fixture
def tts_app(settings_overrides):
    from .conftest import make_test_app

    return make_test_app({**settings_overrides, "extra": {"IVR_TTS": "on"}})


def _played(app) -> list[str]:
    from ivr.simulate.driver import CallDriver, FlaskTransport

    driver = CallDriver(FlaskTransport(app.test_client()), "http://localhost", AUTH_TOKEN, account_sid=ACCOUNT_SID)
    return [re.search(r"/audio/[0-9a-f]{32}\.wav", h).group(0) for h in driver.start().heard
            if h.startswith("[audio ")]


def main_menu_sentence(catalogue) -> str:
    """The main menu as a call without a person to reach reads it (the flow builds it from these lines)."""
    items = [catalogue.text(pid, key=key) for pid, key in (("choice_ask", "1"), ("choice_topics", "2"),
                                                             ("choice_order", "3"), ("choice_callback", "4"),
                                                             ("choice_message", "8"))]
    return catalogue.text("menu_say_or_press",
                          choices=catalogue.text("choices_or", items=", ".join(items[:-1]), last=items[-1]))


def test_calls_play_our_audio_and_changed_text_changes_the_url(tts_app, settings_overrides, tmp_path):
    from .conftest import make_test_app

    catalogue = services(tts_app).prompts
    service = services(tts_app).tts
    menu = main_menu_sentence(catalogue)  # the main menu's choices, read in one sentence
    service.render([menu, catalogue.text("greeting", business="Northwind Goods")])
    urls = _played(tts_app)
    assert f"/audio/{service.key(menu)}.wav" in urls
    client = tts_app.test_client()
    assert all(client.get(url).status_code == 200 for url in urls)
    # An operator rewords the main menu: the call plays a new clip, never the old words' audio.
    prompts = tmp_path / "prompts"
    shutil.copytree(ROOT / "prompts", prompts)
    catalogue_file = prompts / "catalogue.yaml"
    catalogue_file.write_text(catalogue_file.read_text().replace(menu.split(",")[0], "Here is what I can do"))
    changed = make_test_app({**settings_overrides, "prompts_path": prompts, "extra": {"IVR_TTS": "on"}})
    new_menu = main_menu_sentence(services(changed).prompts)
    assert new_menu != menu
    services(changed).tts.render([new_menu])
    new_urls = _played(changed)
    assert f"/audio/{service.key(new_menu)}.wav" in new_urls
    assert f"/audio/{service.key(menu)}.wav" not in new_urls


def test_audio_route_headers_head_ranges_and_traversal(tts_app):
    service = services(tts_app).tts
    service.render(["Thank you for calling."])
    key = service.key("Thank you for calling.")
    data = service.path_for_key(key).read_bytes()
    client = tts_app.test_client()
    resp = client.get(f"/audio/{key}.wav")
    assert resp.status_code == 200 and resp.data == data
    assert resp.headers["Content-Type"] == "audio/wav"
    assert int(resp.headers["Content-Length"]) == len(data)
    assert "immutable" in resp.headers["Cache-Control"] and key in resp.headers["ETag"]
    head = client.head(f"/audio/{key}.wav")
    assert head.status_code == 200 and head.data == b"" and int(head.headers["Content-Length"]) == len(data)
    part = client.get(f"/audio/{key}.wav", headers={"Range": "bytes=10-109"})
    assert part.status_code == 206 and part.data == data[10:110]
    assert part.headers["Content-Range"] == f"bytes 10-109/{len(data)}"
    assert client.get(f"/audio/{key}.wav", headers={"If-None-Match": f'"{key}"'}).status_code == 304
    for bad in ("/audio/../../etc/passwd", "/audio/..%2F..%2Fivr.db", "/audio/" + "0" * 32 + ".wav",
                "/audio/%2e%2e%2fsecret.wav", "/audio/" + key[:-1] + "g.wav"):
        assert client.get(bad).status_code == 404


def test_renderer_failure_falls_back_to_say_in_a_real_call(settings_overrides):
    from ivr.simulate.driver import CallDriver, FlaskTransport

    from .conftest import make_test_app

    app = make_test_app({**settings_overrides, "extra": {"IVR_TTS": "on", "IVR_TTS_VOICE": "no-such-voice-xyz"}})
    driver = CallDriver(FlaskTransport(app.test_client()), "http://localhost", AUTH_TOKEN, account_sid=ACCOUNT_SID)
    step = driver.start()
    text = " ".join(step.heard)
    assert "Thanks for calling Northwind Goods" in text and "[audio" not in text
    assert step.waiting == "gather"


def prompts_cli(tmp_path, *args, **env_extra):
    env = cli_env(tmp_path, **env_extra)
    return subprocess.run([sys.executable, "-m", "ivr", "prompts", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow  # renders every menu with the real renderer
def test_prompts_check_passes_on_the_shipped_catalogue(tmp_path):
    proc = prompts_cli(tmp_path, "check")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_prompts_check_catches_a_missing_id(tmp_path):
    import yaml

    catalogue = yaml.safe_load((ROOT / "prompts" / "catalogue.yaml").read_text())
    del catalogue["prompts"]["order_ask"]
    catalogue["prompts"]["never_used_prompt"] = {"text": "Nobody says this."}
    catalogue["prompts"]["rambling"] = {"text": " ".join(["word"] * 120)}
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "catalogue.yaml").write_text(yaml.safe_dump(catalogue))
    proc = prompts_cli(tmp_path, "check", "--json", IVR_PROMPTS_PATH=str(tmp_path / "prompts"))
    assert proc.returncode == 1
    import json

    report = json.loads(proc.stdout)
    assert "order_ask" in report["missing"]
    assert "never_used_prompt" in report["unused"] and "rambling" in report["too_long"]


@pytest.mark.slow
def test_prompts_check_measures_every_menu_on_rendered_audio(tmp_path):
    """The shipped menus keep their budgets; a prompt after an answer that grows past six seconds fails."""
    import json

    import yaml

    proc = prompts_cli(tmp_path, "check", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    rows = {(r["menu"], r["variant"]): r for r in report["menus"]}
    assert rows[("first turn", "person")]["seconds"] <= 12 and rows[("feedback", "texting")]["seconds"] <= 6
    assert all(r["seconds"] > 0 for r in report["menus"])  # measured on audio, not counted in words

    catalogue = yaml.safe_load((ROOT / "prompts" / "catalogue.yaml").read_text())
    catalogue["prompts"]["did_that_help"]["text"] = (
        "Did that answer help you today, or would you like to hear something else about it?")
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "catalogue.yaml").write_text(yaml.safe_dump(catalogue))
    proc = prompts_cli(tmp_path, "check", IVR_PROMPTS_PATH=str(tmp_path / "prompts"))
    assert proc.returncode == 1
    assert "menu over its budget: feedback (texting)" in proc.stdout


@pytest.mark.slow
def test_prompts_render_command(tmp_path):
    import json

    env = {"IVR_TTS_CACHE": str(tmp_path / "cache")}
    app = cli_app(tmp_path, **env)
    assert invoke_cli(app, "kb", "load").returncode == 0
    first = invoke_cli(app, "prompts", "render", "--json")
    assert first.returncode == 0, first.stderr
    data = json.loads(first.stdout)
    assert data["rendered"] > 60 and data["failed"] == 0
    second = json.loads(invoke_cli(app, "prompts", "render", "--json").stdout)
    assert second["rendered"] == 0 and second["cached"] == data["rendered"] + data["cached"]
    assert len(list((tmp_path / "cache").rglob("*.wav"))) == data["rendered"]
