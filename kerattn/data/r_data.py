"""Reading data frames out of an installed R package's lazy-load database, without R.

An R package installed from Debian (`r-cran-*`) keeps its data sets in
`data/Rdata.rdx` (the index: which object lies at which offset of the database, serialized and
compressed) and `data/Rdata.rdb` (each object serialized in R's XDR format, then compressed).
This module reads both with the standard library only: enough of R's serialization format for
data frames of character, factor, integer, logical and double columns (the vectors, pairlists,
symbols, references and the compact ALTREP sequences such frames use). Anything else (closures,
environments, byte code) is refused with a CorpusError.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import struct
import zlib
from pathlib import Path

from kerattn.data.corpus_error import CorpusError

_NIL, _REF, _GLOBALENV, _EMPTYENV, _BASEENV, _MISSINGARG = 254, 255, 253, 242, 241, 251
_ALTREP = 238
_SYMSXP, _LISTSXP, _CHARSXP, _LGLSXP, _INTSXP, _REALSXP, _STRSXP, _VECSXP = (
    1,
    2,
    9,
    10,
    13,
    14,
    16,
    19,
)
_NA_INTEGER = -(2**31)


class _Symbol(str):
    """An R symbol (a name), told apart from a character string."""


class RVector(list):
    """An R vector as a Python list, with its attributes (names, class, levels, ...)."""

    def __init__(self, values=(), attributes: dict | None = None):
        super().__init__(values)
        self.attributes = attributes or {}


class _Reader:
    def __init__(self, data: bytes, where: str):
        self.data, self.position, self.where, self.references = data, 0, where, []

    def fail(self, what: str) -> CorpusError:
        return CorpusError(
            f"{self.where} holds {what}, which this reader does not support; only data frames "
            "of character, factor, integer, logical and double columns are read."
        )

    def take(self, size: int) -> bytes:
        chunk = self.data[self.position : self.position + size]
        if len(chunk) != size:
            raise CorpusError(f"{self.where} ends early; it is not a complete R serialization.")
        self.position += size
        return chunk

    def integer(self) -> int:
        return struct.unpack(">i", self.take(4))[0]

    def length(self) -> int:
        length = self.integer()
        if length == -1:
            upper, lower = struct.unpack(">II", self.take(8))
            length = (upper << 32) + lower
        return length

    def header(self) -> None:
        if self.take(2) != b"X\n":
            raise CorpusError(
                f"{self.where} is not an R serialization in XDR format (it must start with 'X')."
            )
        version = self.integer()
        self.take(8)  # the writer's and the minimum reader's R versions
        if version == 3:
            self.take(self.integer())  # the native encoding's name
        elif version != 2:
            raise CorpusError(
                f"{self.where} uses R serialization version {version}; 2 and 3 are read."
            )

    def item(self):
        flags = self.integer()
        kind, has_attributes, has_tag = flags & 0xFF, bool(flags & 0x200), bool(flags & 0x400)
        if kind == _NIL or kind in (_GLOBALENV, _EMPTYENV, _BASEENV, _MISSINGARG):
            return None
        if kind == _REF:
            index = flags >> 8 or self.integer()
            return self.references[index - 1]
        if kind == _SYMSXP:
            symbol = _Symbol(self.item() or "")
            self.references.append(symbol)
            return symbol
        if kind == _LISTSXP:
            return self.pairlist(has_attributes, has_tag)
        if kind == _CHARSXP:
            length = self.integer()
            if length == -1:
                return None
            raw = self.take(length)
            latin1 = bool(flags & (1 << 14)) and not flags & (1 << 15)
            return raw.decode("latin-1" if latin1 else "utf-8", errors="replace")
        if kind in (_LGLSXP, _INTSXP):
            count = self.length()
            values = struct.unpack(f">{count}i", self.take(4 * count))
            values = [None if value == _NA_INTEGER else value for value in values]
            if kind == _LGLSXP:
                values = [None if value is None else bool(value) for value in values]
            return self.with_attributes(values, has_attributes)
        if kind == _REALSXP:
            count = self.length()
            return self.with_attributes(
                struct.unpack(f">{count}d", self.take(8 * count)), has_attributes
            )
        if kind in (_STRSXP, _VECSXP):
            values = [self.item() for _ in range(self.length())]
            return self.with_attributes(values, has_attributes)
        if kind == _ALTREP:
            return self.altrep()
        raise self.fail(f"an R object of type {kind}")

    def pairlist(self, has_attributes: bool, has_tag: bool) -> dict:
        result = {}
        while True:
            if has_attributes:
                self.item()
            tag = self.item() if has_tag else None
            result[str(tag) if tag is not None else str(len(result))] = self.item()
            flags = self.integer()
            kind = flags & 0xFF
            if kind == _NIL:
                return result
            if kind != _LISTSXP:
                raise self.fail("a dotted pairlist")
            has_attributes, has_tag = bool(flags & 0x200), bool(flags & 0x400)

    def with_attributes(self, values, has_attributes: bool) -> RVector:
        return RVector(values, self.item() if has_attributes else None)

    def altrep(self) -> RVector:
        info = self.item()
        state = self.item()
        attributes = self.item()
        name = str(next(iter(info.values()))) if isinstance(info, dict) and info else "?"
        if name in ("compact_intseq", "compact_realseq"):
            count, start, step = (
                int(value) if name == "compact_intseq" else value for value in state[:3]
            )
            count = int(count)
            values = [start + step * offset for offset in range(count)]
        elif name.startswith("wrap_"):
            values = list(state[0] if isinstance(state, list) else next(iter(state.values())))
        else:
            raise self.fail(f"the ALTREP class {name}")
        return RVector(values, attributes if isinstance(attributes, dict) else None)


def unserialize(data: bytes, where: str = "the R data"):
    """Return the R object serialized in `data` (XDR format) as Python values.

    Vectors become `RVector` lists (NA as None) carrying their attributes, pairlists become
    dicts by tag, symbols and strings become `str`.
    """
    reader = _Reader(data, where)
    reader.header()
    return reader.item()


def _decompress(blob: bytes, where: str) -> bytes:
    if len(blob) < 5:
        raise CorpusError(f"{where} is too short to be a compressed R object.")
    kind, body = blob[4:5], blob[5:]
    try:
        if kind == b"Z":
            return lzma.decompress(
                body,
                format=lzma.FORMAT_RAW,
                filters=[{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME}],
            )
        if kind == b"2":
            return bz2.decompress(body)
        if kind == b"0":
            return body
        if kind == b"1":
            return zlib.decompress(body)
        return zlib.decompress(blob[4:])
    except (lzma.LZMAError, OSError, zlib.error, ValueError) as error:
        raise CorpusError(f"{where} could not be decompressed ({error}).") from None


def lazy_load_names(data_dir: str | os.PathLike) -> list[str]:
    """Return the names of the objects in the lazy-load database `data_dir/Rdata.{rdx,rdb}`."""
    return list(_index(Path(data_dir)))


def _index(data_dir: Path) -> dict:
    index_path = data_dir / "Rdata.rdx"
    try:
        raw = index_path.read_bytes()
    except OSError:
        raise CorpusError(
            f"No R lazy-load index at {index_path}; pass the `data` folder of an installed R "
            "package (it holds Rdata.rdx and Rdata.rdb)."
        ) from None
    raw = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else _decompress(raw, str(index_path))
    index = unserialize(raw, str(index_path))
    if not isinstance(index, RVector) or "variables" not in (index.attributes.get("names") or []):
        raise CorpusError(f"{index_path} is not an R lazy-load index (no `variables` entry).")
    variables = index[list(index.attributes["names"]).index("variables")]
    return dict(zip(variables.attributes.get("names") or [], variables))


def read_lazy_load_object(data_dir: str | os.PathLike, name: str):
    """Return the object `name` of the lazy-load database in `data_dir` (see `unserialize`).

    Raises:
        CorpusError: if the database is missing or malformed, or has no object `name`.
    """
    data_dir = Path(data_dir)
    variables = _index(data_dir)
    if name not in variables:
        raise CorpusError(
            f"The R data in {data_dir} has no object {name!r}; it has "
            f"{', '.join(sorted(variables)) or 'none'}."
        )
    offset, size = (int(value) for value in variables[name])
    with open(data_dir / "Rdata.rdb", "rb") as file:
        file.seek(offset)
        blob = file.read(size)
    where = f"{data_dir / 'Rdata.rdb'} ({name})"
    return unserialize(_decompress(blob, where), where)


def data_frame_columns(frame, where: str) -> dict[str, list]:
    """Return the columns of an unserialized data frame as name -> values; factors as labels."""
    names = frame.attributes.get("names") if isinstance(frame, RVector) else None
    if not names or len(names) != len(frame):
        raise CorpusError(f"{where} is not a data frame (a list of named columns).")
    columns = {}
    for name, column in zip(names, frame):
        levels = column.attributes.get("levels") if isinstance(column, RVector) else None
        if levels is not None:
            column = [None if code is None else levels[code - 1] for code in column]
        columns[str(name)] = list(column)
    return columns
