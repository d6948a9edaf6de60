"""The last step shared by every builder: split, then write the TSV files and the manifest.

**The output folder.** A build never deletes or overwrites a file it did not make:

- a new or empty `out_dir` gets the corpus;
- a folder holding a corpus (a kerattn `manifest.json`) is rebuilt only with `overwrite=True`
  (`--overwrite`): a corpus may be what a trained model's results refer to, so it is not
  replaced by a build with other inputs or options by accident;
- a folder holding anything else is refused too, and with `overwrite=True` gets the corpus
  files beside what is there.

With `overwrite=True` exactly the corpus's own files are written (train/valid/test TSV,
the builder's extra files, `manifest.json`, replacing files of those names), and files the
previous manifest lists that the new build does not write are removed if unchanged since; every
other file stays. Everything is first written into a `.kerattn-` staging folder inside
`out_dir` (so `--out .` works without touching `..`), fsync'd, then moved into place file by
file with `manifest.json` last (`kerattn.atomic_files.staged_files`): a failed build leaves the
folder as it was, and a folder whose files disagree with its manifest (power lost during the
moves) fails `load_manifest(verify=True)`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from kerattn.atomic_files import TEMPORARY_PREFIX, remove_stale_temporaries, staged_files
from kerattn.data.corpus_error import CorpusError
from kerattn.data.corpus_row import CorpusRow
from kerattn.data.deduplication import assign_splits
from kerattn.data.manifest import MANIFEST_NAME, build_manifest, sha256_of, write_manifest
from kerattn.data.splits import SPLIT_NAMES, SplitRule
from kerattn.data.tsv import write_rows


def corpus_file_names(extra_files: Iterable[str] = ()) -> list[str]:
    """The files a build writes: the split TSVs, any extra files, then `manifest.json`."""
    return [f"{name}.tsv" for name in SPLIT_NAMES] + list(extra_files) + [MANIFEST_NAME]


def check_out_dir(
    out_dir: str | os.PathLike, overwrite: bool, extra_files: Iterable[str] = ()
) -> dict | None:
    """Checks that a corpus may be written to `out_dir`; returns the manifest found there, if any.

    Builders call it before their slow work, `write_corpus` again before writing.

    Raises:
        CorpusError: `out_dir` is a file, or a folder that is not empty and `overwrite` is
            False.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise CorpusError(f"Output path {out_dir} is a file; pass a folder path with --out.")
    if not out_dir.is_dir():
        return None
    previous = _corpus_manifest(out_dir)
    if overwrite:
        return previous
    if previous is not None:
        raise CorpusError(
            f"Output folder {out_dir} already holds the corpus {previous['corpus']!r}; pass "
            "--overwrite to rebuild it (only its corpus files are replaced) or another --out."
        )
    if any(not entry.name.startswith(TEMPORARY_PREFIX) for entry in out_dir.iterdir()):
        raise CorpusError(
            f"Output folder {out_dir} is not empty and holds no corpus (no {MANIFEST_NAME}); "
            "pass a new or empty folder with --out, or --overwrite to write the corpus files ("
            + ", ".join(corpus_file_names(extra_files))
            + ") beside its files, replacing only files of those names."
        )
    return None


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
    overwrite: bool = False,
    report: Callable[[dict[str, list[CorpusRow]]], dict] | None = None,
) -> dict:
    """Deduplicate and split `rows`, then write train/valid/test TSVs and `manifest.json`.

    See the module docstring for what happens to an existing `out_dir`.

    Args:
        rows: the cleaned rows in a deterministic order.
        out_dir: the corpus folder (created if missing).
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
        overwrite: whether a folder that is not empty may receive the corpus files.
        report: called with the rows per split after deduplication; what it returns is stored
            as the manifest's `report` (counts per source, kind, filter).

    Returns:
        The manifest that was written.

    Raises:
        CorpusError: see `check_out_dir`; also if no row is left after deduplication.
    """
    out_dir = Path(out_dir)
    extra_files = extra_files or {}
    previous = check_out_dir(out_dir, overwrite, extra_files)
    by_split, split_dropped = assign_splits(rows, rule, kind)
    all_dropped = dict(dropped or {})
    for reason, count in split_dropped.items():
        all_dropped[reason] = all_dropped.get(reason, 0) + count
    if not any(by_split.values()):
        reasons = ", ".join(f"{count} {reason}" for reason, count in all_dropped.items() if count)
        raise CorpusError(
            f"No row of the corpus {corpus} is left to write (dropped: {reasons or 'none'}); "
            "check that the input holds text pairs."
        )
    remove_stale_temporaries(out_dir)
    with staged_files(out_dir, last=[MANIFEST_NAME]) as folder:
        counts = {}
        for name in SPLIT_NAMES:
            counts[f"{name}.tsv"] = write_rows(
                folder / f"{name}.tsv",
                ((row.source, row.target, row.origin) for row in by_split[name]),
            )
        for name, extra_rows in extra_files.items():
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
            report=report(by_split) if report is not None else None,
        )
        write_manifest(Path(folder), manifest)
    if previous is not None:
        remove_files_of_previous_build(out_dir, previous, keep=[*counts, MANIFEST_NAME])
    return manifest


def _corpus_manifest(folder: Path) -> dict | None:
    """The manifest of the corpus in `folder`, or None if it holds no kerattn manifest."""
    try:
        manifest = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        return None
    if "corpus" not in manifest or "format_version" not in manifest:
        return None
    return manifest


def remove_files_of_previous_build(folder: Path, previous: dict, keep: list[str]) -> None:
    """Deletes files the previous build wrote that this one did not, if nobody changed them."""
    for name, entry in previous["files"].items():
        path = folder / name
        if name in keep or Path(name).name != name or name.startswith("."):
            continue
        if not path.is_file() or path.is_symlink() or not isinstance(entry, dict):
            continue
        if sha256_of(path) == entry.get("sha256"):
            path.unlink()
