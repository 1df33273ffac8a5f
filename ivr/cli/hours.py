"""`hours [--json] [--at TIME]`: is the desk open now, and when does that change?"""
from __future__ import annotations

import json
from datetime import datetime

import click

from ..clock import system_clock
from ..config import load_settings
from ..hours.schedule import HoursError, load_hours
from ..hours.spoken import closed_phrase, open_phrase
from ..prompts import PromptCatalogue, PromptError
from . import CLIError


@click.command("hours", help="whether the desk is open now and when that next changes (kb_data/hours.yaml)")
@click.option("--json", "as_json", is_flag=True, help="print the answer as JSON")
@click.option("--at", metavar="TIME", help="ask about another moment: local time such as '2026-12-24 14:00' "
                                           "(in the hours' timezone) or ISO 8601 with an offset")
def hours(as_json: bool, at: str | None) -> int:
    settings = load_settings()
    try:
        schedule = load_hours(settings.hours_path)
        catalogue = PromptCatalogue.load(settings.prompts_path)
    except HoursError as exc:
        raise CLIError(" | ".join(exc.problems)) from None
    except PromptError as exc:
        raise CLIError(str(exc)) from None
    now = system_clock()
    if at:
        try:
            moment = datetime.fromisoformat(at.strip())
        except ValueError:
            raise CLIError(f"--at {at!r} is not a time such as '2026-12-24 14:00'") from None
        now = moment if moment.tzinfo is not None else moment.replace(tzinfo=schedule.tz)
    status = schedule.status(now)
    status["says"] = closed_phrase(catalogue.text, schedule, now) or open_phrase(catalogue.text, schedule, now)
    status["path"] = str(settings.hours_path)
    if as_json:
        print(json.dumps(status, indent=2))
        return 0
    local = now.astimezone(schedule.tz)
    state = "open" if status["open"] else "closed"
    why = f" ({status['holiday']})" if status["holiday"] and not status["open"] else ""
    print(f"{state} now{why}: {local:%A %Y-%m-%d %H:%M} {schedule.tz.key}")
    if status["next_change"]:
        at = datetime.fromisoformat(status["next_change"])
        print(f"{status['next_change_kind']} {at:%A %Y-%m-%d %H:%M} (in {_until(at - local)})")
    else:
        print(f"stays {state} for at least a year")
    print(f"callers hear: {status['says']}")
    return 0


def _until(delta) -> str:
    minutes = int(delta.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    h, m = divmod(rest, 60)
    parts = (f"{days}d" if days else "", f"{h}h" if h else "", f"{m}m" if m or not (days or h) else "")
    return " ".join(p for p in parts if p)


from .doctor import check  # noqa: E402 - `doctor` reports the hours too


@check
def opening_hours(app) -> tuple[str, bool, str]:
    settings = app.config["IVR_SETTINGS"]
    if not settings.hours_path.exists() and settings.hours_file is None:
        return "opening hours", False, f"no {settings.hours_path}: callers are never put through to a person"
    try:
        hours = load_hours(settings.hours_path)
    except HoursError as exc:
        return "opening hours", False, " | ".join(exc.problems)
    now = system_clock()
    change = hours.next_change(now)
    state = "open" if hours.is_open(now) else "closed"
    until = f"; {change.kind} {change.at:%a %Y-%m-%d %H:%M}" if change else ""
    return "opening hours", True, f"{state} now ({hours.tz.key}){until}"
