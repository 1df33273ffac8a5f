"""`doctor`: what is live on this box — database, speech engine, voice, knowledge base."""
from __future__ import annotations

import argparse
import json
import shutil
from typing import Callable

CHECKS: list[Callable] = []


def check(func: Callable) -> Callable:
    CHECKS.append(func)
    return func


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="report which engines are live and what is missing")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_doctor)


@check
def database(app) -> tuple[str, bool, str]:
    from sqlalchemy import text

    try:
        with app.extensions["ivr.engine"].connect() as conn:
            conn.execute(text("select 1"))
        return "database", True, app.extensions["ivr.engine"].url.render_as_string(hide_password=True)
    except Exception as exc:  # noqa: BLE001
        return "database", False, str(exc).splitlines()[0]


@check
def speech(app) -> tuple[str, bool, str]:
    from ..speech.engine import get_engine

    settings = app.config["IVR_SETTINGS"]
    if settings.speech == "twilio":
        return "speech", True, "Twilio speech recognition (IVR_SPEECH=twilio)"
    engine = get_engine(settings, settings.say_language.split("-")[0])
    if engine is None:
        return "speech", False, "Twilio speech recognition (no Vosk model: python -m ivr models download en)"
    return "speech", True, f"Vosk, model {engine.path} (loaded in {engine.load_seconds:.1f}s)"


@check
def voice(app) -> tuple[str, bool, str]:
    found = shutil.which("espeak-ng")
    return "espeak-ng", bool(found), found or "not installed: prompts fall back to Twilio <Say>"


@check
def knowledge_base(app) -> tuple[str, bool, str]:
    from ..kb.models import KBRevision

    session = app.extensions["ivr.sessionmaker"]()
    try:
        state = session.get(KBRevision, 1)
    finally:
        session.close()
    if state is None:
        return "knowledge base", False, "not loaded (python -m ivr kb load)"
    return "knowledge base", True, f"{state.article_count} articles, loaded {state.loaded_at:%Y-%m-%d %H:%M}"


def cmd_doctor(args: argparse.Namespace) -> int:
    from .context import make_app

    app = make_app()
    results = [c(app) for c in CHECKS]
    if args.json:
        print(json.dumps([{"check": n, "ok": ok, "detail": d} for n, ok, d in results], indent=2))
    else:
        for name, ok, detail in results:
            print(f"{'ok  ' if ok else 'WARN'} {name:<15} {detail}")
    return 0
