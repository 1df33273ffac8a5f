"""`db upgrade` / `db current`: the schema, migrated once under a lock however many processes start."""
from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("db", help="database schema: upgrade to the code's revision, or show it")
    dsub = p.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    up = dsub.add_parser("upgrade", help="create or migrate the schema to head (safe to run from many processes at once)")
    up.add_argument("--json", action="store_true", help="print the result as JSON")
    up.set_defaults(func=cmd_upgrade)
    cur = dsub.add_parser("current", help="show the database's revision and the code's")
    cur.add_argument("--json", action="store_true", help="print the result as JSON")
    cur.set_defaults(func=cmd_current)


def upgrade_database(settings) -> tuple[str | None, str | None]:
    from ..db import make_engine
    from ..migrations import upgrade

    if settings.sqlalchemy_url.startswith("sqlite"):
        settings.instance_path.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.sqlalchemy_url)
    try:
        return upgrade(engine)
    finally:
        engine.dispose()


def cmd_upgrade(args: argparse.Namespace) -> int:
    from ..config import load_settings
    from ..migrations import head_revision

    before, after = upgrade_database(load_settings())
    if args.json:
        print(json.dumps({"before": before, "after": after, "head": head_revision()}))
    elif before == after:
        print(f"database schema already at {after}")
    else:
        print(f"database schema upgraded from {before or 'nothing'} to {after}")
    return 0


def cmd_current(args: argparse.Namespace) -> int:
    from ..config import load_settings
    from ..db import make_engine
    from ..migrations import current_revision, head_revision

    engine = make_engine(load_settings().sqlalchemy_url)
    try:
        current = current_revision(engine)
    finally:
        engine.dispose()
    head = head_revision()
    if args.json:
        print(json.dumps({"current": current, "head": head, "up_to_date": current == head}))
    else:
        print(f"database at {current or 'nothing'}, code at {head}" + ("" if current == head else " (run python -m ivr db upgrade)"))
    return 0 if current == head else 1
