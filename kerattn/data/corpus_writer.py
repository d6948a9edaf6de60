"""The last step shared by every builder: split, write the TSV files and the manifest atomically."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from kerattn.data.atomic_folder import atomic_folder
from kerattn.data.corpus_row import CorpusRow
from kerattn.data.deduplication import assign_splits
from kerattn.data.manifest import build_manifest, write_manifest
from kerattn.data.splits import SPLIT_NAMES, SplitRule
from kerattn.data.tsv import write_rows


def write_corpus(
    rows: Iterable[CorpusRow],
    out_dir: str | os.PathLike,
    *,
    corpus: str,
    kind: str,
    columns: Sequence[str],
    rule: SplitRule,
    key_description: str,
    sources: list[dict],
    licenses: list[str],
    options: dict,
    dropped: dict[str, int] | None = None,
    notes: Sequence[str] = (),
    extra_files: dict[str, list[Sequence[str]]] | None = None,
) -> dict:
    """Deduplicate and split `rows`, then write train/valid/test TSVs and `manifest.json`.

    Everything is written into a temporary folder beside `out_dir` and renamed into place only
    when complete (see `atomic_folder`).

    Args:
        rows: the cleaned rows in a deterministic order.
        out_dir: the corpus folder to create or replace.
        corpus: the corpus name recorded in the manifest.
        kind: "translation" or "classification" (see `assign_splits`).
        columns: names of the three TSV columns (e.g. source, target, origin).
        rule: the split rule.
        key_description: what the split key of a row is, for the manifest.
        sources: input packages/files for the manifest.
        licenses: license statements for the manifest.
        options: builder options for the manifest.
        dropped: rows the builder already dropped per reason (untranslated, ...).
        notes: design decisions to record in the manifest.
        extra_files: further TSV files to write (name -> rows), listed with checksums.

    Returns:
        The manifest that was written.
    """
    by_split, split_dropped = assign_splits(rows, rule, kind)
    all_dropped = dict(dropped or {})
    for reason, count in split_dropped.items():
        all_dropped[reason] = all_dropped.get(reason, 0) + count
    with atomic_folder(out_dir) as folder:
        counts = {}
        for name in SPLIT_NAMES:
            counts[f"{name}.tsv"] = write_rows(
                folder / f"{name}.tsv",
                ((row.source, row.target, row.origin) for row in by_split[name]),
            )
        for name, extra_rows in (extra_files or {}).items():
            counts[name] = write_rows(folder / name, extra_rows)
        manifest = build_manifest(
            Path(folder),
            corpus=corpus,
            kind=kind,
            columns=list(columns),
            sources=sources,
            licenses=licenses,
            split_rule={
                **rule.describe(),
                "key": key_description,
                "overlap": "after splitting, a source text found in several splits is kept only "
                "in the first of train, valid, test; exact (source, target) duplicates keep "
                "their first occurrence",
            },
            options=options,
            dropped=all_dropped,
            files=counts,
            notes=list(notes),
        )
        write_manifest(Path(folder), manifest)
    return manifest
