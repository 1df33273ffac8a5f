"""`doctor`: what is live on this box — database, speech engine, voice, knowledge base."""
from __future__ import annotations

import json
import shutil
from collections.abc import Callable

import click

from .. import spool as spool_module
from ..jobs.models import Job
from ..kb.models import KBRevision
from ..language import line_language
from ..recordings.orphans import ORPHAN_AFTER_SECONDS, quarantine_dir, quarantined_captures
from ..recordings.store import captured_dir
from ..services import services
from ..twilio.client import TwilioUnreachable, api_timeout, http_status, twilio_client
from .context import load_app

CHECKS: list[Callable] = []


def check(func: Callable) -> Callable:
    CHECKS.append(func)
    return func


@check
def database(app) -> tuple[str, bool, str]:
    from sqlalchemy import text

    try:
        with services(app).engine.connect() as conn:
            conn.execute(text("select 1"))
        return "database", True, services(app).engine.url.render_as_string(hide_password=True)
    except Exception as exc:  # noqa: BLE001
        return "database", False, str(exc).splitlines()[0]


@check
def speech(app) -> tuple[str, bool, str]:
    settings = app.config["IVR_SETTINGS"]
    if settings.speech == "twilio":
        return "speech", True, "Twilio speech recognition (IVR_SPEECH=twilio)"
    engine = services(app).speech.engine(line_language(settings))
    if engine is None:
        return "speech", False, "Twilio speech recognition (no Vosk model: python -m ivr models download en)"
    return "speech", True, f"Vosk, model {engine.path} (loaded in {engine.load_seconds:.1f}s)"


@check
def voice(app) -> tuple[str, bool, str]:
    found = shutil.which("espeak-ng")
    return "espeak-ng", bool(found), found or "not installed: prompts fall back to Twilio <Say>"


@check
def tts(app) -> tuple[str, bool, str]:
    """Which engine speaks, and how often in the last week a line fell back (<Say>, or espeak-ng for Piper)."""
    settings = app.config["IVR_SETTINGS"]
    if not settings.tts_enabled:
        return "tts", True, "off (IVR_TTS=off): Twilio <Say> speaks every line"
    service = services(app).tts
    events = service.recent_events()
    says = sum(n for (kind, _), n in events.items() if kind == "say")
    fallbacks = sum(n for (kind, _), n in events.items() if kind == "engine_fallback")
    detail = service.engine_note
    ok = service.engine == settings.tts_engine and says == 0 and fallbacks == 0
    if says:
        reasons = ", ".join(f"{reason} {n}" for (kind, reason), n in events.most_common(3) if kind == "say")
        detail += f"; {says} line(s) spoken with Twilio's <Say> in the last 7 days ({reasons})"
    if fallbacks:
        detail += f"; Piper failed {fallbacks} time(s) in the last 7 days (espeak-ng spoke instead)"
    return "tts", ok, detail


@check
def knowledge_base(app) -> tuple[str, bool, str]:
    session = services(app).sessionmaker()
    try:
        state = session.get(KBRevision, 1)
    finally:
        session.close()
    if state is None:
        return "knowledge base", False, "not loaded (python -m ivr kb load)"
    return "knowledge base", True, f"{state.article_count} articles, loaded {state.loaded_at:%Y-%m-%d %H:%M}"


@check
def twilio_credentials(app) -> tuple[str, bool, str]:
    """Ask Twilio's API who we are: proves the account SID and auth token (which also sign webhooks)."""
    from twilio.base.exceptions import TwilioException


    settings = app.config["IVR_SETTINGS"]
    client = twilio_client(settings)
    try:
        with api_timeout(5):
            account = client.api.v2010.accounts(settings.twilio_account_sid).fetch()
    except TwilioUnreachable as exc:
        return "twilio", False, f"could not reach {settings.twilio_api_base}: {exc.reason}"
    except TwilioException as exc:
        if http_status(exc) == 401:
            return "twilio", False, "Twilio refused TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN (HTTP 401)"
        return "twilio", False, f"Twilio answered HTTP {http_status(exc)} for the account"
    except ValueError:  # 200, but not JSON
        return "twilio", False, "account ? is ?"
    status = account.status or "?"
    return "twilio", status == "active", f"account {account.friendly_name or '?'} is {status}"


