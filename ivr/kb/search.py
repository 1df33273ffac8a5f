"""Rank knowledge-base articles for a caller's question, with a confidence the flow can trust.

Each article is scored three ways and the scores are fused:
- semantic, nearest sample question: cosine between the question's embedding and the
  article's closest sample question or title (all-MiniLM-L6-v2, see embedding.py);
- semantic, centroid: cosine to the mean of the article's sample questions, which steadies
  the score when an article has many phrasings;
- lexical: BM25 over sample questions, title, keywords and answer, with light stemming and
  number words folded to digits, since recognisers write "two" or "2" at random.
Before scoring, words the knowledge base never uses that sound like words it does are read
as those words (soundalike.py), since recognisers swap homophones ("cart" for "card").
Two probabilities, both fitted when the index is built, decide what a caller gets:
- in scope: does the knowledge base cover the question at all? From how close the question is
  to the nearest article centroid and sample question, fitted on the knowledge base's own sample
  questions (each held out in turn) against shipped general off-topic questions
  (data/off_topic.txt, CC0), leaving out those the knowledge base does cover;
- right article: from the fused score and its margin over the runner-up, fitted on the same
  held-out sample questions (was the top article the right one?).
Off-topic questions are declined whatever their best article's score; the rest are answered
when one article is very likely, offered as a choice of two when not, and declined when even
the runner-up is unlikely. No labelled data is needed, and the thresholds (Thresholds) are the
same on every knowledge base: what adapts to each is the fitted probabilities.
Without the embedding model the engine still works on keywords alone (and logs why).
"""
from __future__ import annotations

import hashlib
import logging
import math
import re
import threading
from collections import Counter, OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np

from . import head as article_head
from .article import ArticleText
from .embedding import EmbeddingUnavailable, get_embedder
from .soundalike import SoundAlike
from .utterance import core as utterance_core
from .utterance import windows as utterance_windows

log = logging.getLogger(__name__)

STOPWORDS = frozenset("""a an and are as at be but by can could do does did for from have has had how i i'm
if in into is it its me my of on or our please so that the their them then there these this to too us was
we were what when where which who why will with would you your yours hi hello um uh like just want need
get got know tell about""".split())
NUMBER_WORDS = {"zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
                "seven": "7", "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12",
                "fifteen": "15", "twenty": "20", "thirty": "30", "forty": "40", "fifty": "50",
                "sixty": "60", "ninety": "90", "hundred": "100"}
_SUFFIXES = ("ing", "edly", "ed", "ies", "es", "s", "ly")

# Fusion weights, tuned on a dev split of Banking77's training questions (bench/kb_banking77.py).
W_NEAREST, W_CENTROID, W_LEXICAL = 0.55, 0.25, 0.20
W_HEAD = 0.2  # weight of the trained article classifier (head.py) in the ranking
LOO_SAMPLE = 600  # held-out questions used to fit the calibration
# A shipped off-topic question this close to one of the knowledge base's own sample questions
# is something the knowledge base covers, so it is not used as a negative there.
NEGATIVE_COVERED = 0.7
MIN_SCOPE_SAMPLE = 6  # held-out sample questions needed to fit the in-scope probability
OFF_TOPIC_FILE = Path(__file__).parent / "data" / "off_topic.txt"
# The question as said, wrappers and all, is scored instead of without them only if it is this
# much better (in scope x top article probability); see SearchEngine._hits.
AS_SAID_GAIN = 0.05
# A question this close (cosine) to one of an article's sample questions is that sample question,
# said again; it is answered by that article if no other article lists one LISTED_ALONE or closer.
LISTED, LISTED_ALONE = 0.95, 0.9


def stem(word: str) -> str:
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
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
    score: float  # calibrated: about the probability that this is the right article, if any is


