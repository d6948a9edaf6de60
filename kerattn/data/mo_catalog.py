"""Reading compiled gettext catalogues (`.mo` files) with polib."""

from __future__ import annotations

import dataclasses
import os

from kerattn.data.corpus_error import CorpusError


@dataclasses.dataclass(frozen=True)
class CatalogEntry:
    """One message of a catalog: optional context, the original text and its translation."""

    context: str
    msgid: str
    msgstr: str


def read_mo(path: str | os.PathLike | bytes, name: str | None = None) -> list[CatalogEntry]:
    """Read every translated message of a `.mo` catalog, in the catalog's (msgid-sorted) order.

    The header entry (empty msgid) is skipped. A plural message gives two entries: the singular
    msgid with the first form and the plural msgid with the second form (for languages with
    one form, the plural msgid is left out).

    Args:
        path: the `.mo` file (either byte order, format revision 0 or 1), or its bytes.
        name: what to call the catalogue in error messages when `path` is bytes.

    Returns:
        The entries; texts are decoded with the charset named in the header (UTF-8 if none).

    Raises:
        CorpusError: if the data is not a gettext `.mo` catalog.
    """
    try:
        import polib
    except ImportError:
        raise CorpusError(
            "The Python package polib is not installed; install it with "
            '`pip install "kerattn[data]"` (or `pip install polib`).'
        ) from None

    label = name or (os.fspath(path) if not isinstance(path, bytes) else "catalogue")
    data = path if isinstance(path, bytes) else open(path, "rb").read()
    if len(data) < 28 or data[:4] not in (b"\xde\x12\x04\x95", b"\x95\x04\x12\xde"):
        raise CorpusError(
            f"{label} does not start with the gettext .mo magic number; "
            "pass a compiled catalog (msgfmt output)."
        )
    try:
        catalogue = polib.mofile(data)
    except (OSError, UnicodeDecodeError, LookupError, ValueError) as error:
        raise CorpusError(
            f"{label} is a damaged gettext .mo catalog ({error}); "
            "pass a catalog that msgunfmt can read."
        ) from None
    entries = []
    for entry in catalogue:
        if not entry.msgid:
            continue
        context = entry.msgctxt or ""
        if entry.msgid_plural:
            forms = [entry.msgstr_plural[index] for index in sorted(entry.msgstr_plural)]
            if forms:
                entries.append(CatalogEntry(context, entry.msgid, forms[0]))
            if len(forms) > 1:
                entries.append(CatalogEntry(context, entry.msgid_plural, forms[1]))
        else:
            entries.append(CatalogEntry(context, entry.msgid, entry.msgstr))
    return entries
