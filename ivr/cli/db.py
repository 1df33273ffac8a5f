"""`db upgrade` / `db current`: the schema, migrated once under a lock however many processes start."""
from __future__ import annotations

import json

import click

from ..config import load_settings
from ..db import make_engine
from ..migrations import current_revision, head_revision, upgrade
from . import AreaGroup
from .context import load_migrated_app


@click.group(cls=AreaGroup, help="database schema: upgrade to the code's revision, or show it")
def db() -> None:
    pass


def upgrade_database(settings) -> tuple[str | None, str | None]:
    if settings.sqlalchemy_url.startswith("sqlite"):
        settings.instance_path.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.sqlalchemy_url)
    try:
        return upgrade(engine)
    finally:
        engine.dispose()


@db.command("upgrade", help="create or migrate the schema to head (safe to run from many processes at once)")
@click.option("--json", "as_json", is_flag=True, help="print the result as JSON")
def cmd_upgrade(as_json: bool) -> int:
    _, before, after = load_migrated_app()
    if as_json:
        print(json.dumps({"before": before, "after": after, "head": head_revision()}))
    elif before == after:
        print(f"database schema already at {after}")
    else:
        print(f"database schema upgraded from {before or 'nothing'} to {after}")
    return 0


@db.command("current", help="show the database's revision and the code's")
@click.option("--json", "as_json", is_flag=True, help="print the result as JSON")
def cmd_current(as_json: bool) -> int:
    engine = make_engine(load_settings().sqlalchemy_url)
    try:
        current = current_revision(engine)
    finally:
        engine.dispose()
    head = head_revision()
    if as_json:
        print(json.dumps({"current": current, "head": head, "up_to_date": current == head}))
    else:
        behind = "" if current == head else " (run python -m ivr db upgrade)"
        print(f"database at {current or 'nothing'}, code at {head}{behind}")
    return 0 if current == head else 1
