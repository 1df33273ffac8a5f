"""`calls list` and `calls show CALL_SID`: what happened in calls, event by event."""
from __future__ import annotations

import argparse
import json

from sqlalchemy import func, select

from ..calls.models import Call, CallEvent
from . import CLIError
from .context import app_session, make_app


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("calls", help="inspect the call log")
    csub = p.add_subparsers(dest="calls_command", required=True, metavar="ACTION")
    ls = csub.add_parser("list", help="recent calls, newest first")
    ls.add_argument("--limit", type=int, default=20)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_list)
    show = csub.add_parser("show", help="every event of one call")
    show.add_argument("call_sid")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=cmd_show)


def cmd_list(args: argparse.Namespace) -> int:
    app = make_app()
    with app_session(app) as session:
        counts = (select(CallEvent.call_sid, func.count(CallEvent.id).label("n"))
                  .group_by(CallEvent.call_sid).subquery())
        rows = session.execute(
            select(Call, counts.c.n).outerjoin(counts, counts.c.call_sid == Call.sid)
            .order_by(Call.started_at.desc()).limit(max(args.limit, 1))
        ).all()
        calls = [{"sid": c.sid, "from": c.from_number, "to": c.to_number, "started_at": c.started_at.isoformat(),
                  "ended_at": c.ended_at.isoformat() if c.ended_at else None, "status": c.status,
                  "events": n or 0} for c, n in rows]
    if args.json:
        print(json.dumps(calls, indent=2))
        return 0
    if not calls:
        print("no calls yet")
    for c in calls:
        print(f"{c['started_at'][:19]}  {c['sid']}  {c['from'] or '-':<16} {c['status']:<12} {c['events']} events")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    app = make_app()
    with app_session(app) as session:
        call = session.get(Call, args.call_sid)
        if call is None:
            raise CLIError(f"no call with sid {args.call_sid!r} (see `python -m ivr calls list`)")
        data = {"sid": call.sid, "from": call.from_number, "to": call.to_number,
                "started_at": call.started_at.isoformat(), "status": call.status,
                "ended_at": call.ended_at.isoformat() if call.ended_at else None,
                "events": [{"at": e.at.isoformat(), "kind": e.kind, "detail": e.detail} for e in call.events]}
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    print(f"call {data['sid']} from {data['from'] or 'unknown'} at {data['started_at'][:19]} ({data['status']})")
    for e in data["events"]:
        detail = ", ".join(f"{k}={v}" for k, v in e["detail"].items() if v not in (None, "", [], {}))
        print(f"  {e['at'][11:19]}  {e['kind']:<14} {detail}")
    return 0
