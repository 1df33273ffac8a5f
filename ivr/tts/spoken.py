"""Turn numbers and references into the words people say on the phone."""
from __future__ import annotations

import re


def spell_out_digits(number: str) -> str:
    """'4512' -> '4 5 1 2': read digit by digit, as people read order numbers."""
    return " ".join(ch for ch in number if ch.isalnum())


def spoken_reference(reference: str) -> str:
    """'AB12' -> 'A B 12': letters one by one, the number as a number."""
    letters = re.match(r"[A-Za-z]*", reference).group(0)
    rest = reference[len(letters):]
    parts = [*letters.upper()]
    if rest:
        parts.append(rest)
    return " ".join(parts)
