"""Self-hosted IVR: a phone number that answers from a knowledge base and takes voicemail tickets."""
from __future__ import annotations

import importlib
import logging
from typing import Any, Mapping

from flask import Flask
from sqlalchemy.orm import sessionmaker

from .config import Settings, load_settings

__all__ = ["create_app"]

# Packages with `init_app(app)` that add routes or services (blueprints, the speaker, ...).
APP_EXTENSIONS: list[str] = [
    "ivr.voice",
    "ivr.tts",
    "ivr.dashboard",
    "ivr.api",
    "ivr.stream",
]


def create_app(config: Settings | Mapping[str, Any] | None = None) -> Flask:
    """Build the Flask app. `config` is a Settings object or overrides on top of the environment."""
    if isinstance(config, Settings):
        settings = config
    else:
        settings = load_settings(**dict(config or {}))

    app = Flask(__name__, instance_path=str(settings.instance_path), instance_relative_config=False)
    app.config["IVR_SETTINGS"] = settings
    app.config["SECRET_KEY"] = settings.secret_key
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_SECURE"] = settings.public_base_url.startswith("https://")
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)

    settings.instance_path.mkdir(parents=True, exist_ok=True)

    from . import db

    from .migrations import prepare_database

    engine = db.make_engine(settings.sqlalchemy_url)
    prepare_database(engine)
    app.extensions["ivr.engine"] = engine
    app.extensions["ivr.sessionmaker"] = sessionmaker(engine, expire_on_commit=False)
    app.teardown_appcontext(db.close_session)

    from .prompts import PromptCatalogue

    app.extensions["ivr.prompts"] = PromptCatalogue.load(settings.prompts_path)

    if not settings.validate_twilio_signature:
        app.logger.warning(
            "TWILIO_VALIDATE_SIGNATURE is off: anyone who can reach this server can pose as Twilio"
        )

    for name in APP_EXTENSIONS:
        importlib.import_module(name).init_app(app)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
