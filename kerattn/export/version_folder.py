"""Versioned, atomic writes of `<base_path>/<version>/` folders as TF Serving discovers them.

TF Serving treats a child of the base path as a version as soon as its name parses as an
integer (leading zeros and a sign allowed, `absl::SimpleAtoi`) and loads it on the next poll,
even half written (docs/serving.md §2). So a version is written with
`kerattn.atomic_files.atomic_folder`: under a `.kerattn-` temporary name in the base path, which
cannot parse as an integer, fsync'd file by file, renamed to its number only when complete, and
the base path fsync'd, so that after a crash or power loss a numbered folder is whole or absent.
If writing fails, the temporary folder is removed; temporaries left by an export that was
killed are removed by the next export to the same base path once they are stale
(`remove_stale_temporaries`: kerattn's prefix only, unchanged for an hour, writer gone).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
from collections.abc import Callable
from pathlib import Path

from kerattn.atomic_files import TEMPORARY_PREFIX, atomic_folder, remove_stale_temporaries
from kerattn.errors import KerattnError
from kerattn.export.export_error import ExportError, ExportPathError

# What absl::SimpleAtoi accepts for int64: optional surrounding whitespace, sign, decimal digits.
_VERSION_NAME = re.compile(r"\s*[+-]?\d+\s*")
_HINTS = {
    errno.ENOSPC: "free some disk space and export again",
    errno.EDQUOT: "free some disk space and export again",
    errno.EACCES: "pass a --base-path in a folder you can write to",
    errno.EPERM: "pass a --base-path in a folder you can write to",
    errno.EROFS: "pass a --base-path in a folder you can write to",
}


class VersionExistsError(ExportPathError, FileExistsError):
    """The requested version number is already present under the base path."""


def parse_version(name: str) -> int | None:
    """The version TF Serving reads from a folder name, or None if it skips the name."""
    if not _VERSION_NAME.fullmatch(name):
        return None
    value = int(name)
    return value if -(2**63) <= value < 2**63 else None


def existing_versions(base_path: str | os.PathLike) -> dict[int, Path]:
    """{version: path} of the children of `base_path` TF Serving would take as versions."""
    base = Path(base_path)
    if not base.is_dir():
        return {}
    versions = {}
    for child in base.iterdir():
        version = parse_version(child.name)
        if version is not None:
            versions[version] = child
    return versions


def next_version(base_path: str | os.PathLike) -> int:
    """One more than the highest version under `base_path` (1 for a new model).

    Never a gap below the highest: TF Serving serves the highest number by default, so a new
    export must be numbered above every existing one to be served.
    """
    versions = [v for v in existing_versions(base_path) if v >= 0]
    return max(versions, default=0) + 1


def file_in_the_way(folder: str | os.PathLike) -> Path | None:
    """`folder` itself or the nearest of its parents that exists, if that is not a folder."""
    folder = Path(folder)
    for candidate in (folder, *folder.parents):
        if candidate.is_dir():
            return None
        if candidate.exists() or candidate.is_symlink():
            return candidate
    return None


def check_base_path(base_path: str | os.PathLike, version: int | None = None) -> None:
    """Raises `ExportPathError` if `base_path` cannot hold version folders (it, or a parent, is a
    file) and `VersionExistsError` if `version` is given and taken. Cheap: run it before the
    slow part of an export."""
    base = Path(base_path)
    obstacle = file_in_the_way(base)
    if obstacle == base:
        raise ExportPathError(
            f"--base-path {base} is a file; pass a folder (TF Serving's base path of the model, "
            "e.g. export/models/NAME)."
        )
    if obstacle is not None:
        raise ExportPathError(
            f"--base-path {base} lies under {obstacle}, which is a file; pass a path of folders."
        )
    if version is not None:
        check_version_is_free(base, version)


def check_version_is_free(base_path: str | os.PathLike, version: int) -> None:
    """Raises `VersionExistsError` if `version` (compared as a number) already exists."""
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"`version` must be a positive int; received version={version!r}.")
    existing = existing_versions(base_path)
    if version in existing:
        raise VersionExistsError(
            f"version {version} already exists at {existing[version]}; "
            "versions are never overwritten: choose another --version or omit it for the next "
            f"free one ({next_version(base_path)})."
        )


def write_version(
    base_path: str | os.PathLike,
    write: Callable[[Path], None],
    version: int | None = None,
) -> Path:
    """Runs `write(temporary_folder)`, then renames the folder to `<base_path>/<version>`.

    Args:
        base_path: the model's base path (created if missing).
        write: fills the (existing, empty) temporary folder; any exception aborts the export.
        version: the version number; default: `next_version(base_path)` when the export starts.

    Returns:
        The path of the new version folder.

    Raises:
        VersionExistsError: `version` is taken (checked before writing and again at the end:
            another export may have taken it meanwhile).
        ExportPathError: `base_path` or one of its parents is a file.
        ExportError: the folder could not be written (a full disk, no permission, ...).
    """
    base = Path(base_path)
    check_base_path(base, version)
    chosen = version is not None
    version = version if chosen else next_version(base)
    final = base / str(version)
    # The base path and the parents this export creates; a failed export removes them again.
    created = [folder for folder in (base, *base.parents) if not folder.exists()]
    try:
        _write_new_version(base, final, version, chosen, write)
    except BaseException:
        for folder in created:  # deepest first; only while empty
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    return final


def _write_new_version(base: Path, final: Path, version: int, chosen: bool, write) -> None:
    try:
        remove_stale_temporaries(base)
        with atomic_folder(final) as temporary:
            write(temporary)
            _check_still_free(base, version, chosen)
    except KerattnError:
        raise
    except FileExistsError as error:  # atomic_folder's last check: `final` appeared just now
        _check_still_free(base, version, chosen)
        raise ExportError(_failure_sentence(base, final, error)) from error
    except OSError as error:
        raise ExportError(_failure_sentence(base, final, error)) from error


def _check_still_free(base: Path, version: int, chosen: bool) -> None:
    try:
        check_version_is_free(base, version)
    except VersionExistsError:
        if chosen:
            raise
        raise VersionExistsError(
            f"version {version} of {base} was exported by another process while this export "
            f"ran; export again for the next free one ({next_version(base)})."
        ) from None


def _failure_sentence(base: Path, final: Path, error: OSError) -> str:
    """'could not export version 3 into export/models/x: No space left on device (writing
    variables/variables.index); nothing was exported: free some disk space and export again.'"""
    reason = error.strerror or str(error) or type(error).__name__
    where = ""
    if isinstance(error.filename, str | os.PathLike):
        path = Path(os.fspath(error.filename))
        if path.is_relative_to(final) and path != final:
            where = f" (writing {path.relative_to(final).as_posix()})"
        elif path not in (final, base) and not path.name.startswith(TEMPORARY_PREFIX):
            where = f" ({path})"
    hint = _HINTS.get(error.errno)
    return (
        f"could not export version {final.name} into {base}: {reason}{where}; nothing was "
        f"exported{': ' + hint if hint else ''}."
    )
