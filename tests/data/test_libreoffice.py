import shutil
import subprocess
from pathlib import Path

import pytest

from kerattn.data import CorpusError, SplitRule, build_libreoffice, load_manifest, read_rows
from kerattn.data.manifest import sha256_of

SPLITS = ("train", "valid", "test")


def _all_rows(folder: Path) -> list[tuple[str, ...]]:
    return [row for split in SPLITS for row in read_rows(folder / f"{split}.tsv")]


@pytest.fixture
def built(tmp_path, libreoffice_tree):
    out = tmp_path / "libreoffice-en-es"
    manifest = build_libreoffice("es", from_dir=libreoffice_tree, out_dir=out)
    return out, manifest


def test_help_paragraphs_pair_by_path_and_id(built):
    out, _ = built
    rows = {(source, target): origin for source, target, origin in _all_rows(out)}
    assert rows[("Macro Security", "Seguridad de macros")] == (
        "help/text/shared/optionen/macrosecurity.html"
    )
    assert rows[
        ("Sets the properties of the section.", "Establece las propiedades de la sección.")
    ] == ("help/text/swriter/01/04020100.html")
    assert ("& or $0", "& o $0") in rows
    # The page repeats one id twice; the 1st English occurrence pairs with the 1st Spanish one,
    # and the 2nd (left in English by the translators) is dropped as untranslated.
    scriptforge = [pair for pair, origin in rows.items() if origin.endswith("lib_ScriptForge.html")]
    assert len(scriptforge) == 1
    source, target = scriptforge[0]
    assert "ScriptForge.Basic" in source and "ScriptForge.Basic" in target
    assert target.startswith("El servicio")


def test_ui_strings_are_cleaned_and_paired(built):
    out, _ = built
    rows = {(source, target): origin for source, target, origin in _all_rows(out)}
    assert rows[("Save As...", "Guardar como...")] == "ui/sw"
    assert rows[("Number:", "Número:")] == "ui/sw"
    assert rows[("Next >", "Siguiente >")] == "ui/sw"
    assert rows[("Macro Security...", "Seguridad de macros...")] == "ui/cui"
    assert (
        "For security reasons, you cannot run this macro. For more information, check the "
        "security settings."
    ) in {source for source, _ in rows}
    # Not a .ui dialog string: its underscores are literal text.
    assert ("Automatic _underline_", "_Subrayado_ automático") in rows
    assert ("%1 files", "%1 archivos") in rows
    assert not any("~" in source + target for source, target in rows)


def test_untranslated_empty_and_duplicate_pairs_are_dropped(built):
    out, manifest = built
    pairs = [(source, target) for source, target, _ in _all_rows(out)]
    sources = {source for source, _ in pairs}
    assert {"OK", "DDE", ".", "File name / DDE command", ""}.isdisjoint(sources)
    assert len(pairs) == len(set(pairs))
    assert pairs.count(("Pages", "Páginas")) == 1  # 3 catalog entries
    assert pairs.count(("Link", "Enlace")) == 1  # two headings of one page
    # One English text with two translations keeps both.
    assert {target for source, target in pairs if source == "Title"} == {"Título", "Tratamiento"}
    # "Macro Security" is both a help heading and a UI string: kept once.
    assert pairs.count(("Macro Security", "Seguridad de macros")) == 1
    assert manifest["dropped"] == {
        "untranslated": 6,
        "unpaired": 2,
        "empty": 1,
        "duplicates": 4,
        "held_out_overlap": 0,
    }


def test_every_help_page_is_in_one_split_chosen_by_its_path(tmp_path, libreoffice_tree):
    rule = SplitRule(test_fraction=0.3, valid_fraction=0.3)
    out = tmp_path / "corpus"
    build_libreoffice(
        "es", from_dir=libreoffice_tree, out_dir=out, test_fraction=0.3, valid_fraction=0.3
    )
    seen_splits = set()
    for split in SPLITS:
        for source, _, origin in read_rows(out / f"{split}.tsv"):
            key = origin[len("help/") :] if origin.startswith("help/") else source
            assert rule.split_of(key) == split
            seen_splits.add(split)
    assert seen_splits == set(SPLITS)


def test_manifest_records_sources_counts_checksums_and_rule(built):
    out, manifest = built
    assert load_manifest(out, verify=True) == manifest
    assert manifest["corpus"] == "libreoffice-en-es"
    assert manifest["kind"] == "translation"
    assert manifest["columns"] == ["source", "target", "origin"]
    assert [source["package"] for source in manifest["sources"]] == [
        "libreoffice-help-en-us",
        "libreoffice-help-es",
        "libreoffice-l10n-es",
    ]
    # The version comes from usr/share/doc/<package>/changelog.Debian.gz when the tree has one.
    assert manifest["sources"][1]["version"] == "4:7.4.7-1+deb12u14"
    assert manifest["sources"][0]["version"] == "unknown"
    assert "MPL-2.0" in manifest["licenses"][0]
    assert manifest["split_rule"]["buckets"] == 1000
    assert manifest["split_rule"]["test"] == [0, 50]
    assert "help file path" in manifest["split_rule"]["key"]
    assert manifest["options"]["lang"] == "es"
    for split in SPLITS:
        entry = manifest["files"][f"{split}.tsv"]
        assert entry["sha256"] == sha256_of(out / f"{split}.tsv")
        assert entry["rows"] == manifest["counts"][split] == len(read_rows(out / f"{split}.tsv"))
    assert sum(manifest["counts"].values()) == 24
    assert manifest["built_at"].endswith("+00:00")


