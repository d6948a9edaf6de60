"""The localisation readers (one per format), the cleaning filters and the download cache."""

import hashlib
import io
import struct

import pytest

import kerattn.data.localisation_download as download
from kerattn.data import CorpusError
from kerattn.data.help_pages import align_blocks, read_blocks
from kerattn.data.localisation_cleaning import (
    CleaningReport,
    clean_pair,
    placeholders,
    strip_accelerator_markers,
    strip_context_prefix,
    strip_html_markup,
    strip_plural_syntax,
)
from kerattn.data.localisation_deb import read_deb
from kerattn.data.localisation_formats import (
    read_ftl,
    read_json_messages,
    read_pak,
    read_properties,
    read_qm,
    write_qm,
)
from kerattn.data.mo_catalog import CatalogEntry
from tests.data.fixtures.localisation import make_fixtures
from tests.data.test_localisation import DEBS


def test_qm_round_trip_and_errors():
    entries = [CatalogEntry("Main", "&Open", "&Abrir"), CatalogEntry("", "Zoom %1", "Zoom %1")]
    assert read_qm(write_qm(entries)) == entries
    with pytest.raises(
        CorpusError,
        match=r"^x\.qm does not start with the Qt \.qm magic number; "
        r"pass a catalogue compiled by lrelease\.$",
    ):
        read_qm(b"not a catalogue", "x.qm")
    with pytest.raises(CorpusError, match="is a truncated .qm catalogue"):
        read_qm(write_qm(entries)[:-12] + b"\x03", "cut.qm")


def test_pak_versions_4_and_5_and_errors():
    five = make_fixtures._pak({1: "Open", 2: "Close"})
    assert read_pak(five) == {1: "Open", 2: "Close"}
    four = struct.pack("<IIB", 4, 2, 1) + struct.pack("<HIHIHI", 1, 27, 2, 31, 0, 36) + b"OpenClose"
    assert read_pak(four) == {1: "Open", 2: "Close"}
    with pytest.raises(
        CorpusError,
        match=r"^x\.pak is a \.pak file of version 9; versions 4 "
        r"and 5 are read\.$",
    ):
        read_pak(struct.pack("<I", 9) + b"\0" * 12, "x.pak")


def test_ftl_properties_and_json_catalogues():
    ftl = read_ftl(make_fixtures.FTL_EN)
    assert ftl["tab-close"] == "Close Tab"
    assert ftl["tab-close.accesskey"] == "C"
    assert ftl["sync-intro"] == "Take your bookmarks, history and passwords everywhere you go."
    assert "[one] One tab" in ftl["tab-count"]
    properties = read_properties(make_fixtures.PROPERTIES_EN)
    assert properties == {
        "downloadFailed": "Download failed",
        "saveAs": "Save %S as\u2026",
        "longLine": "This line continues on the next one",
    }
    assert read_json_messages(
        '{"menu": {"file": "File", "items": ["Open"]}, '
        '"ext": {"message": "Add-on", "description": "x"}}'
    ) == {"menu.file": "File", "menu.items.0": "Open", "ext": "Add-on"}
    with pytest.raises(CorpusError, match=r"^en\.json is not a JSON message catalogue"):
        read_json_messages("{", "en.json")


def test_help_blocks_and_structural_alignment():
    english = read_blocks(make_fixtures.MALLARD_C)
    spanish = read_blocks(make_fixtures.MALLARD_ES)
    assert [shape for shape, _ in english] == [shape for shape, _ in spanish]
    assert ("item/p", "Open the Files application.") in english
    pairs, unaligned = align_blocks(english, spanish)
    assert unaligned == 0 and len(pairs) == len(english)
    shifted, unaligned = align_blocks(
        read_blocks(make_fixtures.GIMP_SHIFTED_EN), read_blocks(make_fixtures.GIMP_SHIFTED_ES)
    )
    assert shifted == [] and unaligned == 2


def test_menu_paths_and_key_combinations_keep_their_separators():
    blocks = read_blocks(
        "<page><p>Open <guiseq><gui>Edit</gui><gui>Preferences</gui></guiseq>"
        " or press <keyseq><key>Ctrl</key><key>P</key></keyseq>.</p></page>"
    )
    assert blocks == [("p", "Open Edit ▸ Preferences or press Ctrl+P.")]


