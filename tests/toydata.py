"""A toy language pair that a tiny Marian model learns in seconds.

The source side is Cyrillic pseudo-words (so it passes script checks for `ru`), the target side
Latin pseudo-words (`en`); the target is a word-by-word dictionary translation of the source, so
a one-layer transformer reaches a usable chrF after ~100 updates. Deterministic for a seed.
"""

from __future__ import annotations

import random

from pipeline.common.io import write_lines

_CYRILLIC = "бвгдклмнпрстфхцчш"
_VOWELS_RU = "аеиоуыя"
_LATIN = "bcdfghklmnprstvz"
_VOWELS_EN = "aeiou"


def _words(consonants, vowels, count, seed):
    rng = random.Random(seed)
    words = set()
    while len(words) < count:
        syllables = rng.randint(1, 3)
        words.add("".join(rng.choice(consonants) + rng.choice(vowels) for _ in range(syllables)))
    return sorted(words)


SRC_WORDS = _words(_CYRILLIC, _VOWELS_RU, 60, seed=1)
TRG_WORDS = _words(_LATIN, _VOWELS_EN, 60, seed=2)
DICTIONARY = dict(zip(SRC_WORDS, TRG_WORDS))


def translate(sentence: str) -> str:
    """The reference translation of a toy source sentence."""
    words = [DICTIONARY[w] for w in sentence.rstrip(".").split()]
    return (" ".join(words).capitalize() + ".") if words else ""


def pairs(count: int, seed: int = 0, min_words: int = 3, max_words: int = 8):
    """`count` (source, target) sentence pairs."""
    rng = random.Random(seed)
    result = []
    for _ in range(count):
        words = [rng.choice(SRC_WORDS) for _ in range(rng.randint(min_words, max_words))]
        src = " ".join(words).capitalize() + "."
        result.append((src, translate(src.lower())))
    return result


def write_parallel(prefix: str, src: str, trg: str, count: int, seed: int = 0) -> None:
    """Write `{prefix}.{src}.zst` and `{prefix}.{trg}.zst` (any suffix: .zst, .gz or plain)."""
    data = pairs(count, seed)
    with write_lines(f"{prefix}.{src}.zst") as out:
        out.write_all(s for s, _ in data)
    with write_lines(f"{prefix}.{trg}.zst") as out:
        out.write_all(t for _, t in data)


def write_mono(path: str, side: str, count: int, seed: int = 0) -> None:
    """Monolingual toy text: the source (`side="src"`) or target side of fresh pairs."""
    index = 0 if side == "src" else 1
    with write_lines(path) as out:
        out.write_all(pair[index] for pair in pairs(count, seed))
