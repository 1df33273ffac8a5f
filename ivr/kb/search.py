"""Rank knowledge-base articles for a caller's question.

Lexical BM25 over each article's sample questions, title and keywords (with light stemming
and number words folded to digits, since speech recognisers spell numbers either way), scored
per article as its best-matching field. Scores are squashed to 0..1 so thresholds read as
"how sure", and the decision declines rather than reading a wrong answer.
"""
from __future__ import annotations

import math
import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal, Sequence

from .article import ArticleText

STOPWORDS = frozenset("""a an and are as at be but by can could do does did for from have has had how i i'm
if in into is it its me my of on or our please so that the their them then there these this to too us was
we were what when where which who why will with would you your yours hi hello um uh like just want need
get got know tell about""".split())
NUMBER_WORDS = {"zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
                "seven": "7", "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12",
                "fifteen": "15", "twenty": "20", "thirty": "30", "forty": "40", "fifty": "50",
                "sixty": "60", "ninety": "90", "hundred": "100"}
_SUFFIXES = ("ing", "edly", "ed", "ies", "es", "s", "ly")


def stem(word: str) -> str:
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)] + ("y" if suffix == "ies" else "")
            break
    return word


def tokens(text: str) -> list[str]:
    words = re.findall(r"[a-z0-9']+", text.lower().replace("’", "'"))
    out = []
    for w in words:
        w = NUMBER_WORDS.get(w, w.strip("'"))
        if w and w not in STOPWORDS:
            out.append(stem(w))
    return out


@dataclass(frozen=True)
class Hit:
    article_id: str
    title: str
    score: float


@dataclass(frozen=True)
class Decision:
    kind: Literal["answer", "choose", "none"]
    hits: list[Hit]


@dataclass(frozen=True)
class Thresholds:
    answer: float = 0.45  # below this, decline
    close_margin: float = 0.08  # top two within this → ask the caller to choose
    choose_floor: float = 0.35  # both must be at least this to be offered


@dataclass
class SearchEngine:
    articles: list[ArticleText]
    thresholds: Thresholds = field(default_factory=Thresholds)
    _docs: list[tuple[int, Counter]] = field(default_factory=list, repr=False)
    _idf: dict[str, float] = field(default_factory=dict, repr=False)
    _avg_len: float = 1.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def build(cls, articles: Sequence[ArticleText], *, embedder: object | None = None,
              thresholds: Thresholds | None = None) -> "SearchEngine":
        engine = cls(articles=list(articles), thresholds=thresholds or Thresholds())
        docs: list[tuple[int, Counter]] = []
        for index, article in enumerate(engine.articles):
            fields = [*article.questions, article.title, " ".join(article.keywords)]
            for text in fields:
                toks = tokens(text)
                if toks:
                    docs.append((index, Counter(toks)))
            answer_toks = tokens(article.answer)
            if answer_toks:
                docs.append((index, Counter(answer_toks)))
        df: Counter = Counter()
        for _, counts in docs:
            df.update(counts.keys())
        n = max(len(docs), 1)
        engine._docs = docs
        engine._idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}
        engine._avg_len = sum(sum(c.values()) for _, c in docs) / n if docs else 1.0
        return engine

    def _bm25(self, query: list[str], counts: Counter, k1: float = 1.2, b: float = 0.5) -> float:
        length = sum(counts.values())
        score = 0.0
        for term in query:
            tf = counts.get(term, 0)
            if tf:
                score += self._idf.get(term, 0.0) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / self._avg_len))
        return score

    def search(self, question: str, limit: int = 3) -> list[Hit]:
        query = tokens(question)
        if not query or not self._docs:
            return []
        best: dict[int, float] = {}
        for index, counts in self._docs:
            s = self._bm25(query, counts)
            if s > best.get(index, 0.0):
                best[index] = s
        # Normalise by the best possible score for this query, so confidence is comparable across questions.
        ideal = sum(self._idf.get(t, 0.0) * 2.2 / (1 + 1.2 * 0.5 + 1.2 * 0.5 * len(query) / self._avg_len)
                    for t in query) or 1.0
        ranked = sorted(best.items(), key=lambda kv: kv[1], reverse=True)[:limit]
        return [Hit(self.articles[i].id, self.articles[i].title, round(min(1.0, s / ideal), 4)) for i, s in ranked]

    def decide(self, question: str, limit: int = 3) -> Decision:
        hits = self.search(question, limit)
        t = self.thresholds
        if not hits or hits[0].score < t.answer:
            return Decision("none", hits)
        if (len(hits) > 1 and hits[1].score >= t.choose_floor
                and hits[0].score - hits[1].score < t.close_margin):
            return Decision("choose", hits)
        return Decision("answer", hits)
