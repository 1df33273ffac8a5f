"""Our own voice: prompts and answers rendered with pyttsx3 (espeak-ng) and played with <Play>.

Cheap to set up on purpose: no engine starts and nothing renders when the app is made; rendering
is a warm-up task (`render_all`) and, after a reload, a background job (`start_background_render`).
"""
from __future__ import annotations

from flask import Flask

from .service import render_known_texts, render_missing_in_background


def render_all(app: Flask) -> None:
    """Warm-up: every prompt and answer rendered before the service says it is ready."""
    render_known_texts(app)


def start_background_render(app: Flask):
    return render_missing_in_background(app)
