"""Load a validated knowledge base into the database in one transaction: all of it or none of it."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

from sqlalchemy import delete
from sqlalchemy.orm import Session

from ..db import utcnow
from .files import KnowledgeBase, read_knowledge_base
from .models import Article, KBRevision, Topic


def revision_of(kb: KnowledgeBase) -> str:
    blob = json.dumps(
        {"topics": [asdict(t) for t in kb.topics], "articles": [asdict(a) for a in kb.articles]},
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def load_knowledge_base(session: Session, kb_dir: Path) -> KnowledgeBase:
    """Replace the stored knowledge base with `kb_dir`'s; raises KBFormatError before touching anything.

    The caller owns the transaction: commit to publish, roll back to keep the old one.
    """
    kb = read_knowledge_base(kb_dir)
    session.execute(delete(Article))
    session.execute(delete(Topic))
    session.flush()
    for position, topic in enumerate(kb.topics):
        session.add(Topic(id=topic.id, name=topic.name, position=position))
    session.flush()
    per_topic: dict[str, int] = {}
    for article in sorted(kb.articles, key=lambda a: (a.topic, a.title.lower())):
        per_topic[article.topic] = per_topic.get(article.topic, 0) + 1
        session.add(Article(
            id=article.id, title=article.title, spoken_title=article.spoken_title, topic_id=article.topic,
            position=per_topic[article.topic],
            answer=article.answer, questions=list(article.questions), keywords=list(article.keywords),
            source_path=str(kb.sources[article.id]),
        ))
    state = session.get(KBRevision, 1) or KBRevision(id=1)
    state.revision = revision_of(kb)
    state.loaded_at = utcnow()
    state.article_count = len(kb.articles)
    session.add(state)
    session.flush()
    return kb
