"""The stable hash rule that assigns every row of a corpus to train, valid or test."""

from __future__ import annotations

import dataclasses
import hashlib

from kerattn.data.corpus_error import CorpusError

SPLIT_NAMES = ("train", "valid", "test")
BUCKETS = 1000


@dataclasses.dataclass(frozen=True)
class SplitRule:
    """Assigns a split from a key alone: sha1 of the UTF-8 key, first 8 bytes big-endian, mod 1000.

    Buckets `[0, test)` are test, `[test, test + valid)` valid, the rest train. The split of a row
    depends only on its own key, so adding rows to a corpus never moves an existing row to
    another split, and the same key always lands in the same split whatever the corpus.

    Args:
        test_fraction: share of buckets for test, a multiple of 0.001 in [0, 1).
        valid_fraction: share of buckets for valid, a multiple of 0.001 in [0, 1).
    """

    test_fraction: float = 0.05
    valid_fraction: float = 0.05

    def __post_init__(self) -> None:
        for name in ("test_fraction", "valid_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0 or abs(value * BUCKETS - round(value * BUCKETS)) > 1e-9:
                raise CorpusError(
                    f"{name}={value!r} is invalid; use a multiple of 0.001 from 0 up to below 1."
                )
        if self.test_buckets + self.valid_buckets >= BUCKETS:
            raise CorpusError(
                f"test_fraction + valid_fraction = {self.test_fraction + self.valid_fraction:g} "
                "leaves nothing for training; keep their sum below 1."
            )

    @property
    def test_buckets(self) -> int:
        """Number of the 1000 buckets that go to test."""
        return round(self.test_fraction * BUCKETS)

    @property
    def valid_buckets(self) -> int:
        """Number of the 1000 buckets that go to valid."""
        return round(self.valid_fraction * BUCKETS)

    def split_of(self, key: str) -> str:
        """Return "train", "valid" or "test" for `key`."""
        bucket = bucket_of(key)
        if bucket < self.test_buckets:
            return "test"
        if bucket < self.test_buckets + self.valid_buckets:
            return "valid"
        return "train"

    def describe(self) -> dict:
        """The rule as plain data for the manifest."""
        return {
            "hash": "sha1(utf-8 key), first 8 bytes as a big-endian integer, mod 1000",
            "buckets": BUCKETS,
            "test": [0, self.test_buckets],
            "valid": [self.test_buckets, self.test_buckets + self.valid_buckets],
            "train": [self.test_buckets + self.valid_buckets, BUCKETS],
            "test_fraction": self.test_fraction,
            "valid_fraction": self.valid_fraction,
        }


def bucket_of(key: str) -> int:
    """Return the bucket (0..999) of `key`: sha1 of its UTF-8 bytes, first 8 bytes, mod 1000."""
    digest = hashlib.sha1(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS
