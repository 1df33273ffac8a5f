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
    spoken_title: str = ""  # front matter: the title as said inside a sentence; "" = derived from the title

    @property
    def said_title(self) -> str:
        return self.spoken_title or title_in_sentence(self.title)


def title_in_sentence(title: str) -> str:
    """'How long you have to return an item' -> 'how long you have to return an item', for "about ..."
    and "press 1 for ..."; a title starting with a name or an acronym ('FAQ', 'PayPal') is kept."""
    first = title.split(" ", 1)[0]
    if not first or not first[:1].isupper() or any(c.isupper() for c in first[1:]) or not first.isalpha():
        return title
    return title[:1].lower() + title[1:]
