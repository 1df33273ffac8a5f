"""Measure retrieval on labelled questions through the same `decide` the call flow uses.

A labelled row is (question, article_id); an empty article_id means the knowledge base does not
cover the question and the right outcome is to decline. In-scope rows count as right when the
caller gets the right answer, or a two-way choice that holds it; wrong when a wrong article is
read out. Out-of-scope rows count as answered when any article is read out. An optional third
column, kind, groups rows (e.g. plain, wrapped, ramble, off-topic): `evaluate_by_kind` reports each
group as well as the whole file, from one pass.
"""
from __future__ import annotations

import csv
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .search import Decision, SearchEngine


@dataclass(frozen=True)
class EvalReport:
    n: int
    top1: float  # in-scope rows: the right article ranked first
    top3: float
    answered_share: float  # all rows
    choice_share: float
    declined_share: float
    answered_accuracy: float  # in-scope rows answered outright: share with the right article
    p50_ms: float
    p95_ms: float
    in_scope: int = 0
    in_scope_right: float = 0.0  # answered right, or offered a choice that holds the right article
    in_scope_wrong: float = 0.0  # answered with a wrong article
    in_scope_declined: float = 0.0
    out_of_scope: int = 0
    oos_answered: float = 0.0  # an off-topic question answered with some article
    oos_choice: float = 0.0  # ...or offered a choice of two
    oos_declined: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)


def read_labelled_csv(path: str | Path) -> list[tuple[str, str]]:
    """Rows of (question, article_id) from a CSV with columns text,article_id; '' = should decline."""
    return [(text, aid) for text, aid, _ in read_labelled_kinds(path)]


def read_labelled_kinds(path: str | Path) -> list[tuple[str, str, str]]:
    """Rows of (question, article_id, kind); kind is the optional `kind` column ('' without it)."""
    path = Path(path)
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        missing = {"text", "article_id"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))}; expected text,article_id")
        rows = []
        for row in reader:
            text, aid = (row.get("text") or "").strip(), (row.get("article_id") or "").strip()
            if not text:
                raise ValueError(f"{path}:{reader.line_num}: the text is empty "
                                 "(article_id may be empty: it means the question should be declined)")
            rows.append((text, aid, (row.get("kind") or "").strip()))
    if not rows:
        raise ValueError(f"{path}: no rows")
    return rows


@dataclass(frozen=True)
class _Asked:
    text: str
    expected: str
    kind: str
    decision: Decision
    ms: float


def _ask(engine: SearchEngine, rows: Iterable[tuple], misses: list[dict] | None) -> list[_Asked]:
    asked = []
    for row in rows:
        text, expected = row[0], row[1]
        kind = row[2] if len(row) > 2 else ""
        start = time.perf_counter()
        decision = engine.decide(text)
        asked.append(_Asked(text, expected, kind, decision, (time.perf_counter() - start) * 1000))
        if misses is not None:
            ids = [h.article_id for h in decision.hits]
            offered = ids[: {"answer": 1, "choose": 2}.get(decision.kind, 0)]
            if bool(offered) if not expected else expected not in offered:
                misses.append({"text": text, "expected": expected, "outcome": decision.kind,
                               "signal": decision.signal, "offered": offered, "in_scope": decision.in_scope,
                               "top": ids[0] if ids else None, **({"kind": kind} if kind else {})})
    return asked


def evaluate(engine: SearchEngine, rows: Iterable[tuple], misses: list[dict] | None = None) -> EvalReport:
    """Ask every row through `decide`; rows that went wrong are appended to `misses` if given."""
    return _report(_ask(engine, rows, misses))


def evaluate_by_kind(engine: SearchEngine, rows: Iterable[tuple[str, str, str]],
                     misses: list[dict] | None = None) -> tuple[EvalReport, dict[str, EvalReport]]:
    """The whole file's report and one per kind (rows without a kind are only in the whole)."""
    asked = _ask(engine, rows, misses)
    kinds = sorted({a.kind for a in asked if a.kind})
    return _report(asked), {k: _report([a for a in asked if a.kind == k]) for k in kinds}


def _report(asked: list[_Asked]) -> EvalReport:
    top1 = top3 = answered = answered_in = answered_right = chose = declined = 0
    right = wrong = in_declined = in_n = 0
    oos_n = oos_answered = oos_choice = oos_declined = 0
    latencies = []
    n = 0
    for a in asked:
        expected, decision = a.expected, a.decision
        n += 1
        latencies.append(a.ms)
        ids = [h.article_id for h in decision.hits]
        answered += decision.kind == "answer"
        chose += decision.kind == "choose"
        declined += decision.kind == "none"
        if not expected:
            oos_n += 1
            oos_answered += decision.kind == "answer"
            oos_choice += decision.kind == "choose"
            oos_declined += decision.kind == "none"
            continue
        in_n += 1
        top1 += bool(ids) and ids[0] == expected
        top3 += expected in ids[:3]
        if decision.kind == "answer":
            answered_in += 1
            answered_right += ids[0] == expected
            right += ids[0] == expected
            wrong += ids[0] != expected
        elif decision.kind == "choose":
            right += expected in ids[:2]
        else:
            in_declined += 1
    lat = np.array(latencies or [0.0])
    total, ins, outs = max(n, 1), max(in_n, 1), max(oos_n, 1)
    return EvalReport(
        n=n, top1=top1 / ins, top3=top3 / ins, answered_share=answered / total, choice_share=chose / total,
        declined_share=declined / total, answered_accuracy=answered_right / max(answered_in, 1),
        p50_ms=float(np.percentile(lat, 50)), p95_ms=float(np.percentile(lat, 95)),
        in_scope=in_n, in_scope_right=right / ins, in_scope_wrong=wrong / ins, in_scope_declined=in_declined / ins,
        out_of_scope=oos_n, oos_answered=oos_answered / outs, oos_choice=oos_choice / outs,
        oos_declined=oos_declined / outs)
