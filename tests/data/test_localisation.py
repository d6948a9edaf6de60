"""The localisation corpus builder on the committed fixture packages (no network, no apt)."""

import collections
import hashlib
import json
from pathlib import Path

import pytest

import kerattn.data.corpus_writer as corpus_writer
import kerattn.data.localisation_download as download
from kerattn.data import CorpusError, SplitRule, load_manifest, read_rows
from kerattn.data.localisation import OOD_FILE, build_localisation, language
from kerattn.data.localisation_deb import read_deb
from tests.data.fixtures.localisation import make_fixtures

DEBS = Path(__file__).parent / "fixtures" / "localisation" / "debs"
SPLITS = ("train", "valid", "test")
EXTRA = ["tinyapp-data", "wesnoth-1.16-tiny", "filezilla-common"]


def _build(out, **options):
    settings = {"from_dir": DEBS, "packages": 0, "extra_packages": EXTRA, "progress": False}
    settings.update(options)
    return build_localisation("es", out_dir=out, **settings)


def _rows(folder):
    return [row for split in SPLITS for row in read_rows(folder / f"{split}.tsv")]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("localisation") / "localisation-es"
    manifest = _build(out)
    return out, manifest


@pytest.fixture(scope="module")
def pairs(built):
    out, _ = built
    return {(source, target): origin for source, target, origin in _rows(out)}


def test_committed_fixture_packages_hold_what_the_generator_writes(tmp_path):
    for name, data in make_fixtures.packages().items():
        (tmp_path / name).write_bytes(data)
        committed = read_deb(DEBS / name, lambda path: True)
        generated = read_deb(tmp_path / name, lambda path: True)
        assert committed == generated, f"regenerate {name} with make_fixtures.py"


def test_gettext_catalogues_with_accelerators_context_and_plurals(pairs):
    origin = "ui/tinyapp-data/tinyapp.mo"
    assert pairs[("File", "Archivo")] == origin
    assert pairs[("Open File...", "Abrir archivo...")] == origin
    assert pairs[("Save As", "Guardar como")] == origin
    assert pairs[("Quit", "Salir")] == origin  # msgctxt "menu" is not text
    assert pairs[("Close", "Cerrar")] == origin  # GTK "Dialog|Close"
    assert ("%d files selected", "%d archivos seleccionados") in pairs
    assert ("%d file selected", "%d archivo seleccionado") in pairs
    assert ("Tom & Jerry", "Tom & Jerry en español") in pairs
    assert not any(source == "Open" for source, _ in pairs)  # only es catalogues: no "Ouvrir"


def test_placeholders_are_kept_and_may_be_reordered(pairs):
    assert ("Copy %1$s to %2$s", "Copiar a %2$s desde %1$s") in pairs
    assert not any(source.startswith("Delete %s") for source, _ in pairs)


def test_markup_and_icu_plurals_are_reduced_to_text(pairs):
    assert ("Warning: the disk is full", "Atención: el disco está lleno") in pairs
    assert ("{count} photos", "{count} fotos") in pairs
    assert ("{COUNT} tabs", "{COUNT} pestañas") in pairs  # Chromium


def test_qt_catalogue(pairs):
    assert pairs[("Print...", "Imprimir...")] == "ui/tinyapp-data/tinyapp_es.qm"
    assert ("Zoom %1%", "Ampliación %1%") in pairs


def test_mallard_and_docbook_help_aligned_by_structure(pairs):
    assert pairs[("Back up your files", "Respaldar sus archivos")] == (
        "help/tinyapp-data/tinyapp/backup.page"
    )
    assert ("Open the Files application.", "Abra la aplicación Archivos.") in pairs
    assert ("Keep copies of your files.", "Guarde copias de sus archivos.") in pairs
    assert not any("cp -r" in source for source, _ in pairs)  # code listings are left out
    assert not any("Ann" in source for source, _ in pairs)  # credits are left out
    # KDE entities stay as written, index terms are not part of the paragraph.
    assert (
        "&tinyapp; is a small editor for &kde;.",
        "&tinyapp; es un pequeño editor para &kde;.",
    ) in pairs