@check
def public_url(app) -> tuple[str, bool, str]:
    settings = app.config["IVR_SETTINGS"]
    if not settings.public_base_url:
        return ("public URL", False, "PUBLIC_BASE_URL is not set: signatures are checked against the request's own "
                "URL (set it, or IVR_TRUSTED_PROXIES behind a proxy)")
    if not settings.public_base_url.startswith("https://"):
        return "public URL", False, f"{settings.public_base_url} is not https: Twilio should reach you over TLS"
    return "public URL", True, f"{settings.public_base_url}/voice (fallback: {settings.public_base_url}/voice/fallback)"


@check
def people(app) -> tuple[str, bool, str]:
    """Who takes a call when a caller presses 0: opening hours without IVR_TRANSFER_TO reach nobody."""
    from ..hours import HoursError, current_hours

    settings = app.config["IVR_SETTINGS"]
    try:
        hours = current_hours(app)
    except HoursError as exc:
        return "a person", False, f"opening hours unreadable ({settings.hours_path}): {exc}"
    destinations = len(settings.transfer_to)
    if hours is None:
        return ("a person", True, f"no opening hours ({settings.hours_path}): nobody is offered; "
                "callers leave a message or ask for a callback")
    if not destinations:
        return ("a person", False, "opening hours are set but IVR_TRANSFER_TO is empty: nobody is reachable, so "
                "the person key is never offered (callers get a message or a callback)")
    return "a person", True, f"in opening hours, 0 rings {destinations} destination(s) ({settings.transfer_ring})"


@check
def failed_jobs(app) -> tuple[str, bool, str]:
    from sqlalchemy import func, select


    session = services(app).sessionmaker()
    try:
        failed = session.scalar(select(func.count()).select_from(Job).where(Job.status == "failed")) or 0
        queued = session.scalar(select(func.count()).select_from(Job).where(Job.status == "queued")) or 0
    finally:
        session.close()
    detail = f"{failed} failed, {queued} queued"
    return "jobs", failed == 0, detail


@check
def spool(app) -> tuple[str, bool, str]:
    """Writes waiting for the database (voicemail, call logs) and entries set aside as malformed."""

    instance = app.config["IVR_SETTINGS"].instance_path

    def count(path) -> int:
        return sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip()) if path.exists() else 0

    waiting, quarantined = count(spool_module.entries_path(instance)), count(spool_module.quarantine_path(instance))
    if waiting or quarantined:
        return ("spool", False, f"{waiting} write(s) waiting for the database, {quarantined} quarantined "
                f"(see {spool_module.quarantine_path(instance)})")
    return "spool", True, "empty"


@check
def captured_messages(app) -> tuple[str, bool, str]:
    """Stream voicemail on disk not yet in the store (in progress, or waiting for a job or for
    recovery after a crash) and captures set aside as unusable. Only looks; never recovers."""
    import time


    settings = app.config["IVR_SETTINGS"]
    folder = captured_dir(settings)
    now, ages = time.time(), []
    for path in folder.glob("*.wav") if folder.is_dir() else []:
        try:
            ages.append(now - path.stat().st_mtime)
        except FileNotFoundError:  # moved into the store meanwhile
            continue
    idle = sum(1 for a in ages if a >= ORPHAN_AFTER_SECONDS)
    quarantined = len(quarantined_captures(settings))
    detail = f"{len(ages) - idle} being recorded, {idle} idle (ticketed or to recover), {quarantined} quarantined"
    if quarantined:
        detail += f" (see {quarantine_dir(settings)})"
    return "captured", quarantined == 0, detail


@click.command("doctor", help="report which engines are live and what is missing")
@click.option("--json", "as_json", is_flag=True)
def doctor(as_json: bool) -> int:
    app = load_app()
    results = [c(app) for c in CHECKS]
    if as_json:
        print(json.dumps([{"check": n, "ok": ok, "detail": d} for n, ok, d in results], indent=2))
    else:
        for name, ok, detail in results:
            print(f"{'ok  ' if ok else 'WARN'} {name:<15} {detail}")
    return 0
