"""The LibreOffice English -> X corpus: help paragraphs and UI strings from Debian packages."""

from __future__ import annotations

import os
import re
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from kerattn.data.corpus_error import CorpusError
from kerattn.data.corpus_row import CorpusRow
from kerattn.data.corpus_writer import check_out_dir, write_corpus
from kerattn.data.debian_packages import (
    deb_description,
    download_packages,
    extract_deb,
    find_deb,
    tree_description,
)
from kerattn.data.help_pages import pair_key, read_help_paragraphs
from kerattn.data.mo_catalog import read_mo
from kerattn.data.splits import SplitRule
from kerattn.data.text_cleaning import strip_accelerators, strip_mnemonics

_LANGUAGE = re.compile(r"^([a-z]{2,3})(?:[-_]([a-z]{2}))?$", re.IGNORECASE)
_HELP_ROOT = Path("usr/share/libreoffice/help")
_SOURCE_HELP_FOLDER = "en-US"
_LICENSE = (
    "MPL-2.0 (LibreOffice help and UI translations, as stated in the packages' copyright files)"
)


def libreoffice_packages(lang: str) -> list[str]:
    """Return the Debian packages the corpus for `lang` needs (English help, X help, X UI)."""
    suffix = _language_parts(lang)[2]
    return ["libreoffice-help-en-us", f"libreoffice-help-{suffix}", f"libreoffice-l10n-{suffix}"]


def build_libreoffice(
    lang: str = "es",
    *,
    from_dir: str | os.PathLike | None = None,
    out_dir: str | os.PathLike | None = None,
    test_fraction: float = 0.05,
    valid_fraction: float = 0.05,
    overwrite: bool = False,
) -> dict:
    """Build the English -> `lang` LibreOffice corpus: help paragraphs plus UI strings.

    Help paragraphs are paired by help file path plus the paragraph's `id` (`par_id…`,
    `hd_id…`; the n-th occurrence of a repeated id pairs with the n-th) across
    `usr/share/libreoffice/help/en-US/text/**.html` and `…/<LANG>/text/**.html`. UI strings come
    from the gettext catalogs in `program/resource/<LANG>/LC_MESSAGES/*.mo` (msgid -> msgstr;
    `pt_BR` style folder names for regional variants),
    without `~` accelerators and, for `.ui` dialog strings, `_` mnemonics.

    Texts are cleaned (markup, entities, whitespace); pairs that are empty or untranslated
    (target == source) are dropped, then duplicates (see `assign_splits`). The split key of a
    help paragraph is its help file path (`text/…/page.html`), so a test page is never partly in
    training; the key of a UI string is its English text. The `origin` column is
    `help/<path>` or `ui/<catalog>`.

    Args:
        lang: target language: es, fr, de, it, pt-br, ... (Debian's package suffix).
        from_dir: a folder holding the three .deb files, or the root of trees already extracted
            with `dpkg-deb -x`; without it, the packages are fetched with `apt-get download`.
        out_dir: output folder; default `corpora/libreoffice-en-<lang>`.
        test_fraction: share of hash buckets for test.
        valid_fraction: share of hash buckets for valid.
        overwrite: whether an `out_dir` that is not empty may receive the corpus files: a
            previous corpus there is rebuilt, other files stay (see `corpus_writer`).

    Returns:
        The manifest written to `out_dir/manifest.json`.

    Raises:
        CorpusError: on a bad language code, missing tools, packages or files, or an
            `out_dir` that is a file or a folder that is not empty, without `overwrite`.
    """
    help_folder, catalog_folder, suffix = _language_parts(lang)
    corpus = f"libreoffice-en-{suffix}"
    out_dir = Path(out_dir) if out_dir is not None else Path("corpora") / corpus
    check_out_dir(out_dir, overwrite)
    rule = SplitRule(test_fraction=test_fraction, valid_fraction=valid_fraction)
    packages = libreoffice_packages(lang)
    with tempfile.TemporaryDirectory(prefix="kerattn-libreoffice-") as work:
        root, sources = _package_root(packages, Path(from_dir) if from_dir else None, Path(work))
        dropped: Counter = Counter({"untranslated": 0, "unpaired": 0})
        kept = []
        for row in [
            *_help_rows(root, help_folder, dropped),
            *_ui_rows(root, catalog_folder, dropped),
        ]:
            if not row.source or not row.target:
                dropped["empty"] += 1
            elif row.source == row.target:
                dropped["untranslated"] += 1
            else:
                kept.append(row)
        return write_corpus(
            kept,
            out_dir,
            corpus=corpus,
            kind="translation",
            columns=["source", "target", "origin"],
            rule=rule,
            key_description=(
                "help paragraphs: the help file path relative to the language folder "
                "(text/.../page.html); UI strings: the English text"
            ),
            sources=sources,
            licenses=[_LICENSE],
            options={
                "lang": lang,
                "from_dir": os.fspath(from_dir) if from_dir else None,
                "test_fraction": test_fraction,
                "valid_fraction": valid_fraction,
            },
            dropped=dict(dropped),
            overwrite=overwrite,
            notes=[
                "Help paragraphs are paired by (help file path, paragraph id, occurrence of "
                "that id); hidden platform alternatives are dropped except the default one.",
                "UI strings: ~ accelerators and (for .ui dialog strings) _ mnemonics removed.",
                "Pairs with target == source (untranslated) are dropped.",
            ],
        )


