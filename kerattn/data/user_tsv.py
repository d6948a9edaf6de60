"""Any user TSV (source<TAB>target or text<TAB>label) through the same clean/dedupe/split pipeline."""

from __future__ import annotations

import os
from pathlib import Path

from kerattn.data.corpus_error import CorpusError
from kerattn.data.corpus_row import CorpusRow
from kerattn.data.corpus_writer import check_out_dir, write_corpus
from kerattn.data.deduplication import KINDS
from kerattn.data.manifest import sha256_of
from kerattn.data.splits import SplitRule
from kerattn.data.text_cleaning import normalize_whitespace
from kerattn.data.tsv import read_rows

_COLUMNS = {
    "translation": ["source", "target", "origin"],
    "classification": ["text", "label", "origin"],
}


def build_tsv(
    path: str | os.PathLike,
    *,
    kind: str,
    out_dir: str | os.PathLike | None = None,
    test_fraction: float = 0.05,
    valid_fraction: float = 0.05,
    overwrite: bool = False,
) -> dict:
    """Build a corpus from a UTF-8 TSV of `source<TAB>target` or `text<TAB>label` lines.

    Each field is NFC-normalised with whitespace collapsed (no markup is removed: user text may
    mean its `<` and `&`); blank lines are skipped; a third column, if present, becomes the
    origin (default: the file name). Empty, duplicate and, for classification, conflicting
    rows are dropped as in `assign_splits`; the split key is the source text.

    Args:
        path: the input TSV.
        kind: "translation" or "classification".
        out_dir: output folder; default `corpora/<file name without extension>`.
        test_fraction: share of hash buckets for test.
        valid_fraction: share of hash buckets for valid.
        overwrite: whether an `out_dir` that is not empty may receive the corpus files: a
            previous corpus there is rebuilt, other files stay (see `corpus_writer`).

    Returns:
        The manifest written to `out_dir/manifest.json`.

    Raises:
        CorpusError: for an unknown kind, a missing, empty or non-UTF-8 file, a line without a
            tab, or an `out_dir` that is a file or a folder that is not empty, without
            `overwrite`.
    """
    if kind not in KINDS:
        raise CorpusError(f"--kind {kind!r} is not supported; use translation or classification.")
    rule = SplitRule(test_fraction=test_fraction, valid_fraction=valid_fraction)
    path = Path(path)
    corpus = path.stem
    out_dir = Path(out_dir) if out_dir is not None else Path("corpora") / corpus
    check_out_dir(out_dir, overwrite)
    default_origin = path.name
    rows = []
    for fields in read_rows(path):
        source, target = normalize_whitespace(fields[0]), normalize_whitespace(fields[1])
        origin = normalize_whitespace(fields[2]) if len(fields) > 2 else default_origin
        rows.append(CorpusRow(source, target, origin or default_origin, source))
    if not rows:
        raise CorpusError(
            f"TSV file {os.fspath(path)} has no lines (it is empty or blank); pass a file of "
            f"{'<TAB>'.join(_COLUMNS[kind][:2])} lines."
        )
    return write_corpus(
        rows,
        out_dir,
        corpus=corpus,
        kind=kind,
        columns=_COLUMNS[kind],
        rule=rule,
        key_description="the source text",
        sources=[{"file": os.fspath(path), "sha256": sha256_of(path)}],
        licenses=["as stated by the provider of the input file"],
        options={
            "path": os.fspath(path),
            "kind": kind,
            "test_fraction": test_fraction,
            "valid_fraction": valid_fraction,
        },
        notes=["Fields NFC-normalised with whitespace collapsed; no markup removed."],
        overwrite=overwrite,
    )
