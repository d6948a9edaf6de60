"""Deduplication and split assignment: which rows are kept, and in which split."""

from __future__ import annotations

import collections
from collections.abc import Iterable

from kerattn.data.corpus_row import CorpusRow
from kerattn.data.splits import SPLIT_NAMES, SplitRule

# Training wins: a text found in train and test stays in train only, so held-out texts are unseen.
_SPLIT_PRIORITY = {"train": 0, "valid": 1, "test": 2}
KINDS = ("translation", "classification")


def assign_splits(
    rows: Iterable[CorpusRow], rule: SplitRule, kind: str
) -> tuple[dict[str, list[CorpusRow]], dict[str, int]]:
    """Clean-up and split: drop empty, conflicting, leaking and duplicate rows, then group by split.

    Steps, in order:
    1. rows with an empty source or target are dropped (`dropped["empty"]`);
    2. classification only: a text that occurs with more than one label is dropped entirely
       (`dropped["conflicting_labels"]`), since neither label can be trusted;
    3. each row gets the split of its own key (`rule.split_of(row.key)`);
    4. a source text found in more than one split (a paragraph repeated across help pages, a
       UI string equal to a help heading) is kept only in the first of train, valid, test, so
       no valid or test input is ever seen in training and held-out sets contain only texts
       specific to held-out keys (`dropped["held_out_overlap"]`); this only ever removes rows,
       it never moves one to another split;
    5. exact (source, target) duplicates within a split keep their first occurrence
       (`dropped["duplicates"]`).
    Input order is kept within each split, so the same input gives the same output.

    Args:
        rows: the rows in a deterministic order.
        rule: the split rule.
        kind: "translation" (several targets per source allowed) or "classification".

    Returns:
        The rows per split name and the number of rows dropped per reason.
    """
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r} is not supported; use one of {', '.join(KINDS)}.")
    dropped = collections.Counter({"empty": 0, "duplicates": 0, "held_out_overlap": 0})
    kept = []
    for row in rows:
        if not row.source or not row.target:
            dropped["empty"] += 1
        else:
            kept.append(row)
    if kind == "classification":
        labels = collections.defaultdict(set)
        for row in kept:
            labels[row.source].add(row.target)
        conflicting = {text for text, found in labels.items() if len(found) > 1}
        dropped["conflicting_labels"] = sum(row.source in conflicting for row in kept)
        kept = [row for row in kept if row.source not in conflicting]

    split_of_row = [rule.split_of(row.key) for row in kept]
    home_split: dict[str, str] = {}
    for row, split in zip(kept, split_of_row):
        current = home_split.get(row.source)
        if current is None or _SPLIT_PRIORITY[split] < _SPLIT_PRIORITY[current]:
            home_split[row.source] = split

    by_split: dict[str, list[CorpusRow]] = {name: [] for name in SPLIT_NAMES}
    seen: set[tuple[str, str]] = set()
    for row, split in zip(kept, split_of_row):
        if home_split[row.source] != split:
            dropped["held_out_overlap"] += 1
        elif (row.source, row.target) in seen:
            dropped["duplicates"] += 1
        else:
            seen.add((row.source, row.target))
            by_split[split].append(row)
    return by_split, dict(dropped)