def test_chromium_pak_paired_by_resource_id(pairs):
    assert pairs[("Open link in new tab", "Abrir enlace en una pestaña nueva")] == (
        "ui/chromium/ids-100"
    )
    assert ("$1 downloads", "$1 descargas") in pairs
    assert not any(source == "Print" for source, _ in pairs)  # no Spanish resource


def test_mozilla_ftl_and_properties_paired_by_file_and_key(pairs):
    assert pairs[("Close Tab", "Cerrar pestaña")] == "ui/firefox-esr/ftl/browser/tabs.ftl"
    assert ("{ $count } tabs", "{ $count } pestañas") in pairs
    assert (
        "Take your bookmarks, history and passwords everywhere you go.",
        "Lleve sus marcadores, historial y contraseñas a donde vaya.",
    ) in pairs
    assert ("Save %S as…", "Guardar %S como…") in pairs
    assert ("This line continues on the next one", "Esta línea continúa en la siguiente") in pairs


def test_gimp_manual_pages_skip_index_pages_and_misaligned_structure(pairs):
    assert pairs[
        (
            "You can think of layers as a stack of slides.",
            "Puede pensar en las capas como en una pila de diapositivas.",
        )
    ] == ("help/gimp-help/layers.html")
    assert not any(origin.endswith(("ix01.html", "paths.html")) for origin in pairs.values())
    assert not any(source.startswith("Each layer") for source, _ in pairs)  # partly English


def test_libreoffice_stays_in_the_corpus(pairs):
    assert pairs[("Save As...", "Guardar como...")] == "ui/libreoffice/ui/sw"
    assert pairs[("Macro Security", "Seguridad de macros")].startswith("help/libreoffice/help/")


def test_narrative_kind_and_context_prefixes(pairs, built):
    out, manifest = built
    narrative = {pair for pair, origin in pairs.items() if origin.startswith("narrative/")}
    assert ("Human", "Humano") in narrative
    assert ("Elvish Lady", "Dama elfa") in narrative
    assert set(manifest["report"]["rows_per_kind"]) == {"ui", "help", "narrative"}


def test_every_filter_is_counted(built):
    _, manifest = built
    dropped = manifest["report"]["filter_dropped"]
    for reason in (
        "untranslated",
        "placeholder_mismatch",
        "partly_untranslated",
        "length_ratio",
        "target_not_es",
        "no_letters",
        "help_unaligned",
        "unpaired",
    ):
        assert dropped.get(reason, 0) >= 1, reason
    changed = manifest["report"]["filter_changed"]
    for step in ("accelerators", "context_prefix", "plural_syntax", "markup"):
        assert changed.get(step, 0) >= 1, step
    assert manifest["dropped"]["duplicates"] >= 1  # "Cancel" twice, es and es_ES catalogues


def test_splits_follow_the_package_or_document_hash(tmp_path):
    rule = SplitRule(test_fraction=0.3, valid_fraction=0.3)
    out = tmp_path / "corpus"
    manifest = _build(out, test_fraction=0.3, valid_fraction=0.3)
    for split in SPLITS:
        for english, _, origin in read_rows(out / f"{split}.tsv"):
            kind, source, rest = origin.split("/", 2)
            if source in EXTRA:
                key = source  # catalogue packages: the whole package in one split
            elif source == "chromium":
                key = f"chromium/{rest}"
            elif source == "libreoffice":  # the libreoffice corpus's keys
                key = rest.removeprefix("help/") if kind == "help" else english
            else:
                key = f"{source}/{rest}"
            assert rule.split_of(key) == split, origin
    assert sum(manifest["counts"].values()) > 0


def test_adding_a_package_moves_no_row_to_another_split(tmp_path):
    small, large = tmp_path / "small", tmp_path / "large"
    _build(small, extra_packages=["tinyapp-data"])
    _build(large)
    for split in SPLITS:
        other = set().union(*(read_rows(large / f"{name}.tsv") for name in SPLITS if name != split))
        for row in read_rows(small / f"{split}.tsv"):
            assert row not in other


