"""`tickets list|show|resolve|export|purge` for scripts and operators."""
from __future__ import annotations

import argparse
import json

from ..tickets.queries import STATUS_LABELS, TicketError, TicketFilter, export, find_ticket, list_tickets, set_status, ticket_dict
from . import CLIError
from .context import app_session, make_app


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tickets", help="voicemail tickets")
    tsub = p.add_subparsers(dest="tickets_command", required=True, metavar="ACTION")
    ls = tsub.add_parser("list", help="tickets, newest first")
    for s in (ls,):
        s.add_argument("--status")
        s.add_argument("--q", help="words in the transcript, number or reference")
        s.add_argument("--limit", type=int, default=50)
        s.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_list)
    show = tsub.add_parser("show", help="one ticket with notes, history and the call before it")
    show.add_argument("ticket", help="id or reference")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=cmd_show)
    res = tsub.add_parser("resolve", help="mark a ticket resolved")
    res.add_argument("ticket")
    res.set_defaults(func=cmd_resolve)
    ex = tsub.add_parser("export", help="all tickets (or filtered) as CSV or JSON on stdout")
    ex.add_argument("--format", choices=["csv", "json"], default="csv")
    ex.add_argument("--status")
    ex.add_argument("--since", help="YYYY-MM-DD")
    ex.set_defaults(func=cmd_export)
    pu = tsub.add_parser("purge", help="delete recordings older than the retention period (tickets stay)")
    pu.add_argument("--days", type=int, help="default: IVR_RECORDING_RETENTION_DAYS")
    pu.add_argument("--dry-run", action="store_true")
    pu.add_argument("--json", action="store_true")
    pu.set_defaults(func=cmd_purge)


def cmd_list(args: argparse.Namespace) -> int:
    app = make_app()
    try:
        flt = TicketFilter.from_args({"status": args.status, "q": args.q, "per_page": args.limit})
    except TicketError as exc:
        raise CLIError(str(exc)) from None
    with app_session(app) as session:
        page = list_tickets(session, flt)
        rows = [ticket_dict(t) for t in page.tickets]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no tickets")
    for r in rows:
        text = (r["transcript"] or f"({r['transcript_status']})")[:60]
        print(f"{r['reference']:<8} {STATUS_LABELS[r['status']]:<18} {r['caller'] or '-':<14} {r['created_at'][:16]}  {text}")
    return 0


def _find(session, ident: str):
    ticket = find_ticket(session, ident)
    if ticket is None:
        raise CLIError(f"no ticket {ident!r} (see python -m ivr tickets list)")
    return ticket


def cmd_show(args: argparse.Namespace) -> int:
    app = make_app()
    with app_session(app) as session:
        data = ticket_dict(_find(session, args.ticket), session, full=True)
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    print(f"ticket {data['reference']} ({STATUS_LABELS[data['status']]}) from {data['caller'] or 'unknown'} at {data['created_at'][:16]}")
    print(f"transcript: {data['transcript'] or '(' + data['transcript_status'] + ')'}")
    for q in data["questions"]:
        print(f"asked: {q['text']} -> {q['article_id'] or 'nothing'} ({q['outcome']})")
    for n in data["notes"]:
        print(f"note by {n['author'] or 'system'} at {n['created_at'][:16]}: {n['body']}")
    return 0


def cmd_resolve(args: argparse.Namespace) -> int:
    app = make_app()
    with app_session(app) as session:
        ticket = _find(session, args.ticket)
        changed = set_status(session, ticket, "resolved", None)
        ref = ticket.reference
    print(f"ticket {ref} resolved" if changed else f"ticket {ref} was already resolved")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    app = make_app()
    try:
        flt = TicketFilter.from_args({"status": args.status, "since": args.since})
    except TicketError as exc:
        raise CLIError(str(exc)) from None
    from ..tickets.models import Ticket

    with app_session(app) as session:
        rows = session.scalars(flt.query().order_by(Ticket.created_at.desc())).all()
        print(export(rows, args.format), end="")
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    from ..recordings.retention import purge_recordings

    app = make_app()
    days = args.days or app.config["IVR_SETTINGS"].recording_retention_days
    if days < 1:
        raise CLIError("no retention period: pass --days N or set IVR_RECORDING_RETENTION_DAYS")
    deleted = purge_recordings(app, days, dry_run=args.dry_run)
    if args.json:
        print(json.dumps({"days": days, "dry_run": args.dry_run, "deleted": deleted}, indent=2))
        return 0
    verb = "would delete" if args.dry_run else "deleted"
    for d in deleted:
        print(f"{verb} the recording of ticket {d['ticket']} ({d['created_at'][:10]}, {d['bytes']} bytes)")
    print(f"{verb} {len(deleted)} recording(s) older than {days} days; tickets and transcripts kept")
    return 0
