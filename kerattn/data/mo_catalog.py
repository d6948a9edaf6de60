"""A small reader for compiled gettext catalogs (`.mo` files)."""

from __future__ import annotations

import dataclasses
import os
import struct

from kerattn.data.corpus_error import CorpusError

_MAGIC_LITTLE = 0x950412DE
_MAGIC_BIG = 0xDE120495
_CONTEXT_SEPARATOR = "\x04"


@dataclasses.dataclass(frozen=True)
class CatalogEntry:
    """One message of a catalog: optional context, the original text and its translation."""

    context: str
    msgid: str
    msgstr: str


def read_mo(path: str | os.PathLike) -> list[CatalogEntry]:
    """Read every translated message of a `.mo` catalog, in the catalog's (msgid-sorted) order.

    The header entry (empty msgid) is skipped. A plural message gives two entries: the singular
    msgid with the first form and the plural msgid with the second form.

    Args:
        path: the `.mo` file (either byte order, format revision 0 or 1).

    Returns:
        The entries; texts are decoded with the charset named in the header (UTF-8 if none).

    Raises:
        CorpusError: if the file is not a gettext `.mo` catalog.
    """
    data = open(path, "rb").read()
    if len(data) < 20:
        raise CorpusError(f"{os.fspath(path)} is too short to be a gettext .mo catalog.")
    (magic,) = struct.unpack("<I", data[:4])
    if magic == _MAGIC_LITTLE:
        order = "<"
    elif magic == _MAGIC_BIG:
        order = ">"
    else:
        raise CorpusError(
            f"{os.fspath(path)} does not start with the gettext .mo magic number; "
            "pass a compiled catalog (msgfmt output)."
        )
    _revision, count, originals_at, translations_at = struct.unpack(order + "4I", data[4:20])

    def strings_at(table: int, index: int) -> bytes:
        length, offset = struct.unpack(order + "2I", data[table + 8 * index : table + 8 * index + 8])
        return data[offset : offset + length]

    raw = [(strings_at(originals_at, i), strings_at(translations_at, i)) for i in range(count)]
    charset = "utf-8"
    for original, translation in raw:
        if original == b"":
            for line in translation.decode("ascii", "replace").splitlines():
                if line.lower().startswith("content-type:") and "charset=" in line:
                    charset = line.split("charset=", 1)[1].strip() or "utf-8"
    entries = []
    for original, translation in raw:
        if original == b"":
            continue
        original_text = original.decode(charset)
        context, _, msgids = original_text.rpartition(_CONTEXT_SEPARATOR)
        singular, *plural = msgids.split("\x00")
        forms = translation.decode(charset).split("\x00")
        entries.append(CatalogEntry(context, singular, forms[0]))
        if plural and len(forms) > 1:
            entries.append(CatalogEntry(context, plural[0], forms[1]))
    return entries