def _language_parts(lang: str) -> tuple[str, str, str]:
    """Return (help folder, UI catalog folder, Debian package suffix) for a language code.

    Regional variants differ per place: help folder `pt-BR`, gettext folder `pt_BR`, package
    suffix `pt-br`.
    """
    match = _LANGUAGE.match(lang.strip())
    if not match:
        raise CorpusError(
            f"Language {lang!r} is not a language code; use one like es, fr, de, it or pt-br."
        )
    base, region = match.group(1).lower(), match.group(2)
    if region:
        return f"{base}-{region.upper()}", f"{base}_{region.upper()}", f"{base}-{region.lower()}"
    return base, base, base


def _package_root(
    packages: list[str], from_dir: Path | None, work: Path
) -> tuple[Path, list[dict]]:
    """Return the folder the packages are extracted under and their manifest descriptions."""
    if from_dir is not None:
        if not from_dir.is_dir():
            raise CorpusError(
                f"--from {from_dir} is not a folder; pass a folder with the .deb "
                "files or the extracted package trees."
            )
        debs = {package: sorted(from_dir.glob(f"{package}_*.deb")) for package in packages}
        if not any(debs.values()):
            if not (from_dir / _HELP_ROOT).is_dir():
                raise CorpusError(
                    f"--from {from_dir} holds neither .deb files of {', '.join(packages)} nor an "
                    f"extracted tree with {_HELP_ROOT}; pass the folder given to `dpkg-deb -x`."
                )
            return from_dir, [tree_description(from_dir, package) for package in packages]
        deb_paths = [find_deb(from_dir, package) for package in packages]
    else:
        download_folder = work / "debs"
        download_folder.mkdir()
        deb_paths = download_packages(packages, download_folder)
    root = work / "root"
    root.mkdir()
    for deb in deb_paths:
        extract_deb(deb, root)
    return root, [deb_description(deb) for deb in deb_paths]


def _help_rows(root: Path, help_folder: str, dropped: Counter) -> Iterator[CorpusRow]:
    source_root = root / _HELP_ROOT / _SOURCE_HELP_FOLDER
    target_root = root / _HELP_ROOT / help_folder
    for folder in (source_root, target_root):
        if not (folder / "text").is_dir():
            raise CorpusError(
                f"Help folder {folder / 'text'} is missing; check that the help "
                "packages for both languages were extracted there."
            )
    for source_page in sorted((source_root / "text").rglob("*.html")):
        relative = source_page.relative_to(source_root).as_posix()
        source_paragraphs = pair_key(read_help_paragraphs(source_page))
        target_page = target_root / relative
        if not target_page.is_file():
            dropped["unpaired"] += len(source_paragraphs)
            continue
        target_paragraphs = pair_key(read_help_paragraphs(target_page))
        for paragraph_key, source_text in source_paragraphs.items():
            target_text = target_paragraphs.get(paragraph_key)
            if target_text is None:
                dropped["unpaired"] += 1
                continue
            yield CorpusRow(source_text, target_text, f"help/{relative}", relative)


def _ui_rows(root: Path, resource_folder: str, dropped: Counter) -> Iterator[CorpusRow]:
    catalog_folders = sorted(root.glob(f"**/program/resource/{resource_folder}/LC_MESSAGES"))
    if not catalog_folders:
        raise CorpusError(
            f"No program/resource/{resource_folder}/LC_MESSAGES folder under {root}; check that "
            "the libreoffice-l10n package was extracted there."
        )
    for catalog in sorted(catalog_folders[0].glob("*.mo")):
        for entry in read_mo(catalog):
            if "|" in entry.context and "|extended_tip|" not in entry.context:
                source, target = strip_mnemonics(entry.msgid), strip_mnemonics(entry.msgstr)
            else:
                source, target = entry.msgid, entry.msgstr
            source, target = strip_accelerators(source), strip_accelerators(target)
            yield CorpusRow(source, target, f"ui/{catalog.stem}", source)
