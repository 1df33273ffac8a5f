"""Self-hosted IVR: a phone number that answers from a knowledge base and takes voicemail tickets."""
from __future__ import annotations

from typing import Any, Mapping

from flask import Flask
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.orm import sessionmaker
from werkzeug.middleware.proxy_fix import ProxyFix

from . import dashboard, db, registry
from .config import Settings, load_settings
from .flow.menus import menu_texts_to_prerender
from .flow.states.ask import choice_lines_to_prerender
from .hours import HoursCache
from .kb import embedding, service as kb_service
from .kb.service import EngineHolder
from .migrations import check_schema
from .prompts import PromptCatalogue
from .readiness import Readiness
from .services import EXTENSION_KEY, Services, services
from .speech.policy import SpeechPolicy
from .stream import warm_speech
from .tts import render_all, start_background_render
from .tts.service import TTSService
from .twiml.play import PlaySpeaker
from .twiml.speaker import SaySpeaker
from .language import line_language

__all__ = ["create_app", "services"]


def create_app(config: Settings | Mapping[str, Any] | None = None) -> Flask:
    """Build the Flask app. `config` is a Settings object or overrides on top of the environment.

    Cheap on purpose: nothing loads, renders or indexes here; that is warm-up work (readiness),
    run by a long-lived server before it says it is ready.
    """
    settings = config if isinstance(config, Settings) else load_settings(**dict(config or {}))

    app = Flask(__name__, instance_path=str(settings.instance_path), instance_relative_config=False)
    app.config["IVR_SETTINGS"] = settings
    app.config["SECRET_KEY"] = settings.secret_key
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_SECURE"] = settings.public_base_url.startswith("https://")
    if settings.trusted_proxies:
        # Only the configured number of proxies may tell us the client's scheme, host and address;
        # with none configured, X-Forwarded-* headers are ignored (anyone could send them).
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n)  # type: ignore[method-assign]

    settings.instance_path.mkdir(parents=True, exist_ok=True)

    engine = db.make_engine(settings.sqlalchemy_url, settings.db_lock_timeout)
    check_schema(engine)  # migrating is `python -m ivr db upgrade`'s job, under a lock
    app.teardown_appcontext(db.close_session)
    embedding.configure_model_dir(settings.kb_embedding_model)

    tts = TTSService.from_settings(settings)
    say = SaySpeaker(settings.say_voice, settings.say_language)
    svc = Services(
        settings=settings,
        engine=engine,
        sessionmaker=sessionmaker(engine, expire_on_commit=False),
        readiness=Readiness(),
        prompts=PromptCatalogue.load(settings.prompts_path),
        speech=SpeechPolicy(settings),
        tts=tts,
        kb=EngineHolder(),
        hours=HoursCache(),
        jobs=registry.job_table(),
        speaker=(PlaySpeaker(tts, say, settings.public_base_url, settings.tts_budget_seconds)
                 if settings.tts_enabled else say),
        prerender=[menu_texts_to_prerender, choice_lines_to_prerender],
    )
    app.extensions[EXTENSION_KEY] = svc

    # Warm-up, in order, before a long-lived server says it is ready (see ivr/readiness.py).
    svc.readiness.add("knowledge base index", kb_service.warm_up)
    if settings.tts_enabled:
        svc.readiness.add("prompt audio", render_all)
        svc.kb_reload_hooks.append(start_background_render)
    if svc.speech.serves(line_language(settings)):
        svc.readiness.add("speech model", warm_speech)

    if not settings.validate_twilio_signature:
        app.logger.warning(
            "TWILIO_VALIDATE_SIGNATURE is off: anyone who can reach this server can pose as Twilio"
        )

    dashboard.init_app(app)
    svc.csrf = CSRFProtect(app)
    for blueprint in registry.BLUEPRINTS:
        app.register_blueprint(blueprint)
    for blueprint in registry.CSRF_EXEMPT:
        svc.csrf.exempt(blueprint)

    @app.get("/healthz")
    def healthz() -> tuple[dict[str, object], int]:
        """200 once warm-up (index, model, prompt audio) is done; 503 "starting" until then."""
        body = svc.readiness.status()
        return body, 200 if body["status"] == "ok" else 503

    return app
