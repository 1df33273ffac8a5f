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


def spoken_phone_number(number: str, home: str = "") -> str:
    """'+12075550101' -> '2 0 7, 5 5 5, 0 1 0 1': grouped as people say it, in the national format when
    the number is in the same country as `home` (the caller's own number), else the international one.
    Anything phonenumbers can't parse is read digit by digit."""
    import phonenumbers

    try:
        parsed = phonenumbers.parse(number if number.startswith("+") else f"+{number}")
    except phonenumbers.NumberParseException:
        return spell_out_digits(number)
    same_country = False
    if home:
        try:
            same_country = phonenumbers.parse(home).country_code == parsed.country_code
        except phonenumbers.NumberParseException:
            pass
    style = phonenumbers.PhoneNumberFormat.NATIONAL if same_country or not home else \
        phonenumbers.PhoneNumberFormat.INTERNATIONAL
    formatted = phonenumbers.format_number(parsed, style)
    groups = [spell_out_digits(g) for g in re.findall(r"\d+", formatted)]
    if style == phonenumbers.PhoneNumberFormat.INTERNATIONAL and groups:
        groups[0] = f"plus {groups[0]}"
    return ", ".join(groups) if groups else spell_out_digits(number)
