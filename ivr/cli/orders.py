"""`orders import|list|delete`: the orders callers can check (the local table; see ivr/orders/source.py)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..orders.lookup import OrderImportError, count_orders, delete_orders, import_orders, list_orders
from . import CLIError
from .context import app_session, make_app


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("orders", help="manage the orders callers can check")
    osub = p.add_subparsers(dest="orders_command", required=True, metavar="ACTION")
    imp = osub.add_parser("import", help="insert or update orders from a CSV (number,status,detail[,phone,postcode])")
    imp.add_argument("file", type=Path)
    imp.add_argument("--if-empty", action="store_true",
                     help="import only into an empty table (sample data: never over real orders)")
    imp.add_argument("--json", action="store_true", help="print the counts as JSON")
    imp.set_defaults(func=cmd_import)

    ls = osub.add_parser("list", help="list orders")
    ls.add_argument("--status", help="only orders with this status, e.g. shipped")
    ls.add_argument("--limit", type=int, default=0, help="at most this many")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_list)

    rm = osub.add_parser("delete", help="delete orders by number (or --all)")
    rm.add_argument("numbers", nargs="*", metavar="NUMBER")
    rm.add_argument("--all", action="store_true", help="delete every order in the table")
    rm.add_argument("--json", action="store_true")
    rm.set_defaults(func=cmd_delete)


def _note_sql_source(app) -> None:
    if app.config["IVR_SETTINGS"].orders_sql_url:
        print("note: callers' look-ups use IVR_ORDERS_SQL_URL; this is the local orders table", file=sys.stderr)


def cmd_import(args: argparse.Namespace) -> int:
    app = make_app()
    try:
        with app_session(app) as session:
            existing = count_orders(session)
            added, updated = import_orders(session, args.file, only_if_empty=args.if_empty)
    except OrderImportError as exc:
        raise CLIError(str(exc)) from None
    skipped = args.if_empty and existing > 0
    if args.json:
        print(json.dumps({"added": added, "updated": updated, "skipped": skipped, "existing": existing}))
    elif skipped:
        print(f"not imported: the orders table already has {existing} order(s) (--if-empty)")
    else:
        print(f"imported {added + updated} order(s): {added} added, {updated} updated")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    app = make_app()
    _note_sql_source(app)
    with app_session(app) as session:
        rows = [{"number": o.number, "status": o.status, "detail": o.detail, "phone": o.phone,
                 "postcode": o.postcode, "updated_at": o.updated_at.isoformat() if o.updated_at else None}
                for o in list_orders(session, status=args.status, limit=args.limit or None)]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no orders")
    for r in rows:
        guard = " ".join(x for x in (r["phone"] or "", r["postcode"] or "") if x) or "-"
        print(f"{r['number']:>10}  {r['status']:<16}  {guard:<22}  {r['detail']}")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    if bool(args.numbers) == bool(args.all):
        raise CLIError("give order numbers to delete, or --all (not both)")
    app = make_app()
    with app_session(app) as session:
        if args.all:
            numbers = [o.number for o in list_orders(session)]
        else:
            numbers = list(dict.fromkeys(args.numbers))
        missing = delete_orders(session, numbers)
        if missing and not args.all:
            session.rollback()
            raise CLIError(f"no such order(s): {', '.join(missing)} (nothing deleted)")
    deleted = len(numbers) - len(missing)
    if args.json:
        print(json.dumps({"deleted": deleted}))
    else:
        print(f"deleted {deleted} order(s)")
    return 0


from .doctor import check  # noqa: E402 - `doctor` reports where orders and texts come from


@check
def orders_source(app) -> tuple[str, bool, str]:
    from ..orders.source import OrderSourceError, lookup_order

    settings = app.config["IVR_SETTINGS"]
    with app_session(app) as session:
        if not settings.orders_sql_url:
            return "orders", True, f"{count_orders(session)} order(s) in the local table"
        try:
            lookup_order(app, session, "0000")  # any answer, found or not, proves the query runs
        except OrderSourceError as exc:
            return "orders", False, f"shop database: {exc}"
    from sqlalchemy.engine import make_url

    return "orders", True, f"shop database {make_url(settings.orders_sql_url).render_as_string(hide_password=True)} (read-only)"


@check
def text_messages(app) -> tuple[str, bool, str]:
    settings = app.config["IVR_SETTINGS"]
    if not settings.sms_enabled:
        return "texts", True, "off (IVR_SMS=off)"
    sender = settings.sms_from or "the number each caller called"
    report = " and delivery reports" if settings.public_base_url else " (set PUBLIC_BASE_URL for delivery reports)"
    return "texts", True, f"sent from {sender} through {settings.twilio_api_base}{report}"
