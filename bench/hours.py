"""What the opening hours cost a webhook: 'open now?' plus 'when does that change?' and its words.

Every call's greeting asks (ivr/flow/states/desk.py). Compared, in the same run, with a
primary-key lookup in SQLite (an order look-up), the kind of work every webhook already does.
Prints `name=value` lines.
"""
from __future__ import annotations

import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ivr.hours.schedule import load_hours, parse_hours  # noqa: E402
from ivr.hours.spoken import closed_phrase, open_phrase  # noqa: E402
from ivr.prompts import PromptCatalogue  # noqa: E402

ROUNDS, PER_ROUND = 7, 500


def per_call_us(fn) -> float:
    """Median over rounds of the mean time per call, in microseconds."""
    rounds = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for i in range(PER_ROUND):
            fn(i)
        rounds.append((time.perf_counter() - start) / PER_ROUND * 1e6)
    return statistics.median(rounds)


def main() -> None:
    t = PromptCatalogue.load(ROOT / "prompts").text
    sample = load_hours(ROOT / "kb_data" / "hours.yaml")
    never = parse_hours({"timezone": "UTC", "weekly": {}})  # worst case: scans the whole horizon
    start = datetime(2026, 11, 20, tzinfo=UTC)
    moments = [start + timedelta(minutes=37 * i) for i in range(PER_ROUND)]  # a week and a half of calls

    def desk(hours):
        def run(i: int) -> None:
            now = moments[i]
            if not hours.is_open(now):
                closed_phrase(t, hours, now)
            else:
                open_phrase(t, hours, now)
        return run

    with tempfile.TemporaryDirectory() as tmp:
        db = sqlite3.connect(Path(tmp) / "b.db")
        db.execute("create table orders (number text primary key, status text)")
        db.executemany("insert into orders values (?, ?)", [(str(100000 + i), "shipped") for i in range(5000)])
        db.commit()
        baseline = per_call_us(lambda i: db.execute("select status from orders where number = ?",
                                                    (str(100000 + i),)).fetchone())
        db.close()
    sample_us = per_call_us(desk(sample))
    never_us = per_call_us(desk(never))
    print(f"sqlite_pk_lookup_us={baseline:.1f}")
    print(f"hours_sample_us={sample_us:.1f}")
    print(f"hours_sample_vs_lookup={sample_us / baseline:.1f}")
    print(f"hours_never_open_us={never_us:.1f}")
    print(f"hours_never_open_vs_lookup={never_us / baseline:.1f}")


if __name__ == "__main__":
    main()
