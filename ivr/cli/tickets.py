"""`tickets list|show|resolve|export|purge` for scripts and operators."""
from __future__ import annotations

import json

import click

from ..recordings.retention import purge_recordings
from ..tickets.models import Ticket
from ..tickets.queries import (
    STATUS_LABELS,
    TicketError,
    TicketFilter,
    export,
    find_ticket,
    list_tickets,
    set_status,
    ticket_dict,
)
from . import AreaGroup, CLIError
from .context import app_session, load_app


@click.group(cls=AreaGroup, help="voicemail tickets")
def tickets() -> None:
    pass


@tickets.command("list", help="tickets, newest first")
@click.option("--status")
@click.option("--q", help="words in the transcript, number or reference")
@click.option("--limit", type=int, default=50)
@click.option("--json", "as_json", is_flag=True)
def cmd_list(status: str | None, q: str | None, limit: int, as_json: bool) -> int:
    app = load_app()
    try:
        flt = TicketFilter.from_args({"status": status, "q": q, "per_page": limit})
    except TicketError as exc:
        raise CLIError(str(exc)) from None
    with app_session(app) as session:
        page = list_tickets(session, flt)
        rows = [ticket_dict(t) for t in page.tickets]
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no tickets")
    for r in rows:
        text = (r["transcript"] or f"({r['transcript_status']})")[:60]
        status, caller = STATUS_LABELS[r["status"]], r["caller"] or "-"
        print(f"{r['reference']:<8} {status:<18} {caller:<14} {r['created_at'][:16]}  {text}")
    return 0


def _find(session, ident: str):
    ticket = find_ticket(session, ident)
    if ticket is None:
        raise CLIError(f"no ticket {ident!r} (see python -m ivr tickets list)")
    return ticket


@tickets.command("show", help="one ticket with notes, history and the call before it")
@click.argument("ticket")
@click.option("--json", "as_json", is_flag=True)
def cmd_show(ticket: str, as_json: bool) -> int:
    """TICKET: id or reference."""
    app = load_app()
    with app_session(app) as session:
        data = ticket_dict(_find(session, ticket), session, full=True)
    if as_json:
        print(json.dumps(data, indent=2))
        return 0
    print(f"ticket {data['reference']} ({STATUS_LABELS[data['status']]}) from {data['caller'] or 'unknown'} "
          f"at {data['created_at'][:16]}")
    print(f"transcript: {data['transcript'] or '(' + data['transcript_status'] + ')'}")
    for q in data["questions"]:
        print(f"asked: {q['text']} -> {q['article_id'] or 'nothing'} ({q['outcome']})")
    for n in data["notes"]:
        print(f"note by {n['author'] or 'system'} at {n['created_at'][:16]}: {n['body']}")
    return 0


@tickets.command("resolve", help="mark a ticket resolved")
@click.argument("ticket_id", metavar="TICKET")
def cmd_resolve(ticket_id: str) -> int:
    app = load_app()
    with app_session(app) as session:
        ticket = _find(session, ticket_id)
        changed = set_status(session, ticket, "resolved", None)
        ref = ticket.reference
    print(f"ticket {ref} resolved" if changed else f"ticket {ref} was already resolved")
    return 0


@tickets.command("export", help="all tickets (or filtered) as CSV or JSON on stdout")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv")
@click.option("--json", "as_json", is_flag=True, help="the same as --format json")
@click.option("--status")
@click.option("--since", help="YYYY-MM-DD")
def cmd_export(fmt: str, as_json: bool, status: str | None, since: str | None) -> int:
    if as_json:
        fmt = "json"
    app = load_app()
    try:
        flt = TicketFilter.from_args({"status": status, "since": since})
    except TicketError as exc:
        raise CLIError(str(exc)) from None

    with app_session(app) as session:
        rows = session.scalars(flt.query().order_by(Ticket.created_at.desc())).all()
        print(export(rows, fmt), end="")
    return 0


@tickets.command("purge", help="delete recordings older than the retention period (tickets stay)")
@click.option("--days", type=int, help="default: IVR_RECORDING_RETENTION_DAYS")
@click.option("--dry-run", is_flag=True)
@click.option("--json", "as_json", is_flag=True)
def cmd_purge(days: int | None, dry_run: bool, as_json: bool) -> int:
    app = load_app()
    days = days or app.config["IVR_SETTINGS"].recording_retention_days
    if days < 1:
        raise CLIError("no retention period: pass --days N or set IVR_RECORDING_RETENTION_DAYS")
    deleted = purge_recordings(app, days, dry_run=dry_run)
    if as_json:
        print(json.dumps({"days": days, "dry_run": dry_run, "deleted": deleted}, indent=2))
        return 0
    verb = "would delete" if dry_run else "deleted"
    for d in deleted:
        print(f"{verb} the recording of ticket {d['ticket']} ({d['created_at'][:10]}, {d['bytes']} bytes)")
    print(f"{verb} {len(deleted)} recording(s) older than {days} days; tickets and transcripts kept")
    return 0
