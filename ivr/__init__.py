"""Self-hosted IVR: a phone number that answers from a knowledge base and takes voicemail tickets."""
from __future__ import annotations

import importlib
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
    "ivr.insights",
    "ivr.help",
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
    if settings.trusted_proxies:
        # Only the configured number of proxies may tell us the client's scheme, host and address;
        # with none configured, X-Forwarded-* headers are ignored (anyone could send them).
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n)  # type: ignore[method-assign]

    settings.instance_path.mkdir(parents=True, exist_ok=True)

    from .readiness import Readiness

    app.extensions["ivr.readiness"] = Readiness()

    from . import db

    from .migrations import check_schema

    engine = db.make_engine(settings.sqlalchemy_url, settings.db_lock_timeout)
    check_schema(engine)  # migrating is `python -m ivr db upgrade`'s job, under a lock
    app.extensions["ivr.engine"] = engine
    app.extensions["ivr.sessionmaker"] = sessionmaker(engine, expire_on_commit=False)
    app.teardown_appcontext(db.close_session)

    from .kb import embedding, service as kb_service
    from .prompts import PromptCatalogue

    embedding.configure_model_dir(settings.kb_embedding_model)
    app.extensions["ivr.readiness"].add("knowledge base index", kb_service.warm_up)

    app.extensions["ivr.prompts"] = PromptCatalogue.load(settings.prompts_path)

    if not settings.validate_twilio_signature:
        app.logger.warning(
            "TWILIO_VALIDATE_SIGNATURE is off: anyone who can reach this server can pose as Twilio"
        )

    for name in APP_EXTENSIONS:
        importlib.import_module(name).init_app(app)

    @app.get("/healthz")
    def healthz() -> tuple[dict[str, object], int]:
        """200 once warm-up (index, model, prompt audio) is done; 503 "starting" until then."""
        body = app.extensions["ivr.readiness"].status()
        return body, 200 if body["status"] == "ok" else 503

    return app
