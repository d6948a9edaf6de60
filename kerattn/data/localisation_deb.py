"""Reading selected files out of a .deb without unpacking it: control fields, catalogues, copyright.

A .deb is an `ar` archive holding `debian-binary`, `control.tar.*` and `data.tar.*`. The tar
members are read as streams (gzip, xz, bzip2 or uncompressed with Python's `tarfile`; zstd,
which Ubuntu uses, through `dpkg-deb --fsys-tarfile`), and only the members a predicate accepts
are kept in memory, so a 380 MB game data package costs one pass of decompression and no disk.
"""

from __future__ import annotations

import dataclasses
import io
import re
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path

from kerattn.data.corpus_error import CorpusError
from kerattn.data.debian_packages import require_tool

_AR_MAGIC = b"!<arch>\n"
_LICENSE_LINE = re.compile(r"^License:\s*(\S.*)$", re.MULTILINE)


@dataclasses.dataclass
class DebContents:
    """What was read from one .deb: its control fields and the selected files' bytes by path."""

    control: dict[str, str]
    files: dict[str, bytes]

    @property
    def package(self) -> str:
        return self.control.get("Package", "unknown")

    @property
    def version(self) -> str:
        return self.control.get("Version", "unknown")

    def licenses(self) -> list[str]:
        """The distinct `License:` names of the package's machine-readable copyright file."""
        for path, data in self.files.items():
            if path.endswith(f"/doc/{self.package}/copyright") or path.endswith("/copyright"):
                text = data.decode("utf-8", "replace")
                found = sorted({name.strip() for name in _LICENSE_LINE.findall(text)})
                return found or ["see usr/share/doc/<package>/copyright (not machine-readable)"]
        return ["unknown (no copyright file)"]


def _ar_members(file, deb: Path) -> dict[str, tuple[int, int]]:
    """The (offset, size) of each member of the ar archive open as `file`."""
    if file.read(len(_AR_MAGIC)) != _AR_MAGIC:
        raise CorpusError(f"{deb} is not a Debian package (no ar header); pass .deb files.")
    members, offset = {}, len(_AR_MAGIC)
    while True:
        file.seek(offset)
        header = file.read(60)
        if len(header) < 60:
            return members
        name = header[:16].decode("ascii", "replace").strip().rstrip("/")
        try:
            size = int(header[48:58].decode("ascii").strip())
        except ValueError:
            raise CorpusError(f"{deb} has a damaged ar header; download it again.") from None
        members[name] = (offset + 60, size)
        offset += 60 + size + (size % 2)


class _Slice(io.RawIOBase):
    """A read-only view of `size` bytes of an open file from `offset`, for tarfile's streams."""

    def __init__(self, file, offset: int, size: int) -> None:
        self._file, self._position, self._end = file, offset, offset + size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = min(len(buffer), self._end - self._position)
        if count <= 0:
            return 0
        self._file.seek(self._position)
        data = self._file.read(count)
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)


def read_deb(deb: str | Path, keep: Callable[[str], bool]) -> DebContents:
    """Read the control fields of `deb` and the regular files under its data tree that `keep`
    accepts (given the path without a leading `./`), plus `usr/share/doc/*/copyright`.

    Raises:
        CorpusError: if the file is not a .deb or its data member cannot be read.
    """
    deb = Path(deb)
    with open(deb, "rb") as file:
        members = _ar_members(file, deb)
        control_name = next((name for name in members if name.startswith("control.tar")), None)
        data_name = next((name for name in members if name.startswith("data.tar")), None)
        if control_name is None or data_name is None:
            raise CorpusError(f"{deb} lacks control.tar or data.tar; download it again.")
        control: dict[str, str] = {}
        for _path, content in _tar_files(
            _Slice(file, *members[control_name]), control_name, deb, lambda path: path == "control"
        ):
            control = control_fields(content.decode("utf-8", "replace"))
        files = dict(
            _tar_files(
                _Slice(file, *members[data_name]),
                data_name,
                deb,
                lambda path: (
                    keep(path) or bool(re.fullmatch(r"usr/share/doc/[^/]+/copyright", path))
                ),
            )
        )
    return DebContents(control, files)


def _tar_files(member: io.RawIOBase, name: str, deb: Path, keep: Callable[[str], bool]):
    if name.endswith(".zst"):
        dpkg_deb = require_tool(
            "dpkg-deb", f"{deb} is zstd-compressed; install dpkg (`apt-get install dpkg`)."
        )
        stream = subprocess.run(
            [dpkg_deb, "--fsys-tarfile" if name.startswith("data") else "--ctrl-tarfile", str(deb)],
            capture_output=True,
            check=False,
        )
        if stream.returncode != 0:
            raise CorpusError(f"`dpkg-deb --fsys-tarfile {deb}` failed; download it again.")
        member, mode = io.BytesIO(stream.stdout), "r|"
    else:
        member, mode = io.BufferedReader(member, 1 << 20), "r|*"
    try:
        with tarfile.open(fileobj=member, mode=mode) as archive:
            for info in archive:
                path = info.name[2:] if info.name.startswith("./") else info.name
                if info.isfile() and keep(path):
                    extracted = archive.extractfile(info)
                    if extracted is not None:
                        yield path, extracted.read()
    except (tarfile.TarError, EOFError, OSError) as error:
        raise CorpusError(f"{deb}: {name} cannot be read ({error}); download it again.") from None


def control_fields(record: str) -> dict[str, str]:
    """The fields of one Debian control record (a package's `control` file, a stanza of a
    `Translation-*` file): `Name: value`, each continuation line (starting with a space or a
    tab) appended to the field above it on a line of its own, without that first character."""
    fields: dict[str, str] = {}
    name = None
    for line in record.split("\n"):
        if line.startswith((" ", "\t")) and name is not None:
            fields[name] += "\n" + line[1:]
        elif ":" in line:
            name, value = line.split(":", 1)
            name = name.strip()
            fields[name] = value.strip()
    return fields
