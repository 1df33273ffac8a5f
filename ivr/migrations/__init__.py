"""Schema migrations (Alembic). A new database is created from the models and stamped at head;
an existing one is upgraded, so a deployment never needs a manual step."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

HERE = Path(__file__).resolve().parent


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision(url: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def prepare_database(engine: Engine) -> None:
    """Create a fresh schema at head, or upgrade an existing one."""
    from ..db import create_all

    url = engine.url.render_as_string(hide_password=False)
    cfg = alembic_config(url)
    with engine.begin() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
        cfg.attributes["connection"] = conn
        if current is None:
            # A new database (or one made before the first release): build it from the models.
            create_all(conn)
            command.stamp(cfg, "head")
        else:
            command.upgrade(cfg, "head")
