"""The plain-data shape of one knowledge-base article, shared by the loader and the search engine."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ArticleText:
    """One article as the search engine sees it; no database or file handles attached."""

    id: str
    title: str
    topic: str
    answer: str
    questions: tuple[str, ...] = field(default_factory=tuple)
    keywords: tuple[str, ...] = field(default_factory=tuple)
