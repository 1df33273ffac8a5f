"""Knowledge-base tables: topics, articles, and what callers asked (the learning loop)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base, utcnow
from .article import ArticleText


class Topic(Base):
    __tablename__ = "kb_topics"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(Integer)
    articles: Mapped[list[Article]] = relationship(back_populates="topic", order_by="Article.position")


class Article(Base):
    __tablename__ = "kb_articles"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    spoken_title: Mapped[str] = mapped_column(String(200), default="", server_default="")  # "" = derived
    topic_id: Mapped[str] = mapped_column(ForeignKey("kb_topics.id"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    answer: Mapped[str] = mapped_column(Text)
    questions: Mapped[list[str]] = mapped_column(JSON, default=list)
    keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    source_path: Mapped[str] = mapped_column(String(500), default="")
    topic: Mapped[Topic] = relationship(back_populates="articles")

    def to_text(self) -> ArticleText:
        return ArticleText(
            id=self.id,
            title=self.title,
            topic=self.topic_id,
            answer=self.answer,
            questions=tuple(self.questions or ()),
            keywords=tuple(self.keywords or ()),
            spoken_title=self.spoken_title or "",
        )


class QuestionAsked(Base):
    """One question a caller asked and what came of it; feeds `kb gaps` and evaluation."""

    __tablename__ = "kb_questions_asked"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(64), index=True)
    text: Mapped[str] = mapped_column(Text)
    asked_at: Mapped[datetime] = mapped_column(default=utcnow)
    article_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    score: Mapped[float | None] = mapped_column(nullable=True)
    # answered | declined | choice_offered
    outcome: Mapped[str] = mapped_column(String(32))
    # None until the caller says; True = helped, False = rejected
    helped: Mapped[bool | None] = mapped_column(nullable=True)
    candidates: Mapped[list[Any]] = mapped_column(JSON, default=list)


class KBRevision(Base):
    """One row naming the loaded knowledge base's content hash; processes rebuild their index when it changes."""

    __tablename__ = "kb_revision"

    id: Mapped[int] = mapped_column(primary_key=True)
    revision: Mapped[str] = mapped_column(String(64))
    loaded_at: Mapped[datetime] = mapped_column(default=utcnow)
    article_count: Mapped[int] = mapped_column(default=0)
