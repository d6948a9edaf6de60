"""Near-duplicate texts: which texts of a corpus are the same text up to case, punctuation or small edits.

Two texts are near duplicates when

- their *normalized* forms are equal (`normalized_text`: case-folded words, punctuation,
  markup remnants and spacing ignored: "Great film!!" and "great film"), or
- the Jaccard similarity of their sets of word trigrams is at least `threshold` (0.6 by
  default: a review posted twice with a sentence added, a greeting in front or a few words
  changed; on the real review corpora every pair found from 0.6 up was such a copy).

Candidates for the second test are found with MinHash (64 hash functions, 21 bands of 3) and
every candidate pair is then checked exactly, so a reported pair always meets the threshold;
a pair at the default threshold 0.6 is missed with probability 0.6 %, one at 0.8 almost never.
Groups are the connected components of the pairs. Everything is deterministic: the same texts give the same groups on
every machine and run.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence

import numpy as np

_WORD = re.compile(r"\w+")
_HASHES = 64
_BANDS = 21
_ROWS = 3  # 21 bands of 3 of the 64 hashes
# Fixed multiply-shift hash parameters (odd multipliers), drawn from shake-256 of a constant.
_SEED = hashlib.shake_256(b"kerattn near-duplicate minhash v1").digest(16 * _HASHES)
_PARAMETERS = (
    np.frombuffer(_SEED[: 16 * _HASHES], dtype=">u8").astype(np.uint64).reshape(2, _HASHES)
)
_MULTIPLIERS = _PARAMETERS[0] | np.uint64(1)
_OFFSETS = _PARAMETERS[1]
_MIX = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9], dtype=np.uint64)


def words_of(text: str) -> list[str]:
    """The case-folded words (runs of letters, digits and `_`) of `text`, in NFKC."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def normalized_text(text: str) -> str:
    """`text` as its case-folded words joined by single spaces: punctuation and spacing ignored."""
    return " ".join(words_of(text))


def near_duplicate_groups(
    texts: Sequence[str], threshold: float = 0.6, shingle_words: int = 3
) -> list[int]:
    """Return, for each text, the index of the first text of its near-duplicate group.

    Args:
        texts: the texts, in a deterministic order.
        threshold: the word-trigram Jaccard similarity from which two texts are near duplicates.
        shingle_words: words per shingle (3: trigrams). A text with fewer words is one shingle.

    Returns:
        `groups` with `groups[i] == i` for the first text of each group (a text with no near
        duplicate is its own group), else the index of that first text.
    """
    parent = list(range(len(texts)))

    def root(index: int) -> int:
        while parent[index] != index:
            parent[index] = parent[parent[index]]
            index = parent[index]
        return index

    def union(first: int, second: int) -> None:
        first, second = root(first), root(second)
        if first != second:
            parent[max(first, second)] = min(first, second)

    first_of_form: dict[str, int] = {}
    representatives = []
    word_ids: dict[str, int] = {}
    for index, text in enumerate(texts):
        words = words_of(text)
        form = " ".join(words)
        if form in first_of_form:
            union(first_of_form[form], index)
            continue
        first_of_form[form] = index
        if words:
            representatives.append((index, _shingles(words, word_ids, shingle_words)))

    buckets: dict[tuple[int, bytes], list[int]] = {}
    shingles_of = {}
    for index, shingles in representatives:
        shingles_of[index] = shingles
        signature = _minhash(shingles)
        for band in range(_BANDS):
            key = (band, signature[band * _ROWS : (band + 1) * _ROWS].tobytes())
            buckets.setdefault(key, []).append(index)
    checked: set[tuple[int, int]] = set()
    for members in buckets.values():
        for position, first in enumerate(members):
            for second in members[position + 1 :]:
                if (first, second) in checked:
                    continue
                checked.add((first, second))
                if _jaccard(shingles_of[first], shingles_of[second]) >= threshold:
                    union(first, second)
    return [root(index) for index in range(len(texts))]


def _shingles(words: list[str], word_ids: dict[str, int], size: int) -> np.ndarray:
    ids = np.array([_word_id(word, word_ids) for word in words], dtype=np.uint64)
    if len(ids) < size:
        ids = np.concatenate([ids, np.zeros(size - len(ids), dtype=np.uint64)])
    combined = np.zeros(len(ids) - size + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for offset in range(size):
            combined = (
                combined * _MIX[offset % len(_MIX)] + ids[offset : len(ids) - size + 1 + offset]
            )
    return np.unique(combined)


def _word_id(word: str, word_ids: dict[str, int]) -> int:
    found = word_ids.get(word)
    if found is None:
        digest = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()
        found = word_ids[word] = int.from_bytes(digest, "big") | 1
    return found


def _minhash(shingles: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        hashed = shingles[:, None] * _MULTIPLIERS[None, :] + _OFFSETS[None, :]
    return (hashed >> np.uint64(32)).min(axis=0)


def _jaccard(first: np.ndarray, second: np.ndarray) -> float:
    shared = len(np.intersect1d(first, second, assume_unique=True))
    return shared / (len(first) + len(second) - shared)
