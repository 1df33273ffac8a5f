"""Shared fixtures: a real app on a real SQLite file, the sample knowledge base and orders loaded."""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

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


def make_test_app(overrides: dict):
    """What an operator does: `python -m ivr db upgrade`, then start the app."""
    from ivr import create_app
    from ivr.config import load_settings
    from ivr.cli.db import upgrade_database

    settings = load_settings(**overrides)
    upgrade_database(settings)
    return create_app(settings)


@pytest.fixture
def bare_app(settings_overrides):
    return make_test_app(settings_overrides)


@pytest.fixture
def app(bare_app):
    """The app with the shipped sample knowledge base and orders loaded, as an operator would."""
    from ivr.db import session_scope
    from ivr.kb.loader import load_knowledge_base
    from ivr.orders.lookup import import_orders

    with bare_app.app_context(), session_scope(services(bare_app).sessionmaker) as session:
        load_knowledge_base(session, ROOT / "kb_data")
        import_orders(session, ROOT / "samples" / "orders.csv")
    return bare_app


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
