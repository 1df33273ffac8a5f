"""Perturb text the way speech recognisers err, to measure retrieval on speech-shaped questions."""
from __future__ import annotations

import random
import re

HOMOPHONES = {
    "to": "two", "too": "two", "for": "four", "their": "there", "there": "their", "your": "you're",
    "know": "no", "no": "know", "new": "knew", "right": "write", "buy": "by", "by": "bye", "here": "hear",
    "week": "weak", "weight": "wait", "wait": "weight", "mail": "male", "sent": "cent", "would": "wood",
    "where": "wear", "which": "witch", "one": "won", "won't": "want", "pay": "pee", "card": "cart",
    "cash": "catch", "fee": "free", "fees": "freeze", "charged": "charge", "exchange": "change",
    "transfer": "transfers", "account": "count", "top": "stop", "pin": "pen", "rate": "right",
}
ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen").split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def number_words(n: int) -> str:
    if n < 20:
        return ONES[n]
    if n < 100:
        return TENS[n // 10] + ("" if n % 10 == 0 else " " + ONES[n % 10])
    if n < 1000:
        rest = n % 100
        return ONES[n // 100] + " hundred" + ("" if rest == 0 else " " + number_words(rest))
    return " ".join(ONES[int(d)] for d in str(n))


def perturb(text: str, rng: random.Random, drop: float = 0.12, swap: float = 0.35) -> str:
    """Lower-case, no punctuation, numbers as words, some short words dropped, some homophones."""
    text = re.sub(r"\d+", lambda m: f" {number_words(int(m.group()))} ", text.lower())
    words = re.findall(r"[a-z']+", text)
    out = []
    for w in words:
        if len(w) <= 3 and rng.random() < drop:
            continue
        if w in HOMOPHONES and rng.random() < swap:
            w = HOMOPHONES[w]
        out.append(w)
    return " ".join(out) if out else text
