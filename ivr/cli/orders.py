"""`orders import FILE.csv`: load order statuses callers can check."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..orders.lookup import OrderImportError, import_orders
from . import CLIError
from .context import app_session, make_app


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("orders", help="manage the orders callers can check")
    osub = p.add_subparsers(dest="orders_command", required=True, metavar="ACTION")
    imp = osub.add_parser("import", help="insert or update orders from a CSV (number,status,detail)")
    imp.add_argument("file", type=Path)
    imp.add_argument("--json", action="store_true", help="print the counts as JSON")
    imp.set_defaults(func=cmd_import)


def cmd_import(args: argparse.Namespace) -> int:
    app = make_app()
    try:
        with app_session(app) as session:
            added, updated = import_orders(session, args.file)
    except OrderImportError as exc:
        raise CLIError(str(exc)) from None
    if args.json:
        print(json.dumps({"added": added, "updated": updated}))
    else:
        print(f"imported {added + updated} order(s): {added} added, {updated} updated")
    return 0
