"""Measure retrieval on labelled questions through the same `decide` the call flow uses."""
from __future__ import annotations

import csv
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from .search import SearchEngine


@dataclass(frozen=True)
class EvalReport:
    n: int
    top1: float
    top3: float
    answered_share: float
    choice_share: float
    declined_share: float
    answered_accuracy: float
    p50_ms: float
    p95_ms: float

    def as_dict(self) -> dict:
        return asdict(self)


def read_labelled_csv(path: str | Path) -> list[tuple[str, str]]:
    """Rows of (question, article_id) from a CSV with columns text,article_id."""
    path = Path(path)
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        missing = {"text", "article_id"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))}; expected text,article_id")
        rows = []
        for row in reader:
            text, aid = (row.get("text") or "").strip(), (row.get("article_id") or "").strip()
            if not text or not aid:
                raise ValueError(f"{path}:{reader.line_num}: both text and article_id are needed")
            rows.append((text, aid))
    if not rows:
        raise ValueError(f"{path}: no rows")
    return rows


def evaluate(engine: SearchEngine, rows: Iterable[tuple[str, str]]) -> EvalReport:
    top1 = top3 = answered = answered_right = chose = declined = 0
    latencies = []
    n = 0
    for text, expected in rows:
        n += 1
        start = time.perf_counter()
        decision = engine.decide(text)
        latencies.append((time.perf_counter() - start) * 1000)
        ids = [h.article_id for h in decision.hits]
        top1 += bool(ids) and ids[0] == expected
        top3 += expected in ids[:3]
        if decision.kind == "answer":
            answered += 1
            answered_right += ids[0] == expected
        elif decision.kind == "choose":
            chose += 1
        else:
            declined += 1
    n = max(n, 1)
    lat = np.array(latencies or [0.0])
    return EvalReport(n=n, top1=top1 / n, top3=top3 / n, answered_share=answered / n, choice_share=chose / n,
                      declined_share=declined / n, answered_accuracy=answered_right / max(answered, 1),
                      p50_ms=float(np.percentile(lat, 50)), p95_ms=float(np.percentile(lat, 95)))