@dataclass(frozen=True)
class Decision:
    kind: Literal["answer", "choose", "none"]
    hits: list[Hit]
    # Which signal decided: "confident", "listed" (one of the article's sample questions, said
    # again), "close_call", "unsure" (no article likely enough), "off_topic" (the question is
    # unlike anything the knowledge base covers) or "empty".
    signal: str = ""
    in_scope: float | None = None  # probability that the knowledge base covers the question at all
    asked: str = ""  # what was scored: the question without fillers and wrappers, or a ramble's clause


@dataclass(frozen=True)
class Thresholds:
    """The same on every knowledge base: the probabilities they compare are fitted per knowledge
    base when it is built. Chosen on CLINC150 (own dev split of train, and val) and Banking77
    (dev split) so that wrong answers stay under 2% and off-topic answers under 5% (bench/README.md)."""

    in_scope: float = 0.15  # below this probability that the KB covers the question at all: decline
    answer: float = 0.9  # answer outright only if the leading article is at least this likely...
    lead_ratio: float = 2.0  # ...and this many times as likely as the runner-up
    choose_floor: float = 0.05  # otherwise offer the top two if the runner-up is at least this likely


def _run_starts(owners: np.ndarray) -> np.ndarray:
    """Where each article's run begins in an owner-sorted array, for np.maximum.reduceat."""
    if not len(owners):
        return np.zeros(0, np.int64)
    return np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])


def _bag_key(counts: Counter) -> int:
    return hash(frozenset(counts.items()))


class _Lexical:
    """BM25 over short fields; an article's score is its best field's.

    A term's BM25 weight in a field doesn't depend on the question, so it is computed once
    per field at build time; a question then costs one vector add per query term and one
    grouped max, which keeps latency flat on a knowledge base of thousands of phrasings.
    """

    def __init__(self, fields: list[tuple[int, str]], n_articles: int, k1: float = 1.2, b: float = 0.5):
        self.k1 = k1
        self.n_articles = n_articles
        docs = sorted(((owner, Counter(tokens(text))) for owner, text in fields), key=lambda d: d[0])
        docs = [(o, c) for o, c in docs if c]
        self.owners = np.array([o for o, _ in docs], dtype=np.int64)
        # One key per field's bag of words, so a held-out question can hide its copies too.
        self.keys = np.array([_bag_key(c) for _, c in docs], dtype=np.int64)
        df: Counter = Counter()
        for _, counts in docs:
            df.update(counts.keys())
        n = max(len(docs), 1)
        self.idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}
        avg_len = (sum(sum(c.values()) for _, c in docs) / n) if docs else 1.0
        postings: dict[str, tuple[list[int], list[float]]] = {}
        for i, (_, counts) in enumerate(docs):
            norm = k1 * (1 - b + b * sum(counts.values()) / avg_len)
            for t, tf in counts.items():
                rows, weights = postings.setdefault(t, ([], []))
                rows.append(i)
                weights.append(self.idf[t] * tf * (k1 + 1) / (tf + norm))
        self.postings = {t: (np.array(r, dtype=np.int64), np.array(w, dtype=np.float32))
                         for t, (r, w) in postings.items()}
        # Fields are sorted by article, so each article's fields are one contiguous run.
        self.starts = _run_starts(self.owners)
        self.run_owner = self.owners[self.starts]

    def key_of(self, text: str) -> int:
        return _bag_key(Counter(tokens(text)))

    def scores(self, question: str, skip: tuple[int, int] | None = None) -> np.ndarray:
        """Per-article score in [0, 1]; skip=(article, key) hides that article's copies of a field."""
        out = np.zeros(self.n_articles, dtype=np.float32)
        query = set(tokens(question))
        if not query or not len(self.owners):
            return out
        per_field = np.zeros(len(self.owners), dtype=np.float32)
        for term in query:
            posting = self.postings.get(term)
            if posting is not None:
                per_field[posting[0]] += posting[1]
        if skip is not None:
            per_field[(self.owners == skip[0]) & (self.keys == skip[1])] = 0.0
        ideal = sum(self.idf.get(t, 0.0) for t in query) * (self.k1 + 1) / (1 + self.k1) or 1.0
        out[self.run_owner] = np.maximum.reduceat(per_field, self.starts)
        return np.minimum(out / ideal, 1.0)


