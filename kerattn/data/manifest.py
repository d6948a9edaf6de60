"""The `manifest.json` of a built corpus: what went in, how it was split, checksums of what came out."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from pathlib import Path

from kerattn.data.corpus_error import CorpusError

MANIFEST_NAME = "manifest.json"
FORMAT_VERSION = 1


def sha256_of(path: str | os.PathLike) -> str:
    """Return the hex sha256 of the file at `path`."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build_manifest(
    folder: Path,
    *,
    corpus: str,
    kind: str,
    columns: list[str],
    sources: list[dict],
    licenses: list[str],
    split_rule: dict,
    options: dict,
    dropped: dict[str, int],
    files: dict[str, int],
    notes: list[str],
    report: dict | None = None,
) -> dict:
    """Return the manifest of the files already written in `folder`.

    Args:
        folder: where the corpus files are.
        corpus: corpus name (`libreoffice-en-es`).
        kind: "translation" or "classification".
        columns: the meaning of the TSV columns, in order.
        sources: one dict per input package or file (name, version, sha256 where known).
        licenses: license statements for the data.
        split_rule: `SplitRule.describe()` plus what the key is.
        options: the builder's options, as given.
        dropped: rows dropped per reason.
        files: row count per written file name (split files and any extra file).
        notes: design decisions a reader of the corpus must know (alternates, stress, ...).
        report: builder-specific figures (rows per source, kind, filter), stored as `report`.

    Returns:
        The manifest as a JSON-ready dict; `files` gets each file's rows and sha256, and `counts`
        the rows per split.
    """
    manifest = {
        "format_version": FORMAT_VERSION,
        "corpus": corpus,
        "kind": kind,
        "columns": columns,
        "built_at": _built_at(),
        "builder": f"kerattn {_kerattn_version()}",
        "sources": sources,
        "licenses": licenses,
        "split_rule": split_rule,
        "options": options,
        "counts": {
            name[: -len(".tsv")]: rows
            for name, rows in files.items()
            if name in ("train.tsv", "valid.tsv", "test.tsv")
        },
        "dropped": dropped,
        "files": {
            name: {"rows": rows, "sha256": sha256_of(folder / name)} for name, rows in files.items()
        },
        "notes": notes,
    }
    if report is not None:
        manifest["report"] = report
    return manifest


def _built_at() -> str:
    """Now in UTC, or `$SOURCE_DATE_EPOCH` if set, so that a rebuild can be byte-identical."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    moment = (
        datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc)
        if epoch and epoch.isdigit()
        else datetime.datetime.now(datetime.timezone.utc)
    )
    return moment.isoformat(timespec="seconds")


def write_manifest(folder: Path, manifest: dict) -> Path:
    """Write `manifest` as `folder/manifest.json` (sorted keys, UTF-8) and return its path."""
    path = folder / MANIFEST_NAME
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def load_manifest(path: str | os.PathLike, verify: bool = False) -> dict:
    """Load the manifest of a built corpus.

    Args:
        path: the corpus folder or its `manifest.json`.
        verify: also check that every listed file exists and has the recorded sha256.

    Returns:
        The manifest dict (keys: corpus, kind, columns, sources, licenses, split_rule, options,
        counts, dropped, files, notes, built_at, builder, format_version).

    Raises:
        CorpusError: if the manifest is missing or unreadable, or a file fails verification.
    """
    path = Path(path)
    manifest_path = path / MANIFEST_NAME if path.is_dir() else path
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CorpusError(
            f"No manifest at {manifest_path}; pass a corpus folder built by `kerattn data`."
        ) from None
    except json.JSONDecodeError as error:
        raise CorpusError(f"Manifest {manifest_path} is not valid JSON ({error.msg}).") from None
    if verify:
        for name, entry in manifest.get("files", {}).items():
            file_path = manifest_path.parent / name
            if not file_path.is_file():
                raise CorpusError(f"Corpus file {file_path} listed in the manifest is missing.")
            actual = sha256_of(file_path)
            if actual != entry["sha256"]:
                raise CorpusError(
                    f"Corpus file {file_path} has sha256 {actual}, but the manifest records "
                    f"{entry['sha256']}; rebuild the corpus."
                )
    return manifest


def _kerattn_version() -> str:
    from kerattn.version import __version__

    return __version__
