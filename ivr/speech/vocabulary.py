"""Bias recognition toward the knowledge base's words.

Where the model ships its word list (graph/words.txt) and a dynamic graph, Vosk takes a
runtime grammar of the KB words it knows. Otherwise the transcript is corrected afterwards:
each recognised word close in spelling to a KB word (and not itself a KB word) is replaced
by it — "refun" becomes "refund" — which is what retrieval needs.
"""
from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

from ..kb.article import ArticleText

WORD_RE = re.compile(r"[a-z']+|[^\W\d_]+", re.UNICODE)


def kb_phrases(articles: Sequence[ArticleText]) -> list[str]:
    """The words callers are likely to use: from titles, sample questions and keywords."""
    words: set[str] = set()
    for a in articles:
        for text in (a.title, *a.questions, *a.keywords):
            words.update(w for w in WORD_RE.findall(text.lower()) if len(w) > 1)
    return sorted(words)


@lru_cache(maxsize=8)
def model_words(model_path: Path) -> frozenset[str] | None:
    path = Path(model_path) / "graph" / "words.txt"
    if not path.is_file():
        return None
    return frozenset(line.split()[0] for line in path.read_text(encoding="utf-8").splitlines() if line.strip())


def grammar_for(model_path: Path, phrases: Iterable[str]) -> list[str] | None:
    """KB words the model knows, for a runtime grammar; None when the model can't tell us."""
    known = model_words(Path(model_path))
    if not known:
        return None
    words = sorted({w for p in phrases for w in p.lower().split()} & known)
    return words or None


def correct_toward(text: str, vocabulary: Sequence[str], cutoff: float = 0.8) -> str:
    vocab = set(vocabulary)
    out = []
    for word in text.split():
        if word in vocab or len(word) < 4:
            out.append(word)
            continue
        match = difflib.get_close_matches(word, vocabulary, n=1, cutoff=cutoff)
        out.append(match[0] if match else word)
    return " ".join(out)