def test_deb_reader_takes_only_the_selected_files_and_the_copyright():
    contents = read_deb(DEBS / "tinyapp-data_1.0-1_all.deb", lambda path: path.endswith(".qm"))
    assert contents.package == "tinyapp-data" and contents.version == "1.0-1"
    assert sorted(contents.files) == [
        "usr/share/doc/tinyapp-data/copyright",
        "usr/share/tinyapp/translations/tinyapp_es.qm",
    ]
    assert contents.licenses() == ["GPL-2+"]


def test_deb_reader_error(tmp_path):
    path = tmp_path / "fake.deb"
    path.write_bytes(b"plain text")
    with pytest.raises(
        CorpusError,
        match=r"fake\.deb is not a Debian package \(no ar header\); "
        r"pass \.deb files\.$",
    ):
        read_deb(path, lambda path: True)


@pytest.mark.parametrize(
    "source, target, expected",
    [
        ("_File", "_Archivo", ("File", "Archivo")),
        ("&Open File...", "&Abrir archivo...", ("Open File...", "Abrir archivo...")),
        ("Ne_xt", "Si_guiente", ("Next", "Siguiente")),
        ("Tom && Jerry", "Tom && Jerry", ("Tom & Jerry", "Tom & Jerry")),
        ("&kde; mail", "correo &kde;", ("&kde; mail", "correo &kde;")),
        (
            "some_long_identifier",
            "un_identificador_largo",
            ("some_long_identifier", "un_identificador_largo"),
        ),
    ],
)
def test_accelerators(source, target, expected):
    assert (strip_accelerator_markers(source), strip_accelerator_markers(target)) == expected


def test_tilde_accelerators_only_when_asked():
    assert strip_accelerator_markers("~Save", tilde=True) == "Save"
    assert strip_accelerator_markers("~/.config") == "~/.config"


def test_context_prefixes():
    assert strip_context_prefix("race^Human", "Humano")[:2] == ("Human", "Humano")
    assert strip_context_prefix("female^Lady", "female^Dama")[:2] == ("Lady", "Dama")
    assert strip_context_prefix("_: tooltip\nOpen", "Abrir")[:2] == ("Open", "Abrir")
    assert strip_context_prefix("Dialog|Close", "Cerrar")[:2] == ("Close", "Cerrar")
    assert strip_context_prefix("a | b", "a | b")[:2] == ("a | b", "a | b")


def test_plural_syntax_and_markup():
    assert strip_plural_syntax("{n, plural, =1 {one file} other {# files}} left") == (
        "{n} files left"
    )
    assert strip_plural_syntax("{g, select, male {He} female {She} other {They}} left") == (
        "They left"
    )
    assert strip_plural_syntax("{ $n ->\n [one] a tab\n *[other] { $n } tabs\n}") == ("{ $n } tabs")
    assert strip_plural_syntax("Hello {name}") == "Hello {name}"
    assert strip_html_markup("<b>Bold</b> &amp; <a href='x'>link</a><br/>next") == (
        "Bold & link next"
    )
    assert strip_html_markup("Usage: cp <source> <dest>") == "Usage: cp <source> <dest>"


def test_placeholders_are_compared_as_multisets_without_positions():
    assert placeholders("Copy %1$s to %2$d") == placeholders("%2$d: copiar %1$s")
    assert placeholders("%s of %d") == ["%d", "%s"]
    assert placeholders("100%% done") == []
    for text in (
        "{0} items",
        "{name} left",
        "$1 left",
        "$USER$ left",
        "${HOME} x",
        "%1 files",
        "%(count)d files",
        "{ $count } tabs",
    ):
        assert len(placeholders(text)) == 1, text