def test_out_of_domain_packages_are_held_out_whole(built, pairs):
    out, manifest = built
    ood = read_rows(out / OOD_FILE)
    origins = {origin.split("/")[1] for _, _, origin in ood}
    assert origins == {"filezilla-common", "gnome-user-docs"}
    assert not any(origin.split("/")[1] in origins for origin in pairs.values())
    assert ("Connect to the server", "Conectar al servidor") in {(s, t) for s, t, _ in ood}
    assert not any(source == "Cancel" for source, _, _ in ood)  # in the main corpus already
    assert manifest["report"]["ood_dropped"]["ood_overlap"] >= 1
    assert manifest["files"][OOD_FILE]["rows"] == len(ood)


def test_manifest_lists_packages_with_version_checksum_and_license(built):
    out, manifest = built
    assert load_manifest(out, verify=True) == manifest
    by_name = {source["package"]: source for source in manifest["sources"]}
    tinyapp = by_name["tinyapp-data"]
    assert tinyapp["version"] == "1.0-1"
    assert tinyapp["license"] == ["GPL-2+"]
    assert (
        tinyapp["sha256"]
        == hashlib.sha256((DEBS / "tinyapp-data_1.0-1_all.deb").read_bytes()).hexdigest()
    )
    assert "thunderbird" in manifest["options"]["missing_packages"]
    assert "debian-handbook" not in by_name


