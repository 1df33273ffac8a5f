"""Our own voice: prompts and answers rendered with pyttsx3 (espeak-ng) and played with <Play>."""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the audio route and, unless IVR_TTS=off, the speaker that plays rendered clips.

    Cheap on purpose: no engine starts and nothing renders here; rendering is a warm-up task.
    """
    from .routes import bp
    from .service import TTSService

    settings = app.config["IVR_SETTINGS"]
    service = TTSService.from_settings(settings)
    app.extensions["ivr.tts"] = service
    app.register_blueprint(bp)
    if settings.tts_enabled:
        from ..voice.speaker import SaySpeaker
        from .speaker import PlaySpeaker

        app.extensions["ivr.speaker"] = PlaySpeaker(service, SaySpeaker(settings.say_voice, settings.say_language),
                                                    settings.public_base_url, settings.tts_budget_seconds)
        app.extensions["ivr.readiness"].add("prompt audio", render_all)
        app.extensions.setdefault("ivr.kb_reload_hooks", []).append(start_background_render)


def render_all(app: Flask) -> None:
    """Warm-up: every prompt and answer rendered before the service says it is ready."""
    from .service import render_known_texts

    render_known_texts(app)


def start_background_render(app: Flask):
    from .service import render_missing_in_background

    return render_missing_in_background(app)
