"""Obtaining and unpacking Debian packages with the system's apt-get and dpkg-deb."""

from __future__ import annotations

import gzip
import os
import re
import shutil
import subprocess
from pathlib import Path

from kerattn.data.corpus_error import CorpusError
from kerattn.data.manifest import sha256_of


def require_tool(tool: str, hint: str) -> str:
    """Return the path of the executable `tool`, or raise a CorpusError ending with `hint`."""
    found = shutil.which(tool)
    if found is None:
        raise CorpusError(f"The `{tool}` command was not found; {hint}")
    return found


def download_packages(packages: list[str], folder: Path) -> list[Path]:
    """Download the .deb files of `packages` into `folder` with `apt-get download`.

    Args:
        packages: Debian package names.
        folder: an existing folder to download into.

    Returns:
        The downloaded .deb paths, one per package, in the order of `packages`.

    Raises:
        CorpusError: if apt-get is missing or the download fails.
    """
    apt_get = require_tool(
        "apt-get",
        "on a system without apt, get the .deb files of "
        f"{', '.join(packages)} elsewhere and pass their folder with --from DIR.",
    )
    result = subprocess.run(
        [apt_get, "download", *packages], cwd=folder, capture_output=True, text=True
    )
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["no error output"])[-1]
        raise CorpusError(
            f"`apt-get download {' '.join(packages)}` failed ({reason}); run `apt-get update` "
            "first, or pass a folder holding the .deb files with --from DIR."
        )
    return [find_deb(folder, package) for package in packages]


def find_deb(folder: Path, package: str) -> Path:
    """Return the single `<package>_*.deb` in `folder`.

    Raises:
        CorpusError: if there is none, or more than one.
    """
    matches = sorted(Path(folder).glob(f"{package}_*.deb"))
    if not matches:
        raise CorpusError(
            f"No {package}_*.deb file in {folder}; download it with `apt-get download {package}`."
        )
    if len(matches) > 1:
        names = ", ".join(match.name for match in matches)
        raise CorpusError(f"Several .deb files for {package} in {folder} ({names}); keep one.")
    return matches[0]


def extract_deb(deb: Path, root: Path) -> None:
    """Unpack the files of `deb` under `root` with `dpkg-deb -x`."""
    dpkg_deb = require_tool(
        "dpkg-deb",
        "install dpkg (`apt-get install dpkg`), or pass --from DIR with trees already "
        "extracted by `dpkg-deb -x`.",
    )
    result = subprocess.run([dpkg_deb, "-x", str(deb), str(root)], capture_output=True, text=True)
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["no error output"])[-1]
        raise CorpusError(f"`dpkg-deb -x {deb}` failed ({reason}); check that it is a .deb file.")


def deb_description(deb: Path) -> dict:
    """Return package name, version, file name and sha256 of a .deb file for the manifest."""
    dpkg_deb = require_tool("dpkg-deb", "install dpkg (`apt-get install dpkg`).")
    result = subprocess.run(
        [dpkg_deb, "-f", str(deb), "Package", "Version"], capture_output=True, text=True
    )
    fields = dict(line.split(": ", 1) for line in result.stdout.splitlines() if ": " in line)
    return {
        "package": fields.get("Package", deb.name.split("_")[0]),
        "version": fields.get("Version", "unknown"),
        "file": deb.name,
        "sha256": sha256_of(deb),
    }


def tree_description(root: Path, package: str) -> dict:
    """Describe an already-extracted package from its Debian changelog, if the tree has one.

    `usr/share/doc/<package>/changelog.Debian.gz` starts with "source (version) ...", which
    gives the version; without it the version is recorded as "unknown".
    """
    changelog = root / "usr" / "share" / "doc" / package / "changelog.Debian.gz"
    version = "unknown"
    if changelog.is_file():
        with gzip.open(changelog, "rt", encoding="utf-8", errors="replace") as file:
            match = re.match(r"\S+ \(([^)]+)\)", file.readline())
        if match:
            version = match.group(1)
    return {"package": package, "version": version, "file": os.fspath(root)}