# Embeddings of texts already seen in this process, so a reload only embeds what changed.
_EMBED_CACHE: OrderedDict[str, np.ndarray] = OrderedDict()
_EMBED_CACHE_MAX = 200_000
_cache_lock = threading.Lock()


def _embed_cached(embedder, texts: list[str]) -> np.ndarray:
    keys = [hashlib.sha1(t.encode()).hexdigest() for t in texts]
    with _cache_lock:
        missing = [i for i, k in enumerate(keys) if k not in _EMBED_CACHE]
    if missing:
        fresh = embedder.embed([texts[i] for i in missing])
        with _cache_lock:
            for i, vec in zip(missing, fresh):
                _EMBED_CACHE[keys[i]] = vec
            while len(_EMBED_CACHE) > _EMBED_CACHE_MAX:
                _EMBED_CACHE.popitem(last=False)
    with _cache_lock:
        return np.stack([_EMBED_CACHE[k] for k in keys]) if keys else np.zeros((0, 384), np.float32)


def _sigmoid(x: np.ndarray | float) -> np.ndarray | float:
    return 1.0 / (1.0 + np.exp(-x))


def _fit_logistic(features: np.ndarray, labels: np.ndarray, l2: float = 1e-2,
                  weights: np.ndarray | None = None) -> np.ndarray:
    """Newton's method for a small (optionally weighted) logistic regression (intercept first)."""
    x = np.hstack([np.ones((len(features), 1)), features])
    sw = np.ones(len(x)) if weights is None else np.asarray(weights, float)
    w = np.zeros(x.shape[1])
    for _ in range(30):
        p = _sigmoid(x @ w)
        grad = x.T @ (sw * (p - labels)) + l2 * w
        hess = (x * (sw * p * (1 - p))[:, None]).T @ x + l2 * np.eye(len(w))
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-6:
            break
    return w


