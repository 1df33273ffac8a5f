"""Shared fixtures: a real app on a real SQLite file, the sample knowledge base and orders loaded."""
from __future__ import annotations

import atexit
import os
import secrets
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from ivr.kb.models import QuestionAsked
from ivr.services import services

# Tests never read a developer's .env.
os.environ["IVR_ENV_FILE"] = os.devnull

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "2" * 32


@pytest.fixture
def settings_overrides(tmp_path: Path) -> dict:
    return {
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": AUTH_TOKEN,
        "secret_key": secrets.token_hex(16),
        "database_url": f"sqlite:///{tmp_path / 'ivr.db'}",
        "instance_path": tmp_path / "instance",
        # Flow tests read the words the caller hears; TTS tests switch our own audio on.
        "extra": {"IVR_TTS": "off"},
    }


# Template databases, made once per test run: "migrated" is what `db upgrade` makes of a new
# SQLite file; "loaded" is that plus the sample knowledge base and orders. A test's new SQLite
# database starts as a copy of one (a file copy instead of building the schema again).
_TEMPLATES: dict[str, Path] = {}


def _new_sqlite_file(settings) -> Path | None:
    """The SQLite file these settings name, if it is yet to be made (in a folder that exists)."""
    url = make_url(settings.sqlalchemy_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    database = Path(url.database)
    return database if database.parent.is_dir() and not database.exists() else None


def _load_samples(app) -> None:
    from ivr.db import session_scope
    from ivr.kb.loader import load_knowledge_base
    from ivr.orders.lookup import import_orders

    with app.app_context(), session_scope(services(app).sessionmaker) as session:
        load_knowledge_base(session, ROOT / "kb_data")
        import_orders(session, ROOT / "samples" / "orders.csv")


def _template(kind: str) -> Path:
    """The template database `kind` ("migrated" or "loaded"), made on first use."""
    if kind not in _TEMPLATES:
        from ivr.cli.db import upgrade_database
        from ivr.config import load_settings

        folder = Path(tempfile.mkdtemp(prefix=f"ivr-test-{kind}-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        database = folder / "ivr.db"
        overrides = {"twilio_account_sid": ACCOUNT_SID, "twilio_auth_token": AUTH_TOKEN, "secret_key": "t" * 32,
                     "database_url": f"sqlite:///{database}", "instance_path": folder / "instance",
                     "extra": {"IVR_TTS": "off"}}
        if kind == "migrated":
            upgrade_database(load_settings(**overrides))
        else:
            app = make_test_app(overrides)
            _load_samples(app)
            services(app).engine.dispose()
        # Fold the write-ahead log into the file so the file alone is the whole database.
        conn = sqlite3.connect(database)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        assert not Path(f"{database}-wal").exists() or Path(f"{database}-wal").stat().st_size == 0
        _TEMPLATES[kind] = database
    return _TEMPLATES[kind]


def make_test_app(overrides: dict, *, template: str = "migrated"):
    """What an operator does: `python -m ivr db upgrade`, then start the app.

    A new SQLite file starts as a copy of the template database (`template`), so the upgrade
    finds it at head and only checks it; other databases (PostgreSQL) are migrated for real.
    """
    from ivr import create_app
    from ivr.cli.db import upgrade_database
    from ivr.config import load_settings

    settings = load_settings(**overrides)
    database = _new_sqlite_file(settings)
    if database is not None:
        shutil.copyfile(_template(template), database)
    upgrade_database(settings)
    return create_app(settings)


@pytest.fixture
def bare_app(settings_overrides):
    return make_test_app(settings_overrides)


@pytest.fixture
def app(settings_overrides):
    """The app with the shipped sample knowledge base and orders loaded, as an operator would
    (`make run` loads them before it serves). A new SQLite database is a copy of the "loaded"
    template, which holds them already."""
    from ivr.config import load_settings

    if _new_sqlite_file(load_settings(**settings_overrides)) is not None:
        return make_test_app(settings_overrides, template="loaded")
    app = make_test_app(settings_overrides)
    _load_samples(app)
    return app


@pytest.fixture
def call(app):
    """Start a simulated call against the app through the same driver `simulate` uses."""
    from ivr.simulate.driver import CallDriver, FlaskTransport

    def _call(**kwargs) -> CallDriver:
        return CallDriver(FlaskTransport(app.test_client()), "http://localhost", AUTH_TOKEN,
                          account_sid=ACCOUNT_SID, **kwargs)

    return _call


@pytest.fixture
def db(app):
    session = services(app).sessionmaker()
    yield session
    session.close()


@dataclass
class Ran:
    """What a command did, in the shape of subprocess.CompletedProcess."""

    returncode: int
    stdout: str
    stderr: str


def invoke_cli(app, *args: str, obj=None, **kwargs) -> Ran:
    """Run `python -m ivr ARGS` in this process against `app` (real app, real database) with
    Flask's test CLI runner. An unexpected exception is raised, not turned into exit status 1."""
    from ivr.cli import cli

    if obj is not None:
        kwargs["obj"] = obj
    result = app.test_cli_runner().invoke(cli, list(args), **kwargs)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Ran(result.exit_code, result.stdout, result.stderr)


def cli_env(instance_path, **settings) -> dict:
    """Environment for running `python -m ivr ...` as a subprocess: no .env, test credentials,
    TTS off, the given instance folder. A setting given as None is left out."""
    env = {"PATH": "/usr/bin:/bin", "IVR_ENV_FILE": os.devnull, "SECRET_KEY": "s" * 32,
           "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "IVR_TTS": "off",
           "IVR_INSTANCE_PATH": str(instance_path), "HOME": str(instance_path)}
    env.update({k: str(v) for k, v in settings.items() if v is not None})
    return {k: v for k, v in env.items() if settings.get(k, "") is not None}


def cli_app(instance_path, **settings):
    """The app `python -m ivr` builds from the environment cli_env(instance_path, **settings),
    after `python -m ivr db upgrade`: for running commands in this process with invoke_cli."""
    from ivr import create_app
    from ivr.cli.db import upgrade_database
    from ivr.config import load_settings

    loaded = load_settings(cli_env(instance_path, **settings))
    upgrade_database(loaded)
    return create_app(loaded)


def ask(driver, question: str):
    """Start the call, press 1 (ask a question) and say `question`; returns the step it leads to."""
    driver.start()
    driver.press("1")
    return driver.say(question)


def question_asked(db, driver):
    """The one question this call asked, as stored for the learning loop."""
    return db.scalars(select(QuestionAsked).where(QuestionAsked.call_sid == driver.call_sid)).one()


PASSWORD = "correct horse battery"


@pytest.fixture
def staff(app):
    """An admin and an agent who can log in to the dashboard (ids by role)."""
    from ivr.db import session_scope
    from ivr.users.service import create_user

    with session_scope(services(app).sessionmaker) as s:
        admin, _ = create_user(s, "boss@example.com", "admin", PASSWORD)
        agent, _ = create_user(s, "agent@example.com", "agent", PASSWORD)
        return {"admin": admin.id, "agent": agent.id}
