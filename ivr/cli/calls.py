"""`calls list` and `calls show CALL_SID`: what happened in calls, event by event."""
from __future__ import annotations

import json

import click
from sqlalchemy import func, select

from ..calls.models import Call, CallEvent
from . import AreaGroup, CLIError
from .context import app_session, load_app


@click.group(cls=AreaGroup, help="inspect the call log")
def calls() -> None:
    pass


@calls.command("list", help="recent calls, newest first")
@click.option("--limit", type=int, default=20)
@click.option("--json", "as_json", is_flag=True)
def cmd_list(limit: int, as_json: bool) -> int:
    app = load_app()
    with app_session(app) as session:
        counts = (select(CallEvent.call_sid, func.count(CallEvent.id).label("n"))
                  .group_by(CallEvent.call_sid).subquery())
        rows = session.execute(
            select(Call, counts.c.n).outerjoin(counts, counts.c.call_sid == Call.sid)
            .order_by(Call.started_at.desc()).limit(max(limit, 1))
        ).all()
        calls = [{"sid": c.sid, "from": c.from_number, "to": c.to_number, "started_at": c.started_at.isoformat(),
                  "ended_at": c.ended_at.isoformat() if c.ended_at else None, "status": c.status,
                  "events": n or 0} for c, n in rows]
    if as_json:
        print(json.dumps(calls, indent=2))
        return 0
    if not calls:
        print("no calls yet")
    for c in calls:
        print(f"{c['started_at'][:19]}  {c['sid']}  {c['from'] or '-':<16} {c['status']:<12} {c['events']} events")
    return 0


@calls.command("show", help="every event of one call")
@click.argument("call_sid")
@click.option("--json", "as_json", is_flag=True)
def cmd_show(call_sid: str, as_json: bool) -> int:
    app = load_app()
    with app_session(app) as session:
        call = session.get(Call, call_sid)
        if call is None:
            raise CLIError(f"no call with sid {call_sid!r} (see `python -m ivr calls list`)")
        data = {"sid": call.sid, "from": call.from_number, "to": call.to_number,
                "started_at": call.started_at.isoformat(), "status": call.status,
                "ended_at": call.ended_at.isoformat() if call.ended_at else None,
                "events": [{"at": e.at.isoformat(), "kind": e.kind, "detail": e.detail} for e in call.events]}
    if as_json:
        print(json.dumps(data, indent=2))
        return 0
    print(f"call {data['sid']} from {data['from'] or 'unknown'} at {data['started_at'][:19]} ({data['status']})")
    for e in data["events"]:
        detail = ", ".join(f"{k}={v}" for k, v in e["detail"].items() if v not in (None, "", [], {}))
        print(f"  {e['at'][11:19]}  {e['kind']:<14} {detail}")
    return 0