def test_rebuilds_are_byte_identical(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    first, second = tmp_path / "first", tmp_path / "second"
    _build(first)
    _build(second)
    names = sorted(path.name for path in first.iterdir())
    assert names == ["manifest.json", "test-ood.tsv", "test.tsv", "train.tsv", "valid.tsv"]
    for name in names:
        if name == "manifest.json":
            a = json.loads((first / name).read_text())
            b = json.loads((second / name).read_text())
            assert a == b
        else:
            assert (first / name).read_bytes() == (second / name).read_bytes()


def test_reserved_data_is_refused(tmp_path):
    with pytest.raises(
        CorpusError,
        match=r"^debian-handbook is reserved for independent "
        r"evaluation .*; remove it from the package list\.$",
    ):
        _build(tmp_path / "out", extra_packages=["debian-handbook"])
    with pytest.raises(CorpusError, match="Translation-es is reserved"):
        _build(tmp_path / "out", extra_packages=["Translation-es"])
    assert not (tmp_path / "out").exists()
    # A reserved .deb in --from is never picked up, whatever the selection.
    assert download.is_reserved("debian-handbook_11.20220922_all.deb")
    assert download.is_reserved("deb.debian.org_debian_dists_bookworm_main_i18n_Translation-es")


def test_budget_stops_before_the_package_that_would_pass_it(tmp_path):
    manifest = _build(tmp_path / "out", budget_mb=0.008)
    taken = {source["package"] for source in manifest["sources"]}
    assert {"libreoffice-l10n-es", "chromium-l10n"} <= taken and "tinyapp-data" not in taken
    assert "tinyapp-data" in manifest["options"]["over_budget_packages"]


def test_a_folder_that_is_not_a_corpus_is_refused(tmp_path):
    out = tmp_path / "notes"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    with pytest.raises(CorpusError, match="is not empty and holds no corpus"):
        _build(out)
    assert [path.name for path in out.iterdir()] == ["mine.txt"]


def test_an_interrupted_build_loses_nothing(tmp_path, monkeypatch, built):
    out = tmp_path / "corpus"
    _build(out)
    before = {path.name: path.read_bytes() for path in out.iterdir()}
    calls = []

    def fail_on_third(path, rows):
        calls.append(path)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(path, rows)

    original = corpus_writer.write_rows
    monkeypatch.setattr(corpus_writer, "write_rows", fail_on_third)
    with pytest.raises(KeyboardInterrupt):
        _build(out, overwrite=True, extra_packages=["tinyapp-data"])
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before


@pytest.mark.parametrize(
    "options, message",
    [
        ({"budget_mb": 0}, r"^--budget-mb 0 is not positive; pass a size in megabytes"),
        ({"packages": -1}, r"^--packages -1 is negative; pass a count from 0 up to 311\.$"),
        ({"from_dir": "missing-folder"}, r"^--from missing-folder is not a folder; pass a folder"),
        ({"extra_packages": [], "sources": []}, r"^None of the selected packages was found"),
    ],
)
def test_error_texts(tmp_path, options, message):
    with pytest.raises(CorpusError, match=message):
        _build(tmp_path / "out", **options)


def test_bad_language_code():
    with pytest.raises(
        CorpusError,
        match=r"^Language 'spanish!' is not a language code; use "
        r"one like es, fr, de, it or pt-br\.$",
    ):
        language("spanish!")
    assert language("pt-br").locale_dirs == ("pt_BR",)
    assert language("es").mozilla == "es-es"


def test_command_line_builds_and_refuses_reserved_packages(tmp_path, capsys):
    from kerattn_cli import main

    out = tmp_path / "cli"
    base = ["data", "localisation", "--from", str(DEBS), "--packages", "0", "--out", str(out)]
    assert main(base + ["--extra-packages", "tinyapp-data,debian-handbook"]) == 2
    error = capsys.readouterr().err
    assert "debian-handbook is reserved for independent evaluation" in error
    assert not out.exists()
    assert main(base + ["--extra-packages", "tinyapp-data", "--budget-mb", "100"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in lines] == [
        ["localisation-es", "train"],
        ["localisation-es", "valid"],
        ["localisation-es", "test"],
    ]
    assert load_manifest(out)["options"]["extra_packages"] == ["tinyapp-data"]


def test_reserved_files_inside_a_package_are_counted_and_not_read():
    from kerattn.data.localisation import _catalogue_source, _extract_catalogues
    from kerattn.data.localisation_cleaning import CleaningReport
    from kerattn.data.localisation_deb import DebContents

    handbook = read_deb(DEBS / "debian-handbook_11.20220922_all.deb", lambda path: True)
    mo = handbook.files["usr/share/locale/es/LC_MESSAGES/handbook.mo"]
    contents = DebContents(
        {"Package": "somedocs"},
        {
            "usr/share/doc/debian-handbook/locale/es/LC_MESSAGES/handbook.mo": mo,
            "usr/share/locale/es/LC_MESSAGES/Translation-es.mo": mo,
        },
    )
    report = CleaningReport()
    rows = list(
        _extract_catalogues(_catalogue_source("somedocs"), [contents], language("es"), report)
    )
    assert rows == [] and report.dropped["reserved"] == 2


def test_libreoffice_rows_keep_the_libreoffice_corpus_split(tmp_path):
    # translator_en_es v1 was trained on `kerattn data libreoffice`: a LibreOffice row this
    # corpus holds out must be held out there too, so v1 and v2 compare on unseen text.
    from kerattn.data.libreoffice import build_libreoffice

    out, alone = tmp_path / "localisation", tmp_path / "libreoffice"
    _build(out, test_fraction=0.3, valid_fraction=0.3)
    build_libreoffice("es", from_dir=DEBS, out_dir=alone, test_fraction=0.3, valid_fraction=0.3)
    split_there = {
        (source, target): split
        for split in SPLITS
        for source, target, _ in read_rows(alone / f"{split}.tsv")
    }
    compared = collections.Counter()
    for split in SPLITS:
        for source, target, origin in read_rows(out / f"{split}.tsv"):
            if origin.split("/")[1] == "libreoffice" and (source, target) in split_there:
                assert split_there[(source, target)] == split, origin
                compared[split] += 1
    assert len(compared) >= 2  # rows in more than one split were compared


def test_print_uris_output_is_read_into_package_files():
    sha = "ab" * 32
    output = (
        "Reading package lists...\n"
        f"'http://deb.example/pool/main/g/gimp-help/gimp-help-es_2.10.34-1_all.deb' "
        f"gimp-help-es_2.10.34-1_all.deb 123456 SHA256:{sha}\n"
        "'http://deb.example/x.deb' not-a-valid-line\n"
    )
    files = download.print_uris_files(output)
    assert files == {
        "gimp-help-es": download.PackageFile(
            "gimp-help-es",
            "http://deb.example/pool/main/g/gimp-help/gimp-help-es_2.10.34-1_all.deb",
            "gimp-help-es_2.10.34-1_all.deb",
            123456,
            sha,
        )
    }
