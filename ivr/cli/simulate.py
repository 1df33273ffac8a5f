"""`simulate`: call the IVR from a terminal, hearing what a caller would hear.

Type keys (e.g. `1`, `4512#`), a sentence to say it, nothing to stay silent, `hangup` to end.
While recording, type a number of seconds (or press enter) to leave a message.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import click

from ..config import load_settings
from ..services import services
from ..simulate.driver import CallDriver, CallError, FlaskTransport, HttpTransport, Step
from ..simulate.media_stream import NotStreamed, StreamCaller
from ..simulate.stream_call import Transcript, espeak_voice, run_stream_call, save_call
from ..simulate.twiml_check import TwimlError
from . import CLIError
from .context import load_app
from .serve import start_background

KEYS_RE = re.compile(r"^[0-9*#]+$")


def _turns(script: str | None) -> Iterator[str]:
    if script is not None:
        for turn in script.split(";"):
            print(f"> {turn}")
            yield turn.strip()
        yield "hangup"
        return
    while True:
        try:
            yield input("> ").strip()
        except EOFError:
            yield "hangup"
            return


def run_call(driver: CallDriver, turns: Iterator[str], out: Callable[[str], None] = print) -> Step:
    step = driver.start()
    while True:
        for line in step.heard:
            out(f"  IVR: {line}")
        for destinations in step.dialled:
            out(f"  [Twilio dials {', '.join(destinations)}: nobody answers in this simulation]")
        if step.waiting is None:
            out(f"[call ended: {step.ended}]")
            return step
        hint = "recording... type seconds or press enter" if step.waiting == "record" else (
            "press keys" + (" or say something" if "speech" in step.gather.get("input", "") else ""))
        out(f"[{hint}; empty = silence, 'hangup' to end]")
        turn = next(turns)
        if turn.lower() in {"hangup", "quit", "exit", "bye"}:
            driver.hangup()
            out("[you hung up]")
            return step
        if step.waiting == "record":
            step = driver.record(int(turn) if turn.isdigit() else 10)
        elif not turn:
            step = driver.silence()
        elif KEYS_RE.match(turn) and "dtmf" in step.gather.get("input", "dtmf"):
            step = driver.press(turn)
        else:
            step = driver.say(turn)


@click.command("simulate", help="place a pretend call in this terminal")
@click.option("--url", help="base URL of a running service (default: run the app in this process)")
@click.option("--from", "caller", default="+15005550006", help="caller's number")
@click.option("--script", help="caller turns separated by ';' instead of typing, e.g. '1;how do I return something;1'")
@click.option("--vosk", is_flag=True,
              help="in-process only: keep the Vosk question path (questions must then be recorded)")
@click.option("--stream", is_flag=True,
              help="call over Twilio Media Streams: sentences are spoken with espeak-ng, keys sent as dtmf")
@click.option("--save", metavar="CALL.WAV", help="with --stream: keep the call's audio (both sides) here")
def simulate(url: str | None, caller: str, script: str | None, vosk: bool, stream: bool, save: str | None) -> int:
    if stream:
        return cmd_simulate_stream(url, caller, script, save)
    if save:
        raise CLIError("--save needs --stream (over TwiML, Twilio holds the audio)")
    if url:
        app = None

        settings = load_settings()
        transport, base = HttpTransport(), url
    else:
        from dataclasses import replace


        app = load_app()
        settings = app.config["IVR_SETTINGS"]
        if not vosk:
            # Typed text stands for what Twilio's recogniser heard; there is no audio to transcribe.
            settings = replace(settings, speech="twilio")
            app.config["IVR_SETTINGS"] = settings
        transport, base = FlaskTransport(app.test_client()), settings.public_base_url or "http://localhost"
    driver = CallDriver(transport, base, settings.twilio_auth_token, account_sid=settings.twilio_account_sid,
                        caller=caller, api_base=settings.twilio_api_base)
    if app is not None:
        driver.clip_words = clip_words(app)
    print(f"calling {base}/voice as {caller} (call {driver.call_sid})")
    try:
        run_call(driver, _turns(script))
    except (CallError, TwimlError) as exc:
        raise CLIError(f"the service answered something Twilio would reject: {exc}") from None
    except OSError as exc:
        raise CLIError(f"cannot reach {base}: {exc}") from None
    print(f"see the log: python -m ivr calls show {driver.call_sid}")
    return 0


def cmd_simulate_stream(url: str | None, caller_number: str, script: str | None, save: str | None) -> int:
    """The call over a Media Stream, to this process's app on a real socket or to --url."""
    import threading
    from pathlib import Path


    words: Transcript | None = None
    server = None
    if url:
        settings = load_settings()
        base = url
    else:
        from werkzeug.serving import make_server


        app = load_app()
        settings = app.config["IVR_SETTINGS"]
        words = Transcript()
        services(app).stream_tap = words
        start_background(app, with_worker=settings.run_worker)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, name="simulate-server", daemon=True).start()
        base = f"http://127.0.0.1:{server.server_port}"
    caller = StreamCaller(base, settings.twilio_auth_token, settings.twilio_account_sid, caller=caller_number)
    print(f"calling {base}/voice as {caller_number} over a media stream (call {caller.call_sid})")
    try:
        run_stream_call(caller, _turns(script), voice=espeak_voice(settings.say_language), words=words)
    except NotStreamed:
        raise CLIError("the service answered with TwiML, not a media stream: is a Vosk model installed for "
                       f"{settings.say_language} (python -m ivr models download) and IVR_STREAM on?") from None
    except OSError as exc:
        raise CLIError(f"cannot reach {base}: {exc}") from None
    finally:
        caller.close()
        if server is not None:
            server.shutdown()
    if save:
        seconds = save_call(caller, Path(save))
        print(f"saved {seconds:.1f} s of the call to {save}")
    print(f"see the log: python -m ivr calls show {caller.call_sid}")
    return 0


def clip_words(app) -> Callable[[str], str | None]:
    """The sentence behind a clip URL: the app in this process notes each sentence it speaks."""
    service = services(app).tts
    spoken: dict[str, str] = {}
    inner = services(app).speaker

    class NotingSpeaker:
        def speak(self, container, text: str, *, private: bool = False) -> None:
            spoken[service.key(text)] = text
            inner.speak(container, text, private=private)

    services(app).speaker = NotingSpeaker()
    return lambda url: spoken.get(url.rsplit("/", 1)[-1].split(".", 1)[0])
