import struct

import pytest

from kerattn.data import CorpusError
from kerattn.data.mo_catalog import CatalogEntry, read_mo

MO = "libreoffice/usr/lib/libreoffice/program/resource/es/LC_MESSAGES/sw.mo"


def test_reads_contexts_plurals_and_multiline_messages(fixtures):
    entries = read_mo(fixtures / MO)
    assert CatalogEntry("STR_SAVE_AS", "Save ~As...", "Guardar ~como...") in entries
    assert CatalogEntry("STR_FILES", "%1 file", "%1 archivo") in entries
    assert CatalogEntry("STR_FILES", "%1 files", "%1 archivos") in entries
    multiline = [entry for entry in entries if entry.context == "RID_STR_CANNOTRUNMACRO"]
    assert multiline[0].msgid.startswith("For security reasons, you cannot run this macro.\n\n")
    assert all(entry.msgid for entry in entries)  # the header entry is skipped


def test_big_endian_catalog(tmp_path):
    original, translation = b"Open", b"Abrir"
    header = struct.pack(">7I", 0x950412DE, 0, 1, 28, 36, 0, 0)
    offset = 44
    data = (
        header
        + struct.pack(">2I", len(original), offset)
        + struct.pack(">2I", len(translation), offset + len(original) + 1)
        + original
        + b"\0"
        + translation
        + b"\0"
    )
    path = tmp_path / "big.mo"
    path.write_bytes(data)
    assert read_mo(path) == [CatalogEntry("", "Open", "Abrir")]


def test_not_a_catalog_is_a_clear_error(tmp_path):
    path = tmp_path / "fake.mo"
    path.write_bytes(b"this is not a catalog at all")
    with pytest.raises(CorpusError, match="does not start with the gettext .mo magic number"):
        read_mo(path)
