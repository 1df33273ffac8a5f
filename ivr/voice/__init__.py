"""The call flow: Twilio Voice webhooks answered with TwiML."""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from .fallback import bp as fallback_bp
    from .routes import bp
    from .speaker import SaySpeaker

    from .menus import menu_lines_to_prerender

    settings = app.config["IVR_SETTINGS"]
    app.extensions.setdefault("ivr.speaker", SaySpeaker(settings.say_voice, settings.say_language))
    from .states.ask import choice_lines_to_prerender

    app.extensions.setdefault("ivr.tts_texts", []).extend([menu_lines_to_prerender, choice_lines_to_prerender])
    from . import transcription  # noqa: F401 - adds Twilio's transcribeCallback route to bp (desk)
    from ..sms import status  # noqa: F401 - adds Twilio's message status callback to bp (desk)

    app.register_blueprint(bp)
    app.register_blueprint(fallback_bp)
