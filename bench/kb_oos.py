"""Selective answering: answer what the knowledge base covers, decline what it doesn't.

    python bench/kb_oos.py --train ../shared/datasets/clinc150/train.csv --test ../shared/datasets/clinc150/val.csv --shots 10
    python bench/kb_oos.py --train ../shared/datasets/clinc150/train.csv --shots 0          # own dev split
    python bench/kb_oos.py --train ../shared/datasets/banking77/train.csv --shots 10 --baseline a4ce438

Builds one article per in-scope intent from TRAIN (CSV `text,intent`, or `text,category` as in
Banking77) with K sample questions each (`--shots 0` = all), and asks every TEST question through
`SearchEngine.decide`, exactly as a call does. Rows labelled `oos` are out-of-scope: the right
outcome is to decline. Training `oos` rows never enter the knowledge base (a real one has none);
without --test, the training file is split 80/20 (stratified, seeded) and its `oos` rows join the
dev part. `--baseline REV` also runs the engine as it was at git revision REV on the same data in
the same process, and prints its figures first with a `baseline_` prefix.

The last lines are:
  in_scope_right=  answered with the right article, or a two-way choice that holds it
  in_scope_wrong=  answered with a wrong article
  oos_answered=    out-of-scope questions answered with some article (a choice is not an answer)
  p95_ms=          95th-percentile time per question, one core (BLAS pinned to one thread)
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kb_common import DiskCachedEmbedder, article_id, build_articles, engine_at, train_and_test

from ivr.kb.embedding import get_embedder
from ivr.kb.evaluate import evaluate
from ivr.kb.search import SearchEngine


def run(engine_cls, articles, test, embedder, question_embedder, prefix: str = "") -> None:
    start = time.perf_counter()
    engine = engine_cls.build(articles, embedder=embedder)
    build_s = time.perf_counter() - start
    engine.embedder = question_embedder  # test questions are embedded live: latency is real
    engine.decide("warm up")
    report = evaluate(engine, test)
    p = prefix
    print(f"{p}build_s={build_s:.2f}")
    print(f"{p}top1={report.top1:.4f} {p}top3={report.top3:.4f}")
    print(f"{p}answered_share={report.answered_share:.4f} {p}choice_share={report.choice_share:.4f} "
          f"{p}declined_share={report.declined_share:.4f}")
    print(f"{p}in_scope_declined={report.in_scope_declined:.4f} {p}oos_choice={report.oos_choice:.4f} "
          f"{p}oos_declined={report.oos_declined:.4f}")
    print(f"{p}p50_ms={report.p50_ms:.2f}")
    print(f"{p}in_scope_right={report.in_scope_right:.4f}")
    print(f"{p}in_scope_wrong={report.in_scope_wrong:.4f}")
    print(f"{p}oos_answered={report.oos_answered:.4f}" if report.out_of_scope else f"{p}oos_answered=n/a")
    print(f"{p}p95_ms={report.p95_ms:.2f}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train", type=Path, required=True)
    p.add_argument("--test", type=Path)
    p.add_argument("--shots", type=int, default=10, help="sample questions per intent (0 = all)")
    p.add_argument("--dev-split", type=float, default=0.2, help="dev share when no --test is given")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--limit", type=int, default=0, help="ask only this many test questions (seeded sample)")
    p.add_argument("--asr-noise", action="store_true", help="perturb test questions like a recogniser would")
    p.add_argument("--baseline", metavar="REV", help="also run the engine as it was at this git revision")
    p.add_argument("--embed-cache", type=Path, help="reuse the sample questions' embeddings across runs (.npz)")
    p.add_argument("--cache-questions", action="store_true",
                   help="also take test questions from --embed-cache (quick iteration; p95_ms is then not real)")
    args = p.parse_args()

    train, test, where = train_and_test(args)
    articles = build_articles(train, args.shots, args.seed)
    known = {a.id for a in articles}
    test = [(text, article_id(label)) for text, label in test]
    unknown = sorted({aid for _, aid in test if aid and aid not in known})
    if unknown:
        print(f"error: test intents not in the training file: {', '.join(unknown[:5])}", file=sys.stderr)
        return 1
    n_oos = sum(1 for _, aid in test if not aid)
    live = get_embedder()
    embedder = DiskCachedEmbedder(live, args.embed_cache) if args.embed_cache else live
    question_embedder = embedder if args.cache_questions else live

    print(f"data={where} shots={args.shots or 'all'} asr_noise={args.asr_noise}")
    print(f"articles={len(articles)} sample_questions={sum(len(a.questions) for a in articles)} "
          f"in_scope_questions={len(test) - n_oos} oos_questions={n_oos}")
    if args.baseline:
        baseline_cls, _ = engine_at(args.baseline)
        print(f"baseline={args.baseline}")
        run(baseline_cls, articles, test, embedder, question_embedder, prefix="baseline_")
    run(SearchEngine, articles, test, embedder, question_embedder)
    if isinstance(embedder, DiskCachedEmbedder):
        embedder.save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
