"""The process's search engine over the loaded knowledge base.

Every process (web workers, the CLI) keeps one engine; a cheap revision check per question
notices a reload done by another process. Building an engine takes seconds (minutes for a
large knowledge base), so a long-running server builds the first one at start-up (a warm-up
task, before it reports ready) and, after a reload, keeps answering with the engine it has
while the new one is built in the background, then swaps it in. Only a process that was never
warmed up (a CLI command, a test) builds on demand.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..services import services
from .models import Article, KBRevision
from .search import SearchEngine

log = logging.getLogger(__name__)


def current_revision(session: Session) -> str:
    state = session.get(KBRevision, 1)
    return state.revision if state else ""


@dataclass
class EngineHolder:
    """The engine in use, and the one being built for a newer revision."""

    revision: str | None = None
    engine: SearchEngine | None = None
    building: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)  # one build at a time on the request path
    state: threading.Lock = field(default_factory=threading.Lock)  # guards the three fields above


def _holder(app: Flask) -> EngineHolder:
    return services(app).kb


def _build(session: Session) -> SearchEngine:
    articles = [a.to_text() for a in session.scalars(select(Article).order_by(Article.id))]
    return SearchEngine.build(articles)


def _install(app: Flask, holder: EngineHolder, revision: str, engine: SearchEngine) -> None:
    with holder.state:
        replaced = holder.engine is not None
        holder.revision, holder.engine = revision, engine
        if holder.building == revision:
            holder.building = None
    if replaced:
        # The knowledge base was reloaded (maybe by another process): e.g. render new answers' audio.
        for hook in services(app).kb_reload_hooks:
            try:
                hook(app)
            except Exception:
                log.exception("knowledge-base reload hook failed")


def _build_in_background(app: Flask, holder: EngineHolder, revision: str) -> None:
    def run() -> None:
        session = services(app).sessionmaker()
        try:
            latest = current_revision(session)
            engine = _build(session)
            _install(app, holder, latest, engine)
            log.info("knowledge base %s swapped in", latest[:12])
        except Exception:
            log.exception("could not build the search index for revision %s", revision[:12])
            with holder.state:
                holder.building = None
        finally:
            session.close()

    threading.Thread(target=run, name="kb-index", daemon=True).start()


def search_engine(app: Flask, session: Session) -> SearchEngine:
    """The engine for the knowledge base now in the database (or, while a reload builds, the last one)."""
    revision = current_revision(session)
    holder = _holder(app)
    if holder.engine is not None and holder.revision == revision:
        return holder.engine
    background = services(app).readiness.started
    with holder.lock:
        if holder.engine is not None and holder.revision == revision:
            return holder.engine
        if holder.engine is not None and background:
            if holder.building != revision:
                holder.building = revision
                _build_in_background(app, holder, revision)
            return holder.engine
        engine = _build(session)
        _install(app, holder, revision, engine)
        return engine


def warm_up(app: Flask) -> None:
    """Build the engine (and load the embedding model) before the service says it is ready."""
    session = services(app).sessionmaker()
    try:
        holder = _holder(app)
        with holder.lock:
            revision = current_revision(session)
            if holder.engine is None or holder.revision != revision:
                _install(app, holder, revision, _build(session))
    finally:
        session.close()
