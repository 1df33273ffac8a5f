"""Shared by the knowledge-base benchmarks: read labelled CSVs, split them, build one article per
intent, reuse embeddings across runs, and load the engine as it was at an earlier commit.

Not part of the product: nothing under ivr/ imports this.
"""
from __future__ import annotations

import csv
import hashlib
import importlib
import random
import subprocess
import sys
import tarfile
import tempfile
from collections import defaultdict
from io import BytesIO
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ivr.kb.article import ArticleText  # noqa: E402

OOS = "oos"


def read_rows(path: Path) -> list[tuple[str, str]]:
    """(text, label) rows from a CSV with columns text and intent (CLINC150) or category (Banking77)."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        fields = reader.fieldnames or []
        label = next((f for f in ("intent", "category", "label", "article_id") if f in fields), None)
        if "text" not in fields or label is None:
            raise SystemExit(f"error: {path}: expected columns text and intent (or category)")
        return [(r["text"].strip(), (r[label] or "").strip()) for r in reader if (r["text"] or "").strip()]


def split(rows, dev_share: float, seed: int):
    """Stratified split of in-scope rows; every out-of-scope row goes to the dev part (a KB has none)."""
    by_label = defaultdict(list)
    dev = []
    for text, label in rows:
        if label == OOS:
            dev.append((text, label))
        else:
            by_label[label].append(text)
    rng = random.Random(seed)
    train = []
    for label, texts in sorted(by_label.items()):
        rng.shuffle(texts)
        cut = max(1, int(len(texts) * dev_share))
        dev += [(t, label) for t in texts[:cut]]
        train += [(t, label) for t in texts[cut:]]
    return train, dev


def train_and_test(args) -> tuple[list, list, str]:
    """The benchmarks' data from their shared flags: --test, or a seeded split of --train
    (--dev-split, --seed); then --limit test questions, perturbed with --asr-noise."""
    from ivr.kb.asr_noise import perturb

    rows = read_rows(args.train)
    if args.test:
        train, test = rows, read_rows(args.test)
        where = f"test={args.test.name}"
    else:
        train, test = split(rows, args.dev_split, args.seed)
        where = f"dev split {args.dev_split:.0%} of {args.train.name} (seed {args.seed})"
    if args.limit:
        test = random.Random(args.seed).sample(test, min(args.limit, len(test)))
    if args.asr_noise:
        rng = random.Random(args.seed)
        test = [(perturb(t, rng), label) for t, label in test]
    return train, test, where


def build_articles(train, shots: int, seed: int, topic: str = "kb") -> list[ArticleText]:
    """One article per in-scope intent; its sample questions are `shots` training questions (0 = all)."""
    by_label = defaultdict(list)
    for text, label in train:
        if label != OOS:
            by_label[label].append(text)
    rng = random.Random(seed)
    articles = []
    for label, texts in sorted(by_label.items()):
        texts = sorted(set(texts))
        rng.shuffle(texts)
        chosen = texts if shots == 0 else texts[:shots]
        title = label.replace("_", " ")
        article_id = label.replace("_", "-").lower()
        articles.append(ArticleText(id=article_id, title=title, topic=topic, answer=title, questions=tuple(chosen)))
    return articles


def article_id(label: str) -> str:
    """The article id build_articles gives an intent; '' for out-of-scope (should decline)."""
    return "" if label == OOS else label.replace("_", "-").lower()


class DiskCachedEmbedder:
    """Wraps the real embedder with an on-disk cache, so re-running a benchmark skips re-embedding.

    Vectors are exactly the model's (they were computed by it); latency figures are only
    meaningful for texts not in the cache, so the benchmarks embed test questions uncached.
    """

    def __init__(self, inner, path: Path):
        self.inner, self.path = inner, Path(path)
        self.dim = inner.dim
        self.cache: dict[str, np.ndarray] = {}
        if self.path.exists():
            data = np.load(self.path, allow_pickle=False)
            for key, vec in zip(data["keys"], data["vecs"]):
                self.cache[str(key)] = vec
        self.dirty = False

    @staticmethod
    def key(text: str) -> str:
        return hashlib.sha1(text.encode()).hexdigest()

    def embed(self, texts, batch_size: int = 64) -> np.ndarray:
        keys = [self.key(t) for t in texts]
        missing = [i for i, k in enumerate(keys) if k not in self.cache]
        if missing:
            fresh = self.inner.embed([texts[i] for i in missing], batch_size)
            for i, vec in zip(missing, fresh):
                self.cache[keys[i]] = vec
            self.dirty = True
        if not keys:
            return np.zeros((0, self.dim), np.float32)
        return np.stack([self.cache[k] for k in keys])

    def save(self) -> None:
        if self.dirty:
            keys = np.array(sorted(self.cache))
            tmp = self.path.with_suffix(".tmp.npz")
            np.savez(tmp, keys=keys, vecs=np.stack([self.cache[k] for k in keys]))
            tmp.replace(self.path)
            self.dirty = False


def engine_at(revision: str):
    """The SearchEngine class as it was at a git revision (e.g. the commit before a change), for a
    before/after comparison in the same run. Its ivr/kb files are imported as a separate package."""
    blob = subprocess.run(["git", "archive", "--format=tar", revision, "ivr/kb"], cwd=ROOT,
                          capture_output=True, check=True).stdout
    where = Path(tempfile.mkdtemp(prefix="kb-baseline-"))
    with tarfile.open(fileobj=BytesIO(blob)) as tar:
        tar.extractall(where, filter="data")
    package = f"kb_baseline_{revision.replace('-', '_').replace('~', '_').replace('^', '_')[:20]}"
    (where / "ivr" / "kb").rename(where / package)
    (where / package / "__init__.py").touch()
    sys.path.insert(0, str(where))
    module = importlib.import_module(f"{package}.search")
    importlib.import_module(f"{package}.article")
    return module.SearchEngine, importlib.import_module(f"{package}.article").ArticleText