@lru_cache(maxsize=1)
def off_topic_questions() -> tuple[str, ...]:
    """The shipped general off-topic questions (ivr/kb/data/off_topic.txt, CC0)."""
    try:
        lines = OFF_TOPIC_FILE.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        log.warning("off-topic questions not read (%s): confidence uses the knowledge base alone", exc)
        return ()
    return tuple(line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#"))


@dataclass
class SearchEngine:
    articles: list[ArticleText]
    thresholds: Thresholds = field(default_factory=Thresholds)
    embedder: object | None = None
    calibration: np.ndarray = field(default_factory=lambda: np.array([-6.0, 9.0, 25.0]))
    # P(the knowledge base covers the question) from how close it is to the KB: intercept,
    # best centroid cosine, best sample-question cosine. Fitted when built; None = not fitted.
    scope_calibration: np.ndarray | None = None
    _lexical: _Lexical | None = field(default=None, repr=False)
    _vectors: np.ndarray | None = field(default=None, repr=False)
    _owners: np.ndarray | None = field(default=None, repr=False)
    _texts: list[str] = field(default_factory=list, repr=False)
    _centroids: np.ndarray | None = field(default=None, repr=False)
    _starts: np.ndarray | None = field(default=None, repr=False)
    _soundalike: SoundAlike | None = field(default=None, repr=False)
    _head: article_head.ArticleHead | None = field(default=None, repr=False)
    _negatives: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def build(cls, articles: Sequence[ArticleText], *, embedder: object | None = None,
              thresholds: Thresholds | None = None, calibrate: bool = True) -> SearchEngine:
        engine = cls(articles=list(articles), thresholds=thresholds or Thresholds())
        fields: list[tuple[int, str]] = []
        for i, a in enumerate(engine.articles):
            fields += [(i, q) for q in a.questions] + [(i, a.title)]
            if a.keywords:
                fields.append((i, " ".join(a.keywords)))
            fields.append((i, a.answer))
        engine._lexical = _Lexical(fields, len(engine.articles))
        engine._soundalike = SoundAlike((text for _, text in fields), skip=STOPWORDS)
        if embedder is None:

            try:
                embedder = get_embedder()
            except EmbeddingUnavailable:
                embedder = None
        engine.embedder = embedder
        if embedder is not None and engine.articles:
            texts, owners = [], []
            for i, a in enumerate(engine.articles):
                for text in (*a.questions, a.title):
                    texts.append(text)
                    owners.append(i)
            engine._texts = texts
            engine._owners = np.array(owners)
            # Texts are grouped by article, so "best phrasing per article" is one reduceat.
            engine._starts = _run_starts(engine._owners)
            engine._vectors = _embed_cached(embedder, texts)
            centroids = np.zeros((len(engine.articles), engine._vectors.shape[1]), np.float32)
            np.add.at(centroids, engine._owners, engine._vectors)
            engine._centroids = centroids / np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-9)
            if len(engine.articles) > 1:
                engine._head = article_head.train([a.id for a in engine.articles], engine._vectors, engine._owners)
            negatives = list(off_topic_questions())
            if negatives:
                vecs = _embed_cached(embedder, negatives)
                covered = (vecs @ engine._vectors.T).max(1) >= NEGATIVE_COVERED
                engine._negatives = vecs[~covered]
        if calibrate:
            engine._calibrate()
        return engine

    # ------------------------------------------------------------------ scoring
    def _centroids_without(self, hold_out: int | None) -> np.ndarray:
        """Article centroids; with hold_out, that sample question no longer pulls its own."""
        if hold_out is None:
            return self._centroids
        owner = self._owners[hold_out]
        members = self._vectors[self._owners == owner]
        rest = members.sum(0) - self._vectors[hold_out]
        centroids = self._centroids.copy()
        norm = np.linalg.norm(rest)
        centroids[owner] = rest / norm if norm > 1e-9 else 0.0
        return centroids

    def _similarities(self, vector: np.ndarray, hold_out: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Per article: cosine to its nearest sample question and to its centroid."""
        sims = self._vectors @ vector
        if hold_out is not None:
            sims = sims.copy()
            sims[hold_out] = -1.0
        return np.maximum.reduceat(sims, self._starts), self._centroids_without(hold_out) @ vector

    def _fused(self, question: str, vector: np.ndarray | None, hold_out: int | None = None,
               sims: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        n = len(self.articles)
        skip = None
        if hold_out is not None and self._lexical:
            skip = (int(self._owners[hold_out]), self._lexical.key_of(self._texts[hold_out]))
        lexical = self._lexical.scores(question, skip=skip) if self._lexical else np.zeros(n, np.float32)
        if vector is None or self._vectors is None:
            return lexical
        nearest, centroid = sims if sims is not None else self._similarities(vector, hold_out)
        return W_NEAREST * nearest + W_CENTROID * centroid + W_LEXICAL * lexical

    def _ranking(self, fused: np.ndarray, vector: np.ndarray | None) -> np.ndarray:
        """Order of articles: the fused similarity plus the trained classifier's vote.

        Confidence stays with the fused score alone (calibrated on held-out questions, which
        the classifier has seen); when the classifier lifts an article over the most similar
        one, that article's lower confidence makes the flow ask or decline rather than answer.
        """
        if self._head is None or vector is None:
            return fused
        return fused + W_HEAD * self._head.probabilities(vector)

    def _embed_question(self, question: str) -> np.ndarray | None:
        if self.embedder is None or not question.strip():
            return None
        return self.embedder.embed([question])[0]

    def _features(self, fused: np.ndarray, index: int) -> np.ndarray:
        others = np.delete(fused, index)
        margin = fused[index] - (others.max() if len(others) else 0.0)
        return np.array([fused[index], margin])

    def _probability(self, fused: np.ndarray, index: int) -> float:
        f = self._features(fused, index)
        return float(_sigmoid(self.calibration[0] + self.calibration[1:] @ f))

    @staticmethod
    def _scope_features(nearest: np.ndarray, centroid: np.ndarray) -> np.ndarray:
        """How close a question is to the knowledge base: its best article centroid and phrasing."""
        return np.array([centroid.max(), nearest.max()])

    def _in_scope(self, nearest: np.ndarray, centroid: np.ndarray) -> float:
        if self.scope_calibration is None:
            return 1.0
        f = self._scope_features(nearest, centroid)
        return float(_sigmoid(self.scope_calibration[0] + self.scope_calibration[1:] @ f))

    def _calibrate(self) -> None:
        """Fit the two confidences on held-out sample questions (leave-one-out).

        Which article: fused score and margin -> P(the top article is right), from the
        knowledge base's own questions, each asked with itself held out.
        Whether at all: closeness to the knowledge base -> P(it covers the question), from the
        same held-out questions against the shipped off-topic questions the knowledge base
        doesn't cover, weighted to count alike.
        """
        if self._vectors is None:
            return
        candidates = [i for i in range(len(self._texts))
                      if int((self._owners == self._owners[i]).sum()) > 1]
        if len(candidates) < MIN_SCOPE_SAMPLE:
            return
        rng = np.random.default_rng(0)
        chosen = rng.choice(candidates, size=min(LOO_SAMPLE, len(candidates)), replace=False)
        feats, labels, scope_in = [], [], []
        for i in chosen:
            sims = self._similarities(self._vectors[i], hold_out=int(i))
            fused = self._fused(self._texts[i], self._vectors[i], hold_out=int(i), sims=sims)
            scope_in.append(self._scope_features(*sims))
            top = int(np.argmax(fused))
            feats.append(self._features(fused, top))
            labels.append(1.0 if top == self._owners[i] else 0.0)
        labels_arr = np.array(labels)
        if len(self.articles) >= 3 and len(chosen) >= 20 and labels_arr.min() != labels_arr.max():
            self.calibration = _fit_logistic(np.array(feats), labels_arr)
        if self._negatives is not None and len(self._negatives) >= 10:
            scope_out = [self._scope_features(*self._similarities(v)) for v in self._negatives]
            x = np.array(scope_in + scope_out)
            y = np.r_[np.ones(len(scope_in)), np.zeros(len(scope_out))]
            w = np.r_[np.full(len(scope_in), 1 / len(scope_in)), np.full(len(scope_out), 1 / len(scope_out))]
            self.scope_calibration = _fit_logistic(x, y, weights=w * len(x) / 2)

    # ------------------------------------------------------------------ public API
    def heard_as(self, question: str) -> str:
        """The question with sound-alike recognition errors mapped to the knowledge base's words."""
        return self._soundalike.correct(question) if self._soundalike else question

    def views(self, question: str) -> list[str]:
        """What is scored for an utterance: the question without hesitations and wrappers
        (utterance.core); the question as said, if that differs (a knowledge base may have
        "thanks" or "how's it going" as its question); for a ramble, its clause windows
        (utterance.windows). Wrappers are peeled before sound-alikes are mapped, so "thanks" is
        dropped rather than read as "things"."""
        heard = self.heard_as(question)
        said = utterance_core(self.heard_as(utterance_core(question)))
        return [said, *([heard] if heard != said else []), *utterance_windows(said)]

    def _hits(self, question: str, limit: int) -> tuple[np.ndarray, list[Hit], float, str, bool]:
        """The fused scores, the best `limit` articles in ranking order with confidences, the
        probability that the knowledge base covers the question at all, the text scored, and
        whether that text is one of the leading article's own sample questions (near verbatim:
        cosine LISTED+, and no other article lists anything as close, LISTED_ALONE).

        Of the views, the one most likely both to be covered and to have a clear article wins (in
        scope x the top article's probability); the question as said, wrappers and all, only if it
        is AS_SAID_GAIN better than without them; a ramble's clause only if the whole utterance
        already leads with its article by the answer rule's lead ratio (the clause sharpens what
        the whole says; it does not answer a side remark, "do you accept cash? because I deposited
        some and can't see it", nor settle a close call between two articles).
        """
        views = self.views(question)
        as_said = views[1] if len(views) > 1 and views[1] == self.heard_as(question) else None
        semantic = self.embedder is not None and self._vectors is not None
        first = 2 if as_said is not None else 1  # the windows, if any, start here
        vectors = list(self.embedder.embed(views[:first])) if semantic else [None] * len(views)
        best = None
        whole: list[int] = []
        whole_fused, whole_scope, clear = None, 0.0, False
        t = self.thresholds
        for k, text in enumerate(views):
            if k == len(vectors):
                # Clause windows can only make the whole's leader more certain: embed them only
                # when that can change the outcome (the whole leads clearly but isn't answered).
                lead = self._probability(whole_fused, whole[0]) if whole else 0.0
                if not clear or (whole_scope >= t.in_scope and lead >= t.answer):
                    break
                vectors += list(self.embedder.embed(views[k:]))
            vector = vectors[k]
            sims = self._similarities(vector) if vector is not None else None
            fused = self._fused(text, vector, sims=sims)
            in_scope = self._in_scope(*sims) if sims is not None else 1.0
            order = [int(i) for i in np.argsort(-self._ranking(fused, vector))[:limit]]
            if k == 0:
                whole, whole_fused, whole_scope = order, fused, in_scope
                clear = len(order) < 2 or (self._probability(fused, order[0])
                                           >= t.lead_ratio * self._probability(fused, order[1]))
            elif (k > 1 or as_said is None) and (not clear or not order or order[0] != whole[0]):
                continue  # a clause about something else than the whole (a side remark), or no clear whole
            top = self._probability(fused, order[0]) if order else 0.0
            quality = in_scope * top - (AS_SAID_GAIN if k == 1 and as_said is not None else 0.0)
            if best is None or quality > best[0]:
                listed = False
                if sims is not None and order:
                    others = np.delete(sims[0], order[0])
                    listed = bool(sims[0][order[0]] >= LISTED and (not len(others) or others.max() < LISTED_ALONE))
                best = (quality, text, fused, order, in_scope, listed)
        _, text, fused, order, in_scope, listed = best
        return fused, [Hit(self.articles[i].id, self.articles[i].title, round(self._probability(fused, i), 4))
                       for i in order], in_scope, text, listed

    def search(self, question: str, limit: int = 3) -> list[Hit]:
        if not self.articles or not question.strip():
            return []
        fused, hits, _, _, _ = self._hits(question, limit)
        return hits if fused.any() else []

    def decide(self, question: str, limit: int = 3) -> Decision:
        """Answer, offer the caller a choice of two, or decline; `signal` says which rule decided."""
        if not self.articles or not question.strip():
            return Decision("none", [], "empty")
        _, hits, in_scope, asked, listed = self._hits(question, limit)
        t = self.thresholds
        scope = round(in_scope, 4)
        if not hits:
            return Decision("none", hits, "unsure", scope, asked)
        if in_scope < t.in_scope:
            return Decision("none", hits, "off_topic", scope, asked)
        runner_up = hits[1].score if len(hits) > 1 else 0.0
        if hits[0].score >= t.answer and hits[0].score >= t.lead_ratio * runner_up:
            return Decision("answer", hits, "confident", scope, asked)
        if listed and hits[0].score >= t.lead_ratio * runner_up:
            # The caller said one of this article's own sample questions: the knowledge base has
            # already said where it goes (the calibration, fitted on held-out phrasings, can't know).
            return Decision("answer", hits, "listed", scope, asked)
        if len(hits) > 1 and runner_up >= t.choose_floor:
            # Two different articles are both plausible and neither clearly wins: let the caller pick.
            return Decision("choose", hits, "close_call", scope, asked)
        return Decision("none", hits, "unsure", scope, asked)
