"""How long reloading a 1,000-article knowledge base takes: cold (first load in a process),
warm (same texts, cached embeddings) and after editing 1% of the articles.

    python bench/kb_reload.py --train ../shared/datasets/banking77/train.csv
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kb_common import read_rows

from ivr.kb.article import ArticleText
from ivr.kb.embedding import get_embedder
from ivr.kb.search import SearchEngine


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--train", type=Path, required=True)
    p.add_argument("--articles", type=int, default=1000)
    p.add_argument("--questions", type=int, default=6, help="sample questions per article")
    args = p.parse_args()
    texts = [t for t, _ in read_rows(args.train)]
    need = args.articles * args.questions
    texts = (texts * (need // len(texts) + 1))[:need]
    articles = [ArticleText(id=f"a{i}", title=texts[i * args.questions], topic="t", answer=texts[i * args.questions],
                            questions=tuple(texts[i * args.questions:(i + 1) * args.questions]))
                for i in range(args.articles)]
    t = time.perf_counter()
    get_embedder()
    load_s = time.perf_counter() - t
    t = time.perf_counter()
    SearchEngine.build(articles)
    cold = time.perf_counter() - t
    t = time.perf_counter()
    SearchEngine.build(articles)
    warm = time.perf_counter() - t
    edited = [ArticleText(a.id, a.title, a.topic, a.answer, a.questions + (f"edited question {i}",))
              if i % 100 == 0 else a for i, a in enumerate(articles)]
    t = time.perf_counter()
    SearchEngine.build(edited)
    one_percent = time.perf_counter() - t
    print(f"articles={args.articles} sample_questions={need}")
    print(f"model_load_s={load_s:.2f}")
    print(f"cold_build_s={cold:.2f}")
    print(f"reload_unchanged_s={warm:.2f} ({cold / warm:.1f}x faster than cold)")
    print(f"reload_1pct_edited_s={one_percent:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
