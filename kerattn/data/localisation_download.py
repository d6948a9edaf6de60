"""Cached, resumable downloads of Debian packages for the localisation corpus.

`apt-get download --print-uris` names each package's URL, size and SHA256 (from the apt lists
of this machine, so the versions are the release's); `fetch_packages` downloads them into the
user cache folder (`kerattn/debs` under `$XDG_CACHE_HOME` or `~/.cache`, or `$KERATTN_CACHE`),
resuming a partial `.part` file with an HTTP range request, checks size and SHA256 and only then
renames it into place. A file already in the cache with the right checksum is not downloaded
again. A download budget caps the total size of the packages taken, in their given order.

Reserved data (`RESERVED_PATTERNS`: the Debian Administrator's Handbook and DDTP's translated
package descriptions) is kept for independent evaluation and never downloaded or read.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import os
import re
import shlex
import subprocess
import urllib.request
from collections.abc import Iterable, Sequence
from pathlib import Path

from kerattn import user_cache
from kerattn.data.corpus_error import CorpusError
from kerattn.data.debian_packages import require_tool

# Never training, tuning or selection data: kept for an independent evaluation.
RESERVED_PATTERNS = ("debian-handbook*", "Translation-*", "*_Translation-*", "ddtp*")
_URI_LINE = re.compile(
    r"^'(?P<url>[^']+)' (?P<file>\S+) (?P<size>\d+) SHA256:(?P<sha>[0-9a-f]{64})$"
)
_UNKNOWN_PACKAGE = re.compile(
    r"Unable to locate package (\S+)|Can't select candidate version "
    r"from package (\S+)|Package '?(\S+?)'? has no installation candidate"
)


@dataclasses.dataclass(frozen=True)
class PackageFile:
    """One .deb to fetch: package name, URL, file name, size in bytes and SHA256."""

    package: str
    url: str
    file: str
    size: int
    sha256: str


def is_reserved(name: str) -> bool:
    """Whether a package or file name is reserved for independent evaluation."""
    base = os.path.basename(name)
    return any(fnmatch.fnmatch(base, pattern) for pattern in RESERVED_PATTERNS)


def check_not_reserved(names: Iterable[str]) -> None:
    """Raise a CorpusError if one of `names` is reserved data (see `RESERVED_PATTERNS`)."""
    for name in names:
        if is_reserved(name):
            raise CorpusError(
                f"{name} is reserved for independent evaluation (the Debian Administrator's "
                "Handbook and DDTP's Translation-* descriptions are never corpus data); "
                "remove it from the package list."
            )


def cache_folder(cache_dir: str | os.PathLike | None = None) -> Path:
    """The folder downloaded .deb files are kept in: `<cache_dir>/debs` when a builder is given
    one, else `$KERATTN_CACHE/debs`, else the user cache's."""
    return Path(cache_dir) / "debs" if cache_dir else user_cache.cache_folder("debs")


def resolve_packages(packages: Sequence[str]) -> tuple[list[PackageFile], list[str]]:
    """Ask apt for the URL, size and SHA256 of each package.

    Returns:
        The files in the order of `packages`, and the names apt does not know (skipped).

    Raises:
        CorpusError: if apt-get is missing or fails for another reason.
    """
    check_not_reserved(packages)
    apt_get = require_tool(
        "apt-get",
        "on a system without apt, put the .deb files in a folder and pass it with --from DIR.",
    )
    remaining = list(packages)
    unknown: list[str] = []
    while remaining:
        result = subprocess.run(
            [apt_get, "download", "--print-uris", *remaining], capture_output=True, text=True
        )
        if result.returncode == 0:
            break
        missing = {
            next(name for name in match.groups() if name)
            for match in _UNKNOWN_PACKAGE.finditer(result.stderr)
        }
        if not missing & set(remaining):
            reason = (result.stderr.strip().splitlines() or ["no error output"])[-1]
            raise CorpusError(
                f"`apt-get download --print-uris` failed ({reason}); run `apt-get update` first, "
                "or pass a folder holding the .deb files with --from DIR."
            )
        unknown.extend(name for name in remaining if name in missing)
        remaining = [name for name in remaining if name not in missing]
    by_name = print_uris_files(result.stdout) if remaining else {}
    files = []
    for name in remaining:
        if name in by_name:
            files.append(by_name[name])
        else:
            unknown.append(name)
    return files, unknown


