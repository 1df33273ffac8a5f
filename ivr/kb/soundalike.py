"""Undo a recogniser's sound-alike mistakes before a question is searched.

Speech recognition swaps a word for one that sounds the same: "cart" for "card", "pen" for
"pin", "cent" for "sent". Such a word is usually one the knowledge base never uses, while
the word the caller said is one it uses often. So a question word the knowledge base doesn't
know, which sounds like a word it does (same Metaphone key) and is spelt within two edits of
it (one edit for words of up to four letters), is read as that word. Words the knowledge base
uses are never touched, so typed or well-recognised questions pass through unchanged.

jellyfish supplies Metaphone and edit distance (a small Rust-backed wheel, no dependencies).
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Iterable

import jellyfish

WORD_RE = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")


class SoundAlike:
    """Corrects question words toward the knowledge base's vocabulary by sound."""

    def __init__(self, texts: Iterable[str], *, skip: Collection[str] = (), min_count: int = 2,
                 max_edits: int = 2, min_length: int = 3):
        self.vocabulary: Counter = Counter()
        for text in texts:
            self.vocabulary.update(w.lower() for w in WORD_RE.findall(text))
        self.skip = frozenset(skip)
        self.max_edits = max_edits
        self.min_length = min_length
        self.by_sound: dict[str, str] = {}
        for word, count in self.vocabulary.most_common():  # the commonest word wins a shared key
            if count >= min_count and len(word) >= min_length and word not in self.skip:
                self.by_sound.setdefault(jellyfish.metaphone(word), word)

    def word(self, word: str) -> str:
        lower = word.lower()
        if lower in self.vocabulary or lower in self.skip or len(lower) < self.min_length:
            return word
        known = self.by_sound.get(jellyfish.metaphone(lower))
        # Short words collide by sound easily ("ate", "add"): they may differ by one letter only.
        allowed = 1 if len(lower) <= 4 else self.max_edits
        if known and jellyfish.damerau_levenshtein_distance(lower, known) <= allowed:
            return known
        return word

    def correct(self, text: str) -> str:
        return WORD_RE.sub(lambda m: self.word(m.group()), text)
