"""The opening hours as a knowledge-base answer, written from hours.yaml rather than by hand.

`kb load` calls `publish_hours_article` in its own transaction after loading the articles: the
article named by `kb_article` in hours.yaml keeps its title, topic and sample questions from
kb_data/, and its answer becomes the hours said in words. The search engine needs no special
case: the answer is data in the articles table, and the knowledge-base revision changes with it
so every process rebuilds (and re-renders the audio) as for any other edit.
"""
from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy.orm import Session

from ..clock import system_clock
from ..kb.models import Article, KBRevision
from ..prompts import PromptCatalogue
from ..services import services
from .schedule import HoursError, OpeningHours, load_hours
from .spoken import hours_answer


def publish_hours_article(session: Session, hours: OpeningHours, catalogue: PromptCatalogue,
                          now: datetime) -> str | None:
    """Write the hours answer into its article; returns the article id, or None when none is named.

    Raises HoursError when hours.yaml names an article the knowledge base doesn't have.
    """
    if not hours.kb_article:
        return None
    article = session.get(Article, hours.kb_article)
    if article is None:
        where = hours.source or "hours.yaml"
        raise HoursError([f"{where}: kb_article {hours.kb_article!r} is not an article in the knowledge base"])
    article.answer = hours_answer(catalogue.text, hours, now.astimezone(hours.tz).date())
    state = session.get(KBRevision, 1)
    if state is not None:
        state.revision = hashlib.sha256(f"{state.revision}\n{article.answer}".encode()).hexdigest()[:32]
    session.flush()
    return article.id


def publish_configured_hours(app, session: Session, now: datetime | None = None) -> str | None:
    """`kb load`'s hook: validate the configured hours file (if there is one) and publish its article.

    Returns the article id written, or None. Raises HoursError naming the file and the problems.
    """

    settings = app.config["IVR_SETTINGS"]
    path = settings.hours_path
    if not path.exists():
        if settings.hours_file is not None:  # named explicitly: a missing file is a mistake, not "no hours"
            raise HoursError([f"{path}: file not found (IVR_HOURS_PATH)"])
        return None
    hours = load_hours(path)
    return publish_hours_article(session, hours, services(app).prompts, now or system_clock())
