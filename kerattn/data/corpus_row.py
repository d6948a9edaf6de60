"""One row of a corpus before it is written: its texts, where it came from and its split key."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class CorpusRow:
    """A source/target (or text/label) pair with its origin and the key that decides its split.

    Args:
        source: the input text (English sentence, word, review).
        target: the output (translation, pronunciation, label).
        origin: where the row came from, written as the third TSV column (help file path,
            `ui/<catalog>`, `imdb`, ...).
        key: the string hashed to choose the split (help file path, word, text).
    """

    source: str
    target: str
    origin: str
    key: str
