"""Knowledge-base retrieval on Banking77: one article per intent, answered through SearchEngine.decide.

    python bench/kb_banking77.py --train ../shared/datasets/banking77/train.csv --shots 10
    python bench/kb_banking77.py --train TRAIN.csv --test TEST.csv --shots 0 --asr-noise

Without --test, the training file is split (seeded, stratified) into train and dev parts.
Runs on one CPU core (BLAS threads pinned to 1) so latency reads per core.
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from kb_common import train_and_test

from ivr.kb.article import ArticleText
from ivr.kb.evaluate import evaluate
from ivr.kb.search import SearchEngine


def build_articles(train, shots: int, seed: int) -> list[ArticleText]:
    by_label = defaultdict(list)
    for text, label in train:
        by_label[label].append(text)
    rng = random.Random(seed)
    articles = []
    for label, texts in sorted(by_label.items()):
        texts = sorted(texts)
        rng.shuffle(texts)
        chosen = texts if shots == 0 else texts[:shots]
        title = label.replace("_", " ")
        articles.append(ArticleText(id=label, title=title, topic="bank", answer=title, questions=tuple(chosen)))
    return articles


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train", type=Path, required=True)
    p.add_argument("--test", type=Path)
    p.add_argument("--shots", type=int, default=10, help="sample questions per intent (0 = all)")
    p.add_argument("--dev-split", type=float, default=0.2, help="dev share when no --test is given")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--asr-noise", action="store_true", help="perturb test questions like a recogniser would")
    p.add_argument("--limit", type=int, default=0, help="evaluate only this many test questions")
    args = p.parse_args()

    train, test, where = train_and_test(args)
    articles = build_articles(train, args.shots, args.seed)
    n_questions = sum(len(a.questions) for a in articles)

    start = time.perf_counter()
    engine = SearchEngine.build(articles)
    build_s = time.perf_counter() - start
    engine.decide("warm up")
    report = evaluate(engine, test)
    print(f"data={where} shots={args.shots or 'all'} asr_noise={args.asr_noise}")
    print(f"articles={len(articles)} sample_questions={n_questions} test_questions={report.n}")
    print(f"semantic={'on' if engine.embedder is not None else 'off'} build_s={build_s:.2f}")
    print(f"top3={report.top3:.4f}")
    print(f"answered_share={report.answered_share:.4f} choice_share={report.choice_share:.4f} "
          f"declined_share={report.declined_share:.4f}")
    print(f"answered_accuracy={report.answered_accuracy:.4f}")
    print(f"p50_ms={report.p50_ms:.2f}")
    print(f"top1={report.top1:.4f}")
    print(f"p95_ms={report.p95_ms:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