def test_same_input_gives_byte_identical_files(tmp_path, libreoffice_tree):
    first = build_libreoffice("es", from_dir=libreoffice_tree, out_dir=tmp_path / "a")
    second = build_libreoffice("es", from_dir=libreoffice_tree, out_dir=tmp_path / "b")
    for split in SPLITS:
        assert (tmp_path / "a" / f"{split}.tsv").read_bytes() == (
            tmp_path / "b" / f"{split}.tsv"
        ).read_bytes()
    assert first["files"] == second["files"]


def _build_deb(tree: Path, package: str, members: list[str], folder: Path) -> None:
    staging = folder / f"stage-{package}"
    for member in members:
        shutil.copytree(tree / member, staging / member)
    (staging / "DEBIAN").mkdir(parents=True)
    (staging / "DEBIAN" / "control").write_text(
        f"Package: {package}\nVersion: 4:7.4.7-1+test1\nArchitecture: all\n"
        "Maintainer: kerattn tests <tests@example.invalid>\nDescription: fixture\n"
    )
    subprocess.run(
        [
            "dpkg-deb",
            "-Zgzip",
            "--root-owner-group",
            "--build",
            str(staging),
            str(folder / f"{package}_4%3a7.4.7-1+test1_all.deb"),
        ],
        check=True,
        capture_output=True,
    )
    shutil.rmtree(staging)


def test_from_folder_of_deb_files_matches_extracted_trees(tmp_path, libreoffice_tree):
    # dpkg-deb is part of Debian's base system and build_libreoffice unpacks .deb files with it;
    # the packages are built with it too, so they are real dpkg archives, not a writer of ours.
    if shutil.which("dpkg-deb") is None:
        pytest.fail(
            "This test needs `dpkg-deb` (build_libreoffice unpacks .deb files with it) "
            "and it is not on PATH; install dpkg (`apt-get install dpkg`)."
        )
    debs = tmp_path / "debs"
    debs.mkdir()
    help_root = "usr/share/libreoffice/help"
    _build_deb(libreoffice_tree, "libreoffice-help-en-us", [f"{help_root}/en-US"], debs)
    _build_deb(libreoffice_tree, "libreoffice-help-es", [f"{help_root}/es"], debs)
    _build_deb(libreoffice_tree, "libreoffice-l10n-es", ["usr/lib"], debs)
    from_debs = build_libreoffice("es", from_dir=debs, out_dir=tmp_path / "from-debs")
    build_libreoffice("es", from_dir=libreoffice_tree, out_dir=tmp_path / "from-tree")
    for split in SPLITS:
        assert (tmp_path / "from-debs" / f"{split}.tsv").read_bytes() == (
            tmp_path / "from-tree" / f"{split}.tsv"
        ).read_bytes()
    assert [(s["package"], s["version"]) for s in from_debs["sources"]] == [
        ("libreoffice-help-en-us", "4:7.4.7-1+test1"),
        ("libreoffice-help-es", "4:7.4.7-1+test1"),
        ("libreoffice-l10n-es", "4:7.4.7-1+test1"),
    ]
    assert all(len(source["sha256"]) == 64 for source in from_debs["sources"])


def test_bad_language_is_a_clear_error(tmp_path, libreoffice_tree):
    with pytest.raises(
        CorpusError,
        match=r"Language 'spanish!' is not a language code; use one "
        r"like es, fr, de, it or pt-br\.",
    ):
        build_libreoffice("spanish!", from_dir=libreoffice_tree, out_dir=tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_missing_target_language_is_a_clear_error(tmp_path, libreoffice_tree):
    with pytest.raises(CorpusError, match=r"Help folder .*help/fr/text is missing"):
        build_libreoffice("fr", from_dir=libreoffice_tree, out_dir=tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_from_folder_without_packages_is_a_clear_error(tmp_path):
    with pytest.raises(
        CorpusError,
        match=r"holds neither .deb files of libreoffice-help-en-us, "
        r"libreoffice-help-es, libreoffice-l10n-es nor an "
        r"extracted tree",
    ):
        build_libreoffice("es", from_dir=tmp_path, out_dir=tmp_path / "x")
    with pytest.raises(CorpusError, match=r"--from .*nowhere is not a folder"):
        build_libreoffice("es", from_dir=tmp_path / "nowhere", out_dir=tmp_path / "x")


def test_missing_apt_get_names_the_alternative(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(
        CorpusError,
        match=r"The `apt-get` command was not found; on a system "
        r"without apt, .* pass their folder with --from DIR\.",
    ):
        build_libreoffice("es", out_dir=tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_missing_dpkg_deb_names_what_to_install(tmp_path, monkeypatch):
    for package in ("libreoffice-help-en-us", "libreoffice-help-es", "libreoffice-l10n-es"):
        (tmp_path / f"{package}_1.0_all.deb").write_bytes(b"!<arch>\n")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(CorpusError, match=r"The `dpkg-deb` command was not found; install dpkg"):
        build_libreoffice("es", from_dir=tmp_path, out_dir=tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_language_codes_map_to_debian_and_libreoffice_names():
    from kerattn.data.libreoffice import libreoffice_packages

    assert libreoffice_packages("pt-BR") == [
        "libreoffice-help-en-us",
        "libreoffice-help-pt-br",
        "libreoffice-l10n-pt-br",
    ]
    assert libreoffice_packages("de")[1:] == ["libreoffice-help-de", "libreoffice-l10n-de"]


def test_regional_variant_folder_names():
    from kerattn.data.libreoffice import _language_parts

    # Debian's pt-br packages put help under help/pt-BR but UI catalogs under resource/pt_BR.
    assert _language_parts("pt-br") == ("pt-BR", "pt_BR", "pt-br")
    assert _language_parts("es") == ("es", "es", "es")
