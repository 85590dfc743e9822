"""Streaming deduplication and seeded sampling, shared by the merge steps.

A merge reads its inputs twice and never holds their text:

1. `Selection.scan` hashes every record (a line, or a pair of lines joined by a tab) to 64 bits
   and keeps only those hashes (8 bytes a record, in a numpy array).
2. `Selection.finish` marks the first occurrence of every distinct hash (duplicates dropped),
   drops records whose hash is in an exclusion set (e.g. the parallel corpus for a mono merge)
   and, when there are more than `max_sentences` left, keeps the `max_sentences` records with the
   smallest seeded priority (a hash of the record's hash and the seed). That is a uniform random
   sample fixed by the seed, the same as truncating after a seeded shuffle, but in one pass and
   in input order.
3. The caller streams the inputs again and writes record `i` when `selection.keep[i]`.

Two different records share a 64-bit hash with probability about n^2 / 2^65 (under 1% for 500M
records); such a collision drops one record, it never corrupts one.
"""

from __future__ import annotations

import array
import hashlib
import os
import re
from typing import Iterable, List, Optional

import numpy as np

from pipeline.common.io import StepError

_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


def record_hash(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


def _mix(values: np.ndarray, seed: int) -> np.ndarray:
    """splitmix64 of `values ^ seed`: a seeded, well-spread permutation of 64-bit values."""
    with np.errstate(over="ignore"):
        z = values ^ np.uint64(seed & 0xFFFFFFFFFFFFFFFF)
        z = (z + np.uint64(0x9E3779B97F4A7C15)) & _MASK
        z = ((z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _MASK
        z = ((z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _MASK
        return z ^ (z >> np.uint64(31))


def hash_set(records: Iterable[str]) -> np.ndarray:
    """The sorted distinct hashes of `records` (for exclusion)."""
    hashes = array.array("Q", (record_hash(r) for r in records))
    return np.unique(np.frombuffer(hashes, dtype=np.uint64)) if len(hashes) else np.zeros(0, np.uint64)


class Selection:
    def __init__(self) -> None:
        self._hashes = array.array("Q")
        self.keep: Optional[np.ndarray] = None
        self.duplicates = 0
        self.excluded = 0
        self.truncated = 0

    def add(self, text: str) -> None:
        self._hashes.append(record_hash(text))

    def scan(self, records: Iterable[str]) -> int:
        before = len(self._hashes)
        self._hashes.extend(record_hash(r) for r in records)
        return len(self._hashes) - before

    @property
    def total(self) -> int:
        return len(self._hashes)

    def finish(self, max_sentences: Optional[int] = None, seed: int = 1, exclude: Optional[np.ndarray] = None):
        hashes = np.frombuffer(self._hashes, dtype=np.uint64) if self.total else np.zeros(0, np.uint64)
        keep = np.zeros(len(hashes), dtype=bool)
        unique, first = np.unique(hashes, return_index=True)
        self.duplicates = len(hashes) - len(unique)
        if exclude is not None and len(exclude):
            allowed = ~np.isin(unique, exclude, assume_unique=True)
            self.excluded = int((~allowed).sum())
            unique, first = unique[allowed], first[allowed]
        if max_sentences is not None and len(first) > max_sentences:
            priority = _mix(unique, seed)
            chosen = np.argpartition(priority, max_sentences - 1)[:max_sentences]
            self.truncated = len(first) - max_sentences
            first = first[chosen]
        keep[first] = True
        self.keep = keep
        del self._hashes
        return keep

    @property
    def kept(self) -> int:
        return int(self.keep.sum()) if self.keep is not None else 0


def _natural_key(path: str):
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path)]


def find_files(directory: str, suffix: str) -> List[str]:
    """Files under `directory` (recursively) whose name ends with `suffix`, in natural order
    (`datasets/2/...` before `datasets/10/...`)."""
    if not os.path.isdir(directory):
        raise StepError(f"{directory}: no such directory")
    found = []
    for root, _dirs, files in os.walk(directory):
        for name in files:
            if name.endswith(suffix) and not name.startswith("."):
                found.append(os.path.join(root, name))
    return sorted(found, key=lambda p: _natural_key(os.path.relpath(p, directory)))


def find_parallel(directory: str, src: str, trg: str) -> List[tuple]:
    """(src file, trg file) pairs of every `<stem>.{src}.zst` with its `<stem>.{trg}.zst` beside it."""
    pairs = []
    for src_path in find_files(directory, f".{src}.zst"):
        trg_path = src_path[: -len(f".{src}.zst")] + f".{trg}.zst"
        if not os.path.exists(trg_path):
            raise StepError(f"{src_path}: no {os.path.basename(trg_path)} beside it")
        pairs.append((src_path, trg_path))
    for trg_path in find_files(directory, f".{trg}.zst"):
        if not os.path.exists(trg_path[: -len(f".{trg}.zst")] + f".{src}.zst"):
            raise StepError(f"{trg_path}: no .{src}.zst file beside it")
    if not pairs:
        raise StepError(f"{directory}: no *.{src}.zst / *.{trg}.zst datasets found")
    return pairs


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value
