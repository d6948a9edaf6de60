"""The Debian documentation evaluation set on committed fixtures (no network, no apt).

The handbook package is packed at test time from `fixtures/debian_docs/html/` (Publican HTML
trimmed to a few paragraphs, English and Spanish) with the localisation fixtures' .deb writer;
the `Translation-*` files are hand-made DDTP excerpts.
"""

import bz2
import hashlib
import json
import lzma
import shutil
from pathlib import Path

import pytest

import kerattn.data.debian_docs as debian_docs
from kerattn.data import CorpusError, load_manifest, read_rows
from kerattn.data.debian_docs import (
    build_debian_docs,
    description_parts,
    read_publican_blocks,
    read_translation_file,
    stable_sample,
)
from kerattn.data.localisation_download import PackageFile, is_reserved
from tests.data.fixtures.localisation import make_fixtures

FIXTURES = Path(__file__).parent / "fixtures" / "debian_docs"
HANDBOOK_DEB = "debian-handbook_11.20220922_all.deb"


def _inputs(folder: Path) -> Path:
    """A --from folder as the download cache holds it: the .deb, Translation-en.xz, -es.bz2."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        f"usr/share/doc/debian-handbook/html/{path.relative_to(FIXTURES / 'html').as_posix()}": (
            path.read_bytes()
        )
        for path in sorted((FIXTURES / "html").rglob("*.html"))
    }
    (folder / HANDBOOK_DEB).write_bytes(
        make_fixtures.deb("debian-handbook", "11.20220922", files, "GPL-2.0+ or CC-BY-SA-3.0")
    )
    english = (FIXTURES / "Translation-en").read_bytes()
    (folder / "bookworm_main_i18n_Translation-en.xz").write_bytes(lzma.compress(english))
    spanish = (FIXTURES / "Translation-es").read_bytes()
    (folder / "bookworm_main_i18n_Translation-es.bz2").write_bytes(bz2.compress(spanish))
    return folder


def _build(tmp_path: Path, out: Path, **options) -> dict:
    settings = {"from_dir": _inputs(tmp_path / "inputs"), "progress": False}
    settings.update(options)
    return build_debian_docs("es", out_dir=out, **settings)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("debian-docs")
    manifest = _build(root, root / "debian-docs-es")
    return root / "debian-docs-es", manifest


def test_handbook_pages_are_aligned_by_structure(built):
    out, _ = built
    rows = {row[0]: (row[1], row[2]) for row in read_rows(out / "handbook.tsv")}
    assert rows["syslog System Events"] == (
        "syslog Eventos de sistema",
        "handbook/sect.syslog.html",
    )
    assert rows["Principle and Mechanism"][0] == "Principio y mecanismo"
    assert rows["the facility, followed by a dot and a priority level;"][0] == (
        "la facilidad, seguida de un punto y un nivel de prioridad;"
    )
    assert rows["Scheduling Tasks with cron and atd"][1] == "handbook/sect.cron.html"
    assert rows[
        "The rsyslogd daemon is responsible for collecting service messages coming from "
        "applications and the kernel, then dispatching them into log files (usually stored "
        "in the /var/log/ directory)."
    ][0].startswith("El demonio rsyslogd es responsable de recolectar")
    text = " ".join(rows)
    # Navigation, the banner, code listings and the page without a translation are left out.
    for absent in ("Prev", "Download the ebook", "tail /var/log/syslog", "no translation folder"):
        assert absent not in text
    assert len(rows) == 7


def test_publican_paragraphs_and_navigation():
    page = (FIXTURES / "html" / "en-US" / "sect.cron.html").read_text()
    assert read_publican_blocks(page) == [
        ("h2", "9.7. Scheduling Tasks with cron and atd"),
        ("para", "The daemon writes a message every time a user logs in with the SSH protocol."),
        ("para", "cron is the daemon responsible for executing scheduled and recurring commands."),
    ]
    shapes = [
        shape
        for shape, _ in read_publican_blocks(
            (FIXTURES / "html" / "es-ES" / "sect.syslog.html").read_text()
        )
    ]
    assert "li/para" in shapes and "li" not in shapes


def test_descriptions_are_paired_by_md5(built):
    out, _ = built
    assert read_rows(out / "descriptions.tsv") == [
        (
            "GNU cpio -- a program to manage archives of files",
            "GNU cpio, un programa para gestionar archivos de ficheros",
            "descriptions/cpio",
        ),
        (
            "GNU cpio is a tool for creating and extracting archives, or copying files from one "
            "place to another.",
            "GNU cpio es una herramienta para crear y extraer archivos, o copiar ficheros de un "
            "lugar a otro.",
            "descriptions/cpio",
        ),
        (
            "It handles a number of cpio formats as well as reading and writing tar files.",
            "Maneja varios formatos de cpio así como leer y escribir ficheros tar.",
            "descriptions/cpio",
        ),
        (
            "GNU Privacy Assistant (GPA)",
            "Asistente de privacidad de GNU (GPA)",
            "descriptions/gpa",
        ),
        (
            "Documentation for the GNU Privacy Assistant, a graphical user interface for GnuPG.",
            "Documentación del Asistente de Privacidad de GNU, una interfaz gráfica de usuario "
            "para GnuPG.",
            "descriptions/gpa-doc",
        ),
        (
            "This package contains the shared library.",
            "Este paquete contiene la biblioteca compartida.",
            "descriptions/libfoo1",
        ),
    ]


def test_description_parts_and_translation_records(tmp_path):
    short, paragraphs = description_parts("short text\nfirst line\n  * item\n.\nsecond")
    assert short == "short text" and paragraphs == ["first line * item", "second"]
    records = read_translation_file(FIXTURES / "Translation-es", "es")
    assert records["0a1b2c3d4e5f60718293a4b5c6d7e8f9"][0] == "cpio"
    assert len(records) == 5


def test_every_filter_is_counted(built):
    _, manifest = built
    assert manifest["report"] == {
        "handbook": {
            "paired": 12,
            "unaligned": 0,
            "page_missing": 1,
            "length_ratio": 1,
            "partly_untranslated": 1,
            "untranslated": 2,
            "duplicates": 1,
            "not_sampled": 0,
            "written": 7,
        },
        "descriptions": {
            "paired": 8,
            "md5_not_in_english": 1,
            "paragraphs_unequal": 2,
            "untranslated": 1,
            "duplicates": 1,
            "not_sampled": 0,
            "written": 6,
        },
    }
    assert manifest["dropped"]["descriptions/paragraphs_unequal"] == 2
    assert manifest["counts"] == {"handbook": 7, "descriptions": 6}


def test_the_sample_is_chosen_by_a_stable_hash(tmp_path):
    rows = [(f"sentence {index}", f"frase {index}", "x") for index in range(50)]
    chosen = stable_sample(rows, 10)
    digests = sorted(hashlib.sha1(row[0].encode()).hexdigest() for row in rows)[:10]
    assert sorted(hashlib.sha1(row[0].encode()).hexdigest() for row in chosen) == digests
    assert chosen == [row for row in rows if row in chosen]  # input order kept
    # More input never changes which of the old texts are chosen, only adds competitors.
    grown = stable_sample(rows + [(f"new {index}", "nuevo", "x") for index in range(50)], 10)
    assert {row for row in grown if row[0].startswith("sentence")} <= set(chosen)
    assert stable_sample(rows, 0) == rows
    manifest = _build(tmp_path, tmp_path / "small", sample=2)
    assert manifest["counts"] == {"handbook": 2, "descriptions": 2}
    assert manifest["report"]["handbook"]["not_sampled"] == 5


def test_only_evaluation_files_are_written(built):
    out, manifest = built
    assert sorted(path.name for path in out.iterdir()) == [
        "descriptions.tsv",
        "handbook.tsv",
        "manifest.json",
    ]
    assert "RESERVED FOR INDEPENDENT EVALUATION" in manifest["reserved"]
    assert manifest["notes"][0] == manifest["reserved"]
    assert load_manifest(out, verify=True)["corpus"] == "debian-docs-es"
    by_name = {source["name"]: source for source in manifest["sources"]}
    assert by_name["debian-handbook"]["version"] == "11.20220922"
    assert by_name["debian-handbook"]["license"] == ["GPL-2.0+ or CC-BY-SA-3.0"]
    assert by_name["Translation-es"]["version"] == "bookworm"
    assert len(by_name["Translation-en"]["sha256"]) == 64


def test_rebuilds_are_byte_identical(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    first, second = tmp_path / "first", tmp_path / "second"
    _build(tmp_path, first)
    _build(tmp_path, second)
    for name in ("handbook.tsv", "descriptions.tsv"):
        assert (first / name).read_bytes() == (second / name).read_bytes()
    a, b = (json.loads((folder / "manifest.json").read_text()) for folder in (first, second))
    assert a == b


def test_an_interrupted_build_leaves_the_folder_as_it_was(tmp_path, monkeypatch):
    out = tmp_path / "corpus"
    _build(tmp_path, out)
    before = {path.name: path.read_bytes() for path in out.iterdir()}
    original = debian_docs.write_rows

    def fail_on_second(path, rows):
        if path.name == "descriptions.tsv":
            raise KeyboardInterrupt
        return original(path, rows)

    monkeypatch.setattr(debian_docs, "write_rows", fail_on_second)
    with pytest.raises(KeyboardInterrupt):
        _build(tmp_path, out, overwrite=True, sample=1)
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before


def test_a_folder_the_command_did_not_create_is_refused(tmp_path):
    out = tmp_path / "notes"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    with pytest.raises(CorpusError, match="is not empty and holds no corpus") as error:
        _build(tmp_path, out)
    assert "handbook.tsv, descriptions.tsv, manifest.json" in str(error.value)
    assert "train.tsv" not in str(error.value)
    assert [path.name for path in out.iterdir()] == ["mine.txt"]
    corpus = tmp_path / "corpus"
    _build(tmp_path, corpus)
    with pytest.raises(CorpusError, match="already holds the corpus 'debian-docs-es'"):
        _build(tmp_path, corpus)
    _build(tmp_path, out, overwrite=True)
    assert (out / "mine.txt").read_text() == "keep me"


def _damaged(tmp_path: Path, name: str, content: bytes) -> Path:
    folder = _inputs(tmp_path / "damaged")
    for old in folder.glob("*Translation-es*"):
        old.unlink()
    (folder / name).write_bytes(content)
    return folder


@pytest.mark.parametrize(
    "name, content, message",
    [
        (
            "bookworm_main_i18n_Translation-es.xz",
            b"not xz at all",
            r"Translation-es\.xz cannot be read \(.*\); pass Debian's "
            r"bookworm_main_i18n_Translation-es file, plain or compressed with xz, bzip2 or gzip\.$",
        ),
        (
            "Translation-es",
            b"Package: cpio\nVersion: 1\n",
            r"holds no record with Description-md5 and Description-es; pass Debian's "
            r"Translation-es file from dists/<suite>/main/i18n/\.$",
        ),
    ],
)
def test_damaged_translation_files(tmp_path, name, content, message):
    folder = _damaged(tmp_path, name, content)
    with pytest.raises(CorpusError, match=message):
        build_debian_docs("es", from_dir=folder, out_dir=tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_error_texts(tmp_path):
    def fails(message, lang="es", **options):
        with pytest.raises(CorpusError, match=message):
            build_debian_docs(lang, out_dir=tmp_path / "out", progress=False, **options)
        assert not (tmp_path / "out").exists()

    inputs = _inputs(tmp_path / "inputs")
    fails(r"^--from missing is not a folder; pass a folder holding", from_dir="missing")
    fails(r"^--sample -1 is negative; pass a count of pairs, or 0 for all\.$", sample=-1)
    fails(r"^Language 'spanish!' is not a language code; use one like es, de", lang="spanish!")
    fails(
        r"holds no Debian's Translation-de file; get it with `kerattn data debian-docs`",
        lang="de",
        from_dir=inputs,
    )
    shutil.copy(FIXTURES / "Translation-es", inputs / "Translation-de")
    fails(
        r"^The Debian Administrator's Handbook has no de translation folders; use one of es-es\.$",
        lang="de",
        from_dir=inputs,
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    fails(r"holds no a debian-handbook_\*\.deb file", from_dir=empty)
    (inputs / HANDBOOK_DEB).write_bytes(b"garbage")
    fails(r"is not a Debian package \(no ar header\); pass \.deb files\.$", from_dir=inputs)


def test_downloads_are_named_from_apt_lists_and_cached(tmp_path, monkeypatch):
    lists = tmp_path / "lists"
    lists.mkdir()
    entries = [
        ("main/i18n/Translation-en.xz", "a" * 64, 10),
        ("main/i18n/Translation-es.bz2", "b" * 64, 20),
    ]
    (lists / "deb.debian.org_debian_dists_bookworm_InRelease").write_text(
        "Codename: bookworm\nSHA256:\n"
        + "".join(f" {sha} {size:>8} {path}\n" for path, sha, size in entries)
    )
    (lists / "deb.debian.org_debian_dists_bookworm-updates_InRelease").write_text("")
    inputs = _inputs(tmp_path / "inputs")
    asked = []

    def fetch(files, cache, progress=True):
        asked.extend(files)
        assert cache == tmp_path / "cache" / "debs"
        return [
            inputs / HANDBOOK_DEB,
            inputs / "bookworm_main_i18n_Translation-en.xz",
            inputs / "bookworm_main_i18n_Translation-es.bz2",
        ]

    handbook = PackageFile("debian-handbook", "http://x/h.deb", HANDBOOK_DEB, 1, "c" * 64)
    monkeypatch.setattr(debian_docs, "fetch_packages", fetch)
    monkeypatch.setattr(debian_docs, "_handbook_file", lambda: handbook)
    manifest = build_debian_docs(
        "es",
        out_dir=tmp_path / "out",
        progress=False,
        cache_dir=tmp_path / "cache",
        apt_lists=lists,
    )
    assert asked[0] == handbook
    assert [(file.url, file.file, file.size, file.sha256) for file in asked[1:]] == [
        (
            "http://deb.debian.org/debian/dists/bookworm/main/i18n/Translation-en.xz",
            "bookworm_main_i18n_Translation-en.xz",
            10,
            "a" * 64,
        ),
        (
            "http://deb.debian.org/debian/dists/bookworm/main/i18n/Translation-es.bz2",
            "bookworm_main_i18n_Translation-es.bz2",
            20,
            "b" * 64,
        ),
    ]
    assert manifest["counts"] == {"handbook": 7, "descriptions": 6}
    # The cached names are reserved: the localisation builder never reads them from the cache.
    assert all(is_reserved(file.file) for file in asked)
    with pytest.raises(CorpusError, match=r"lists no main/i18n/Translation-de file, so DDTP"):
        build_debian_docs("de", out_dir=tmp_path / "de", progress=False, apt_lists=lists)


def test_command_line_writes_the_evaluation_files(tmp_path, capsys):
    from kerattn_cli import main

    out = tmp_path / "cli"
    inputs = _inputs(tmp_path / "inputs")
    assert main(["data", "debian-docs", "--from", str(inputs), "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:3] for line in lines] == [
        ["debian-docs-es", "handbook", "7"],
        ["debian-docs-es", "descriptions", "6"],
    ]
    assert lines[0].endswith("handbook.tsv")
    assert main(["data", "debian-docs", "--from", str(inputs), "--out", str(out)]) == 2
    assert "already holds the corpus" in capsys.readouterr().err
