"""`orders import|list|delete`: the orders callers can check (the local table; see ivr/orders/source.py)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ..orders.lookup import OrderImportError, count_orders, delete_orders, import_orders, list_orders
from ..orders.source import OrderSourceError, lookup_order
from . import AreaGroup, CLIError
from .context import app_session, load_app


@click.group(cls=AreaGroup, help="manage the orders callers can check")
def orders() -> None:
    pass


def _note_sql_source(app) -> None:
    if app.config["IVR_SETTINGS"].orders_sql_url:
        print("note: callers' look-ups use IVR_ORDERS_SQL_URL; this is the local orders table", file=sys.stderr)


@orders.command("import", help="insert or update orders from a CSV (number,status,detail[,phone,postcode])")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--if-empty", is_flag=True, help="import only into an empty table (sample data: never over real orders)")
@click.option("--json", "as_json", is_flag=True, help="print the counts as JSON")
def cmd_import(file: Path, if_empty: bool, as_json: bool) -> int:
    app = load_app()
    try:
        with app_session(app) as session:
            existing = count_orders(session)
            added, updated = import_orders(session, file, only_if_empty=if_empty)
    except OrderImportError as exc:
        raise CLIError(str(exc)) from None
    skipped = if_empty and existing > 0
    if as_json:
        print(json.dumps({"added": added, "updated": updated, "skipped": skipped, "existing": existing}))
    elif skipped:
        print(f"not imported: the orders table already has {existing} order(s) (--if-empty)")
    else:
        print(f"imported {added + updated} order(s): {added} added, {updated} updated")
    return 0


@orders.command("list", help="list orders")
@click.option("--status", help="only orders with this status, e.g. shipped")
@click.option("--limit", type=int, default=0, help="at most this many")
@click.option("--json", "as_json", is_flag=True)
def cmd_list(status: str | None, limit: int, as_json: bool) -> int:
    app = load_app()
    _note_sql_source(app)
    with app_session(app) as session:
        rows = [{"number": o.number, "status": o.status, "detail": o.detail, "phone": o.phone,
                 "postcode": o.postcode, "updated_at": o.updated_at.isoformat() if o.updated_at else None}
                for o in list_orders(session, status=status, limit=limit or None)]
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no orders")
    for r in rows:
        guard = " ".join(x for x in (r["phone"] or "", r["postcode"] or "") if x) or "-"
        print(f"{r['number']:>10}  {r['status']:<16}  {guard:<22}  {r['detail']}")
    return 0


@orders.command("delete", help="delete orders by number (or --all)")
@click.argument("numbers", nargs=-1, metavar="NUMBER")
@click.option("--all", "delete_all", is_flag=True, help="delete every order in the table")
@click.option("--json", "as_json", is_flag=True)
def cmd_delete(numbers: tuple[str, ...], delete_all: bool, as_json: bool) -> int:
    if bool(numbers) == bool(delete_all):
        raise CLIError("give order numbers to delete, or --all (not both)")
    app = load_app()
    with app_session(app) as session:
        if delete_all:
            numbers = [o.number for o in list_orders(session)]
        else:
            numbers = list(dict.fromkeys(numbers))
        missing = delete_orders(session, numbers)
        if missing and not delete_all:
            session.rollback()
            raise CLIError(f"no such order(s): {', '.join(missing)} (nothing deleted)")
    deleted = len(numbers) - len(missing)
    if as_json:
        print(json.dumps({"deleted": deleted}))
    else:
        print(f"deleted {deleted} order(s)")
    return 0


from .doctor import check  # noqa: E402 - `doctor` reports where orders and texts come from


@check
def orders_source(app) -> tuple[str, bool, str]:
    settings = app.config["IVR_SETTINGS"]
    with app_session(app) as session:
        if not settings.orders_sql_url:
            return "orders", True, f"{count_orders(session)} order(s) in the local table"
        try:
            lookup_order(app, session, "0000")  # any answer, found or not, proves the query runs
        except OrderSourceError as exc:
            return "orders", False, f"shop database: {exc}"
    from sqlalchemy.engine import make_url

    shown = make_url(settings.orders_sql_url).render_as_string(hide_password=True)
    return "orders", True, f"shop database {shown} (read-only)"


@check
def text_messages(app) -> tuple[str, bool, str]:
    settings = app.config["IVR_SETTINGS"]
    if not settings.sms_enabled:
        return "texts", True, "off (IVR_SMS=off)"
    sender = settings.sms_from or "the number each caller called"
    report = " and delivery reports" if settings.public_base_url else " (set PUBLIC_BASE_URL for delivery reports)"
    return "texts", True, f"sent from {sender} through {settings.twilio_api_base}{report}"