def print_uris_files(output: str) -> dict[str, PackageFile]:
    """The files that `apt-get download --print-uris` names in its `output`, by package name
    (the .deb file name up to its first `_`)."""
    files = {}
    for line in output.splitlines():
        match = _URI_LINE.match(line.strip())
        if match:
            name = match["file"].split("_", 1)[0]
            files[name] = PackageFile(
                name, match["url"], match["file"], int(match["size"]), match["sha"]
            )
    return files


def within_budget(files: Sequence[PackageFile], budget_bytes: int | None) -> tuple[list, list]:
    """Split `files` (in order) into those whose running total fits `budget_bytes` and the rest."""
    if budget_bytes is None:
        return list(files), []
    taken, skipped, total = [], [], 0
    for package_file in files:
        if not skipped and total + package_file.size <= budget_bytes:
            taken.append(package_file)
            total += package_file.size
        else:
            skipped.append(package_file)
    return taken, skipped


def fetch_packages(
    files: Sequence[PackageFile], cache: Path, *, progress: bool = True
) -> list[Path]:
    """Download `files` into `cache` (resuming partial downloads) and return their paths.

    Raises:
        CorpusError: if a download fails or its checksum differs from apt's.
    """
    cache.mkdir(parents=True, exist_ok=True)
    wanted = [package_file for package_file in files if not _is_cached(cache, package_file)]
    total = sum(package_file.size for package_file in wanted)
    bar = _progress_bar(total, len(wanted), len(files), progress)
    try:
        for package_file in wanted:
            bar.set_postfix_str(package_file.package, refresh=False)
            _download(package_file, cache, bar)
    finally:
        bar.close()
    return [cache / package_file.file for package_file in files]


def _is_cached(cache: Path, package_file: PackageFile) -> bool:
    path = cache / package_file.file
    return (
        path.is_file()
        and path.stat().st_size == package_file.size
        and (_sha256(path) == package_file.sha256)
    )


def _download(package_file: PackageFile, cache: Path, bar) -> None:
    final = cache / package_file.file
    partial = cache / (package_file.file + ".part")
    have = partial.stat().st_size if partial.is_file() else 0
    if have > package_file.size:
        partial.unlink()
        have = 0
    request = urllib.request.Request(package_file.url)
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            mode = "ab" if have and response.status == 206 else "wb"
            if mode == "wb":
                have = 0
            bar.update(have)
            with open(partial, mode) as out:
                for block in iter(lambda: response.read(1 << 16), b""):
                    out.write(block)
                    bar.update(len(block))
    except OSError as error:
        raise CorpusError(
            f"Downloading {package_file.url} failed ({error}); run the build again to resume, "
            "or pass a folder holding the .deb files with --from DIR."
        ) from None
    digest = _sha256(partial)
    if partial.stat().st_size != package_file.size or digest != package_file.sha256:
        partial.unlink()
        raise CorpusError(
            f"{package_file.file} downloaded with sha256 {digest}, but apt expects "
            f"{package_file.sha256}; run the build again (the partial file was removed)."
        )
    os.replace(partial, final)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(total: int, count: int, of: int, enabled: bool):
    if not enabled or count == 0:
        return _NoBar()
    try:
        from tqdm import tqdm
    except ImportError:
        return _NoBar()
    return tqdm(
        total=total,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=f"downloading {count} of {of} packages",
        dynamic_ncols=True,
    )


def command_line(packages: Sequence[str]) -> str:
    """The apt command that fetches the same packages by hand (for error messages and docs)."""
    return "apt-get download " + " ".join(shlex.quote(name) for name in packages)
