"""How long a caller listens to us before each point where they can act, on our own rendered audio.

    python bench/call_length.py [--closed] [--no-transfer] [--cache DIR]

Places scripted calls through the real app in this process with our TTS on (real espeak-ng
renders, prepared ahead as `prompts render` would): every clip the caller hears is looked up in
the TTS cache and its WAV duration summed, up to the <Gather>/<Record> where the caller can act.
A line spoken with Twilio's <Say> (a clip we didn't have) is rendered here to measure it and
counted in `say`. An article's own answer and an order's details are content, not prompts: `prompts_s`
is the total without them and `after_s` what follows the last of them (the prompt after an answer).

Prints one line per point: total seconds, prompts, after the content, keys read (as
`menus.announced_keys` finds them) and the target where the issue sets one (menus only: a point
where the caller is asked to press or say something, not a recording).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("IVR_ENV_FILE", os.devnull)
ROOT = Path(__file__).resolve().parent.parent
from ivr.services import services  # noqa: E402 - after the project folder is on the path

NY = ZoneInfo("America/New_York")
# The targets (seconds of our prompts before the caller can act).
TARGETS = {"first turn": 12.0, "main menu repeated": 8.0, "after an answer": 6.0, "another answer": 6.0,
           "picked the second": 6.0}
MENU_TARGET = 10.0


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--closed", action="store_true", help="call on a Sunday (desk closed)")
    p.add_argument("--no-transfer", action="store_true", help="no IVR_TRANSFER_TO (nobody to put calls through to)")
    p.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "ivr-call-length-tts"),
                   help="TTS cache kept between runs (clips are content-addressed)")
    args = p.parse_args()

    from ivr import create_app
    from ivr.cli.db import upgrade_database
    from ivr.cli.simulate import clip_words
    from ivr.config import load_settings
    from ivr.db import session_scope
    from ivr.flow.menus import announced_keys
    from ivr.kb.loader import load_knowledge_base
    from ivr.kb.models import Article
    from ivr.orders.lookup import import_orders
    from ivr.orders.models import Order
    from ivr.simulate.driver import CallDriver, FlaskTransport
    from ivr.speech.audio import read_wav
    from ivr.tts.service import render_known_texts

    sid, token = "AC" + "1" * 32, "2" * 32
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(
            twilio_account_sid=sid, twilio_auth_token=token, secret_key="call-length-bench",
            database_url=f"sqlite:///{tmp}/ivr.db", instance_path=Path(tmp) / "instance", run_worker=False,
            transfer_to=() if args.no_transfer else ("+15550100001",), tts_cache=Path(args.cache),
            extra={"IVR_TTS": "on", "IVR_SPEECH": "twilio"})
        upgrade_database(settings)
        app = create_app(settings)
        when = datetime(2026, 11, 29 if args.closed else 30, 10, 0, tzinfo=NY).astimezone(UTC)
        services(app).clock = lambda: when
        with app.app_context(), session_scope(services(app).sessionmaker) as session:
            load_knowledge_base(session, ROOT / "kb_data")
            import_orders(session, ROOT / "samples" / "orders.csv")
        with app.app_context():
            result = render_known_texts(app)
            print(f"# prerendered: {result.rendered} rendered, {result.cached} cached, {len(result.failed)} failed "
                  f"in {result.seconds:.1f}s", file=sys.stderr)
            session = services(app).sessionmaker()
            answers = {a.answer for a in session.query(Article)} | {o.detail for o in session.query(Order)}
            session.close()
        tts = services(app).tts
        words_of = clip_words(app)
        client = app.test_client()
        rows: list[tuple[str, float, float, float, int, int, bool]] = []

        def seconds_of(text: str, private: bool = False) -> float:
            path = tts.cached_path(text, private) or tts.cached_path(text, not private)
            if path is None:
                tts.render([text])
                path = tts.cached_path(text)
            return read_wav(path.read_bytes()).seconds if path else 0.0

        def measure(name: str, step) -> None:
            total = content = after = 0.0
            says = 0
            words = []
            for item in step.heard:
                if item.endswith(" [audio]"):
                    text = item[:-len(" [audio]")]
                    path = tts.path_for_key(tts.key(text))
                    seconds = read_wav(path.read_bytes()).seconds if path.is_file() else seconds_of(text, True)
                else:
                    text, says = item, says + 1
                    seconds = seconds_of(text)
                total += seconds
                after += seconds
                if text in answers:
                    content += seconds
                    after = 0.0
                else:
                    words.append(text)
            menu = step.waiting == "gather" and bool(announced_keys(" ".join(words)))
            if os.environ.get("CALL_LENGTH_DEBUG"):
                print(name, step.heard, file=sys.stderr)
            rows.append((name, total, total - content, after, len(announced_keys(" ".join(words))), says, menu))

        callers = iter(range(1000))

        def call(caller: str = "") -> CallDriver:
            # A new number for each call unless given: a ticket left earlier makes a returning caller.
            caller = caller or f"+1500555{next(callers):04d}"
            driver = CallDriver(FlaskTransport(client), "http://localhost", token, account_sid=sid, caller=caller)
            driver.clip_words = words_of
            return driver

        with app.app_context():
            d = call()
            measure("first turn", d.start())
            measure("main menu repeated", d.press("9"))
            measure("invalid key at main menu", d.press("7"))
            measure("ask a question", d.press("1"))
            measure("after an answer", d.say("how long does a refund take"))
            measure("another answer", d.press("2"))
            d.hangup()

            d = call()
            d.start()
            d.press("1")
            d.say("how long does a refund take")
            measure("it helped", d.press("1"))
            d.hangup()

            d = call()
            d.start()
            d.press("1")
            measure("choose between two", d.say("where is my parcel"))
            measure("picked the second", d.press("2"))
            d.hangup()

            d = call()
            d.start()
            d.press("1")
            measure("nothing found", d.say("can you recommend a good pizza place"))
            d.hangup()

            d = call()
            d.start()
            measure("question said at the main menu", d.say("do you ship to canada"))
            d.hangup()

            d = call()
            d.start()
            measure("help topics", d.press("2"))
            measure("articles of a topic", d.press("2"))
            measure("browsed article", d.press("1"))
            d.hangup()

            d = call(caller="+15005559006")
            d.start()
            measure("order: number", d.press("3"))
            measure("order: read back", d.press("4512#"))
            step = d.press("1")
            measure("order: look-up", step)
            if "postal" in " ".join(step.heard):
                measure("order: details", d.press("04101#"))
            d.hangup()

            d = call()
            d.start()
            measure("callback: own number", d.press("4"))
            measure("callback: saved", d.press("1"))
            d.hangup()

            d = call()
            d.start()
            measure("a person", d.press("0"))
            d.hangup()

            d = call()
            d.start()
            measure("silence once", d.silence())
            d.silence()
            measure("silence three times", d.silence())
            d.hangup()

            d = call(caller="+15005550099")
            d.start()
            measure("message: intro", d.press("8"))
            measure("message: saved", d.record(seconds=8))
            d.hangup()
            d = call(caller="+15005550099")
            measure("returning caller: first turn", d.start())
            d.hangup()

    width = max(len(r[0]) for r in rows)
    print(f"{'point':<{width}}  total_s  prompts_s  after_s  keys  say  target")
    over = 0
    for name, total, prompts, after, keys, says, menu in rows:
        target = TARGETS.get(name, MENU_TARGET if menu else None)
        measured = after if name in ("after an answer", "another answer", "picked the second") else prompts
        flag = "" if target is None or (measured <= target and keys <= 5) else "  OVER"
        over += bool(flag)
        print(f"{name:<{width}}  {total:7.1f}  {prompts:9.1f}  {after:7.1f}  {keys:4d}  {says:3d}  "
              f"{'' if target is None else f'{target:.0f}'}{flag}")
    print(f"over_target={over}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
