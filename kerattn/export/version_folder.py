"""Versioned, atomic writes of `<base_path>/<version>/` folders as TF Serving discovers them.

TF Serving treats a child of the base path as a version as soon as its name parses as an
integer (leading zeros and a sign allowed, `absl::SimpleAtoi`) and loads it on the next poll,
even half written (SERVING-SPEC.md §2). So a version is written under a temporary name that
cannot parse as an integer, in the same folder (a rename within one file system is atomic),
and renamed to its number only when complete. If writing fails, the temporary folder is removed.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

# What absl::SimpleAtoi accepts for int64: optional surrounding whitespace, sign, decimal digits.
_VERSION_NAME = re.compile(r"\s*[+-]?\d+\s*")
TEMPORARY_PREFIX = ".kerattn-export-"


class VersionExistsError(FileExistsError):
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
        version: the version number; default: `next_version(base_path)` at rename time.

    Returns:
        The path of the new version folder.

    Raises:
        VersionExistsError: `version` is taken (checked before writing and again at the end).
    """
    base = Path(base_path)
    if version is not None:
        check_version_is_free(base, version)
    base.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=TEMPORARY_PREFIX, dir=base))
    try:
        # mkdtemp makes the folder private (0700); a server running as another user must read it.
        temporary.chmod(0o755)
        write(temporary)
        final_version = next_version(base) if version is None else version
        check_version_is_free(base, final_version)
        final = base / str(final_version)
        # os.rename would silently replace an empty folder of the same name; mkdir-free check
        # above plus rename keeps a concurrent exporter's folder intact in all but a tiny window.
        os.rename(temporary, final)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    return final