@pytest.mark.parametrize(
    "source, target, reason",
    [
        ("", "Algo", "empty"),
        ("...", "...", "no_letters"),
        ("x" * 2001, "y" * 2001, "too_long"),
        ("Preferences", "Preferences", "untranslated"),
        ("Delete %s now?", "¿Eliminar ahora?", "placeholder_mismatch"),
        (
            "Show the list of recent documents in the menu",
            "Show the list of recent documents in the menu of the window please",
            "partly_untranslated",
        ),
        (
            "Open",
            "Abrir el archivo seleccionado en una ventana nueva del editor de textos",
            "length_ratio",
        ),
        (
            "La configuración de la cuenta no se puede guardar en el disco",
            "Los ajustes de esta cuenta no pueden ser almacenados",
            "source_not_english",
        ),
        (
            "Connection refused by the remote server",
            "La connexion a été refusée par le serveur distant et le serveur ne répond pas",
            "target_not_es",
        ),
        (
            "Connection refused by the remote server now",
            "Соединение отклонено удалённым сервером прямо сейчас и снова",
            "target_not_es",
        ),
    ],
)
def test_every_drop_reason(source, target, reason):
    report = CleaningReport()
    assert clean_pair(source, target, report, lang="es") is None
    assert report.dropped == {reason: 1}


def test_a_clean_pair_passes_and_edits_are_counted():
    report = CleaningReport()
    assert clean_pair("<b>_Save</b> %1$s", "<b>_Guardar</b> %1$s", report, lang="es") == (
        "Save %1$s",
        "Guardar %1$s",
    )
    assert report.changed == {"accelerators": 1, "markup": 1} and not report.dropped
    assert clean_pair("_home_dir", "_home_dir es", CleaningReport(), lang="es", ui=False) == (
        "_home_dir",
        "_home_dir es",
    )


class _Response(io.BytesIO):
    def __init__(self, data: bytes, status: int) -> None:
        super().__init__(data)
        self.status = status

    def __enter__(self):
        return self

    def __exit__(self, *args):
        self.close()


def _package_file(data: bytes) -> download.PackageFile:
    return download.PackageFile(
        "tiny",
        "http://deb.example/tiny.deb",
        "tiny_1_all.deb",
        len(data),
        hashlib.sha256(data).hexdigest(),
    )


def test_download_resumes_a_partial_file_and_checks_its_sha256(tmp_path, monkeypatch):
    data = bytes(range(256)) * 40
    package_file = _package_file(data)
    (tmp_path / "tiny_1_all.deb.part").write_bytes(data[:1000])
    requests = []

    def urlopen(request, timeout):
        requests.append(request.get_header("Range"))
        return _Response(data[1000:], 206)

    monkeypatch.setattr(download.urllib.request, "urlopen", urlopen)
    assert download.fetch_packages([package_file], tmp_path, progress=False) == [
        tmp_path / "tiny_1_all.deb"
    ]
    assert requests == ["bytes=1000-"]
    assert (tmp_path / "tiny_1_all.deb").read_bytes() == data
    assert not (tmp_path / "tiny_1_all.deb.part").exists()
    # In the cache with the right checksum: not downloaded again.
    monkeypatch.setattr(download.urllib.request, "urlopen", lambda *a, **k: 1 / 0)
    download.fetch_packages([package_file], tmp_path, progress=False)


def test_a_corrupt_download_is_removed_with_a_clear_error(tmp_path, monkeypatch):
    data = b"good data" * 10
    package_file = _package_file(data)
    monkeypatch.setattr(
        download.urllib.request,
        "urlopen",
        lambda request, timeout: _Response(b"bad data!" * 10, 200),
    )
    with pytest.raises(
        CorpusError,
        match=r"^tiny_1_all\.deb downloaded with sha256 [0-9a-f]+, "
        r"but apt expects [0-9a-f]+; run the build again",
    ):
        download.fetch_packages([package_file], tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_budget_takes_packages_in_order_until_the_next_would_pass_it():
    files = [_package_file(b"x" * size) for size in (10, 20, 5)]
    taken, skipped = download.within_budget(files, 25)
    assert [f.size for f in taken] == [10] and [f.size for f in skipped] == [20, 5]
    assert download.within_budget(files, None) == (files, [])


def test_cache_folder_is_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("KERATTN_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert download.cache_folder() == tmp_path / "kerattn" / "debs"
    monkeypatch.setenv("KERATTN_CACHE", str(tmp_path / "mine"))
    assert download.cache_folder() == tmp_path / "mine" / "debs"
    assert download.cache_folder(tmp_path / "given") == tmp_path / "given" / "debs"
