"""What a caller said, reduced to what they asked.

Callers don't speak like sample questions: "um yeah hi so I bought a jacket last week and it's the
wrong size", "I was wondering if you could tell me when you close", "hi there, quick question,
...". The words around the question (hesitations, greetings, small talk, polite wrappers) pull its
embedding towards every other greeting, so a covered question can look off-topic.

`core` drops hesitations anywhere and peels wrappers off both ends, repeatedly, while something
with content is left; `windows` splits a long ramble into clause windows, so the clause that holds
the question can be scored on its own (search.py takes the best view, with a guard).
Both are word-level rules on recogniser output (lower case, usually no punctuation) and on
typed text; no model is needed.
"""
from __future__ import annotations

import re

# Sounds that are never words of a question.
_HESITATION = r"(?:um+|uh+|umm+|erm+|er|ah+|eh|hmm+|mm+|uh[- ]huh)"

# "can you tell me", "I'd like to know", "I was wondering if you could tell me": peeled only when a
# question follows (what, when, how, if, is, do, can...), since "can you tell me a joke" or "I need
# to know the pin of my card" is not a question once peeled.
_QUESTION_NEXT = (r"(?=\s*(?:what|what's|when|where|where's|how|how's|why|who|which|whose|whether|if|is|are|was|"
                  r"were|do|does|did|can|could|will|would|should|have|has|there|you)\b)")
# Wrappers a caller puts before the question: each alternative is a whole phrase, matched at the
# start of what is left, and peeled off repeatedly ("yeah hi so basically ..." -> "...").
_OPENERS = [
    r"(?:hi|hello|hey|hiya|howdy|(?:good )?(?:morning|afternoon|evening)|good day)(?: there| love| mate| guys| again)?",
    r"how(?:'s| is) it going|how are you(?: doing)?(?: today)?|hope you(?:'re| are) (?:well|ok|okay)",
    (r"(?:i(?:'ve| have)? (?:got |just )?(?:a|one) )?quick (?:question|one|query)|i have a (?:quick )?question|"
     r"(?:i've |i have )?got a (?:quick )?question|(?:just )?a quick (?:question|one)|question for you"),
    (r"(?:i'm |i am )?sorry to (?:bother|trouble) you(?: but)?|i hope you can help(?: me)?(?: with something)?|"
     r"i(?:'m| am) not sure if (?:this is|i'm in|i am in) the right (?:place|department|number)(?: but)?"),
    r"thanks for (?:picking up|answering|taking my call)|thank you for (?:picking up|answering|taking my call)",
    r"the thing is|here(?:'s| is) the thing|what (?:it is|happened) is|long story short|to be honest",
    (r"i(?:'m| am) (?:just )?(?:calling|ringing|phoning)(?: you)? (?:because|cause|since|about|regarding|"
     r"to ask(?: about| if| whether)?|to find out(?: about| if| whether)?|to check(?: on| if| whether)?|"
     r"to see(?: if| whether)?)"),
    (r"i(?: was| am|'m) (?:just )?(?:wondering|hoping|calling to ask|trying to find out)"
     r"(?: if| whether)?(?: you could| you can| you might| you would)?(?: possibly)?(?: please)?"
     r"(?: help me| tell me| let me know| explain)?"),
    (r"(?:(?:can|could|would|will) you (?:possibly |please |maybe |just )?(?:tell me|let me know|explain)"
     r"(?: please)?|i(?:'d| would) (?:like|love|want) to (?:know|ask|find out|check)|"
     r"i (?:just )?want(?:ed)? to (?:know|ask|find out|check)|i need to (?:know|ask|find out)|"
     r"do you (?:happen to )?know)(?: if| whether)?" + _QUESTION_NEXT),
    r"(?:can|could|would|will) you (?:possibly |please |maybe |just )?help me(?: with)?(?: please)?",
    # single words last, so "sorry to bother you" is peeled whole rather than "sorry"
    (r"yes|yeah|yep|yup|ok|okay|alright|all right|right|so|well|oh|now|and|but|then|also|basically|actually|"
     r"honestly|listen|anyway|sorry|excuse me|please|thanks|thank you|cheers"),
]
# ...and after it: "..., please", "... thanks", "... if that's okay", "... if you can help".
_CLOSERS = [
    (r"please|thanks|thank you(?: (?:so|very) much)?|cheers|if possible|"
     r"if (?:that's|that is) (?:ok|okay|alright|possible)|"
     r"if you don't mind|if you can help(?: me)?|(?:can|could) you help(?: me)?|any ideas|so|and|but|sorry"),
]
_HESITATION_RE = re.compile(rf"(?<![\w'])(?:{_HESITATION})(?![\w'])[,.]*", re.IGNORECASE)
_OPENER_RE = re.compile(rf"^(?:{'|'.join(_OPENERS)})(?![\w'])[\s,.!?;:-]*", re.IGNORECASE)
_CLOSER_RE = re.compile(rf"[\s,.!?;:-]*(?<![\w'])(?:{'|'.join(_CLOSERS)})[\s,.!?;:-]*$", re.IGNORECASE)
_WORD = re.compile(r"[a-z0-9']+", re.IGNORECASE)

MIN_CORE_WORDS = 2  # peel no further than this: "hi, thank you" stays as it was said
RAMBLE_WORDS = 16  # from this many words (after peeling), clause windows are scored too
WINDOW_MIN_WORDS = 4
MAX_WINDOWS = 8

# Where a ramble's clauses join: punctuation, and the words callers join them with.
_CLAUSE_BREAK = re.compile(
    r"[.?!;]+\s*|,\s*|\s+(?=(?:so|and|but|because|cause|and then|which|though|anyway|now|"
    r"i mean|like i said)\s)", re.IGNORECASE)


def _words(text: str) -> int:
    return len(_WORD.findall(text))


def _tidy(text: str) -> str:
    return " ".join(text.replace("’", "'").split()).strip(" ,;:-")


def core(text: str) -> str:
    """The question without hesitations and the wrappers around it; the text itself if peeling
    would leave fewer than MIN_CORE_WORDS words."""
    said = _tidy(text)
    out = _tidy(_HESITATION_RE.sub(" ", said))
    if _words(out) < MIN_CORE_WORDS:
        return said
    while True:
        peeled = _tidy(_OPENER_RE.sub("", out, count=1))
        peeled = _tidy(_CLOSER_RE.sub("", peeled, count=1))
        if peeled == out or _words(peeled) < MIN_CORE_WORDS:
            return out
        out = peeled


def windows(text: str) -> list[str]:
    """For a ramble (RAMBLE_WORDS+ words), windows of one to three consecutive clauses, each
    peeled like `core`, at least WINDOW_MIN_WORDS words, later ones first (callers tend to
    come to the question last), at most MAX_WINDOWS; [] for a short utterance."""
    if _words(text) < RAMBLE_WORDS:
        return []
    clauses = [c for c in (_tidy(p) for p in _CLAUSE_BREAK.split(text)) if c]
    if len(clauses) < 2:
        return []
    seen: set[str] = {text}
    out: list[str] = []
    for size in (2, 1, 3):
        for start in range(len(clauses) - size, -1, -1):
            window = core(" ".join(clauses[start:start + size]))
            if _words(window) >= WINDOW_MIN_WORDS and window not in seen:
                seen.add(window)
                out.append(window)
    return out[:MAX_WINDOWS]
