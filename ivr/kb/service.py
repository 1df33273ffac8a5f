"""The process's search engine over the loaded knowledge base, rebuilt when `kb load` changes it.

Every process (web workers, the CLI) keeps one engine; a cheap revision check per question
notices a reload done by another process.
"""
from __future__ import annotations

import threading

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import Article, KBRevision
from .search import SearchEngine

_lock = threading.Lock()


def current_revision(session: Session) -> str:
    state = session.get(KBRevision, 1)
    return state.revision if state else ""


def search_engine(app: Flask, session: Session) -> SearchEngine:
    """The engine for the knowledge base now in the database."""
    revision = current_revision(session)
    cached = app.extensions.get("ivr.kb_engine")
    if cached is not None and cached[0] == revision:
        return cached[1]
    with _lock:
        cached = app.extensions.get("ivr.kb_engine")
        if cached is not None and cached[0] == revision:
            return cached[1]
        articles = [a.to_text() for a in session.scalars(select(Article).order_by(Article.id))]
        engine = SearchEngine.build(articles)
        app.extensions["ivr.kb_engine"] = (revision, engine)
    if cached is not None:
        # The knowledge base was reloaded (maybe by another process): e.g. render new answers' audio.
        for hook in app.extensions.get("ivr.kb_reload_hooks", []):
            hook(app)
    return engine
