"""The software-localisation corpus: the human translations free software ships, English -> X.

`build_localisation(lang)` harvests, from Debian packages (`apt-get`'s archive, cached in the
user cache folder, or `--from DIR`):

- gettext `.mo` and Qt `.qm` catalogues of the ranked packages (`localisation_packages`), and
  any Mallard (`usr/share/help/{C,X}/`) or DocBook (`usr/share/doc/HTML/{en,X}/`) help they
  ship, aligned by document structure;
- LibreOffice help paragraphs and UI strings (`libreoffice.py`'s pairing);
- Chromium's `.pak` string tables (`en-GB.pak` against `X.pak`, by resource id);
- Firefox ESR and Thunderbird: `.ftl` / `.properties` messages of `omni.ja` (en-US) against
  the language pack, by (file, key);
- the GIMP user manual (HTML, by structure; the alphabetical index pages are skipped) and
  `gnome-user-docs` (Mallard).

Every pair goes through `localisation_cleaning.clean_pair`; the manifest's `report` counts
what each filter dropped and changed, and the rows per source, kind (ui, help, narrative) and
split. The split key is the package for catalogues (so a test package is never seen in
training), the document (page, `.ftl` file, block of Chromium resource ids) for the
single-package sources. `OOD_PACKAGES` are whole packages of each kind kept out of
train/valid/test as `test-ood.tsv` (their English texts found in the main corpus removed).

Reserved for independent evaluation and refused: the Debian Administrator's Handbook
(`debian-handbook*`) and DDTP's translated package descriptions (`Translation-*`).
"""

from __future__ import annotations

import collections
import dataclasses
import io
import os
import re
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from kerattn.data.corpus_error import CorpusError
from kerattn.data.corpus_row import CorpusRow
from kerattn.data.corpus_writer import check_out_dir, write_corpus
from kerattn.data.help_pages import align_blocks, read_blocks
from kerattn.data.localisation_cleaning import CleaningReport, clean_pair
from kerattn.data.localisation_deb import DebContents, read_deb
from kerattn.data.localisation_download import (
    cache_folder,
    check_not_reserved,
    fetch_packages,
    is_reserved,
    resolve_packages,
    within_budget,
)
from kerattn.data.localisation_formats import (
    pair_by_key,
    read_ftl,
    read_pak,
    read_properties,
    read_qm,
)
from kerattn.data.localisation_packages import RANKED_PACKAGES
from kerattn.data.mo_catalog import read_mo
from kerattn.data.splits import SplitRule

KINDS = ("ui", "help", "narrative")
OOD_FILE = "test-ood.tsv"
# Whole packages kept out of train/valid/test, one small set per kind, as an out-of-domain test.
OOD_PACKAGES = {
    "filezilla-common": "ui",
    "pidgin-data": "ui",
    "gnome-user-docs": "help",
    "wesnoth-1.16-nr": "narrative",
    "wesnoth-1.16-did": "narrative",
}
_LANGUAGE = re.compile(r"^([a-z]{2,3})(?:[-_]([a-z]{2}))?$", re.IGNORECASE)
_NARRATIVE = re.compile(r"^wesnoth-1\.\d+-(?!data$|music$|core$|tools$)")


@dataclasses.dataclass(frozen=True)
class Language:
    """The spellings of one target language in the places it is needed."""

    code: str  # es, pt-br
    locale_dirs: tuple[str, ...]  # gettext folders: es, es_ES
    help_dir: str  # usr/share/help/<help_dir>: es, pt_BR
    chromium: str  # es, pt-BR
    mozilla: str  # Debian l10n package suffix and langpack locale: es-es / es-ES
    libreoffice: str  # libreoffice suffix: es, pt-br


def language(lang: str) -> Language:
    """Resolve a language code (es, fr, de, it, pt-br) to its spellings.

    Raises:
        CorpusError: if `lang` is not a language code.
    """
    match = _LANGUAGE.match(lang.strip())
    if not match:
        raise CorpusError(
            f"Language {lang!r} is not a language code; use one like es, fr, de, it or pt-br."
        )
    base, region = match.group(1).lower(), (match.group(2) or "").upper()
    if region:
        return Language(
            f"{base}-{region.lower()}",
            (f"{base}_{region}",),
            f"{base}_{region}",
            f"{base}-{region}",
            f"{base}-{region.lower()}",
            f"{base}-{region.lower()}",
        )
    mozilla = {"es": "es-es", "pt": "pt-pt"}.get(base, base)
    return Language(base, (base, f"{base}_{base.upper()}"), base, base, mozilla, base)


@dataclasses.dataclass(frozen=True)
class Source:
    """One source of pairs: the packages it needs, its kind and the function that reads them."""

    name: str
    packages: tuple[str, ...]
    kind: str
    extract: Callable[..., Iterator[CorpusRow]]


def _pairs_of(
    name: str,
    kind: str,
    pairs,
    report: CleaningReport,
    lang: str,
    *,
    key: str,
    ui: bool,
    tilde: bool = False,
) -> Iterator[CorpusRow]:
    for origin, source, target in pairs:
        cleaned = clean_pair(source, target, report, lang=lang, ui=ui, tilde=tilde)
        if cleaned is not None:
            row_key = key if key else f"{name}/{origin}"
            yield CorpusRow(cleaned[0], cleaned[1], f"{kind}/{name}/{origin}", row_key)


def _catalogue_regexes(target: Language) -> tuple[re.Pattern, re.Pattern]:
    dirs = "|".join(re.escape(name) for name in target.locale_dirs)
    mo = re.compile(rf"(?:^|/)(?:{dirs})(?:\.[\w-]+)?/LC_MESSAGES/[^/]+\.mo$")
    suffixes = "|".join(
        re.escape(name) for name in {*target.locale_dirs, target.mozilla.replace("_", "-")}
    )
    qm = re.compile(rf"(?:^|[/_.-])(?:{suffixes})\.qm$", re.IGNORECASE)
    return mo, qm


def _help_regex(target: Language) -> re.Pattern:
    return re.compile(
        rf"^usr/share/(?:help/(?:C|{re.escape(target.help_dir)})/[^/]+/.+\.page"
        rf"|doc/HTML/(?:en|{re.escape(target.help_dir)})/.+\.docbook)$"
    )


def _catalogue_source(package: str) -> Source:
    kind = "narrative" if _NARRATIVE.match(package) else "ui"
    return Source(package, (package,), kind, _extract_catalogues)


def _extract_catalogues(
    source: Source, contents: list[DebContents], target: Language, report: CleaningReport
) -> Iterator[CorpusRow]:
    mo, qm = _catalogue_regexes(target)
    for deb in contents:
        for path in sorted(deb.files):
            if is_reserved(path) or "debian-handbook" in path:
                report.dropped["reserved"] += 1
                continue
            if mo.search(path):
                entries = read_mo(deb.files[path], name=path)
            elif qm.search(path):
                entries = read_qm(deb.files[path], name=path)
            else:
                continue
            origin = os.path.basename(path)
            pairs = ((origin, entry.msgid, entry.msgstr) for entry in entries)
            yield from _pairs_of(
                source.name,
                source.kind,
                pairs,
                report,
                target.code,
                key=source.name,
                ui=source.kind == "ui",
            )
        yield from _extract_help_documents(source, [deb], target, report, key_by_package=True)


def _extract_help_documents(
    source: Source,
    contents: list[DebContents],
    target: Language,
    report: CleaningReport,
    key_by_package: bool = False,
) -> Iterator[CorpusRow]:
    """Mallard and DocBook help documents in the packages: English page vs translated page."""
    files: dict[str, bytes] = {}
    for deb in contents:
        files.update(deb.files)
    pattern = _help_regex(target)
    english = re.compile(r"^usr/share/(help/C|doc/HTML/en)/")
    for path in sorted(files):
        if not pattern.match(path) or not english.match(path):
            continue
        translated = re.sub(r"^usr/share/help/C/", f"usr/share/help/{target.help_dir}/", path)
        translated = re.sub(
            r"^usr/share/doc/HTML/en/", f"usr/share/doc/HTML/{target.help_dir}/", translated
        )
        if translated not in files:
            continue
        pairs, unaligned = align_blocks(
            read_blocks(files[path].decode("utf-8", "replace")),
            read_blocks(files[translated].decode("utf-8", "replace")),
        )
        report.dropped["help_unaligned"] += unaligned
        document = re.sub(r"^usr/share/(help/C|doc/HTML/en)/", "", path)
        yield from _pairs_of(
            source.name,
            "help",
            ((document, english_text, text) for english_text, text in pairs),
            report,
            target.code,
            key=source.name if key_by_package else f"{source.name}/{document}",
            ui=False,
        )


def _extract_gimp_help(
    source: Source, contents: list[DebContents], target: Language, report: CleaningReport
) -> Iterator[CorpusRow]:
    files: dict[str, bytes] = {}
    for deb in contents:
        files.update(deb.files)
    root = "usr/share/gimp/2.0/help/"
    for path in sorted(files):
        if not path.startswith(root + "en/") or not path.endswith(".html"):
            continue
        page = path[len(root + "en/") :]
        if re.match(r"(?:ix\d+|index|go\d+)\.html$", os.path.basename(page)):
            continue  # the alphabetical index and glossary lists: terms, not sentences
        translated = f"{root}{target.help_dir}/{page}"
        if translated not in files:
            continue
        pairs, unaligned = align_blocks(
            read_blocks(files[path].decode("utf-8", "replace")),
            read_blocks(files[translated].decode("utf-8", "replace")),
        )
        report.dropped["help_unaligned"] += unaligned
        yield from _pairs_of(
            source.name,
            "help",
            ((page, a, b) for a, b in pairs),
            report,
            target.code,
            key=f"{source.name}/{page}",
            ui=False,
        )


def _extract_chromium(
    source: Source, contents: list[DebContents], target: Language, report: CleaningReport
) -> Iterator[CorpusRow]:
    files = {os.path.basename(path): data for deb in contents for path, data in deb.files.items()}
    english, translated = files.get("en-GB.pak"), files.get(f"{target.chromium}.pak")
    if english is None or translated is None:
        return
    pairs, unpaired = pair_by_key(
        read_pak(english, "en-GB.pak"), read_pak(translated, f"{target.chromium}.pak")
    )
    report.dropped["unpaired"] += unpaired
    for resource, source_text, target_text in pairs:
        block = f"ids-{int(resource) // 100 * 100}"
        yield from _pairs_of(
            source.name,
            "ui",
            [(block, source_text, target_text)],
            report,
            target.code,
            key=f"{source.name}/{block}",
            ui=True,
        )


def _mozilla_messages(archive: bytes, locale: str) -> dict[str, dict[str, str]]:
    """Messages of the .ftl / .properties files in a jar/xpi, by file path without the locale."""
    result: dict[str, dict[str, str]] = {}
    with zipfile.ZipFile(io.BytesIO(archive)) as jar:
        for name in sorted(jar.namelist()):
            if not name.endswith((".ftl", ".properties")) or f"{locale}/" not in name:
                continue
            relative = name.split(f"{locale}/")[-1]
            kind = "ftl" if name.endswith(".ftl") else "properties"
            text = jar.read(name).decode("utf-8", "replace")
            result[f"{kind}/{relative}"] = (
                read_ftl(text) if kind == "ftl" else read_properties(text)
            )
    return result


def _extract_mozilla(
    source: Source, contents: list[DebContents], target: Language, report: CleaningReport
) -> Iterator[CorpusRow]:
    english: dict[str, dict[str, str]] = {}
    translated: dict[str, dict[str, str]] = {}
    langpack_locale = target.mozilla[:2] + target.mozilla[2:].upper()
    for deb in contents:
        for path in sorted(deb.files):
            if path.endswith("omni.ja"):
                for name, messages in _mozilla_messages(deb.files[path], "en-US").items():
                    english.setdefault(name, {}).update(messages)
            elif path.endswith(".xpi") and "langpack" in path:
                for name, messages in _mozilla_messages(deb.files[path], langpack_locale).items():
                    translated.setdefault(name, {}).update(messages)
    for name in sorted(english):
        pairs, unpaired = pair_by_key(english[name], translated.get(name, {}))
        report.dropped["unpaired"] += unpaired
        yield from _pairs_of(
            source.name,
            "ui",
            ((name, a, b) for _, a, b in pairs),
            report,
            target.code,
            key=f"{source.name}/{name}",
            ui=True,
        )


def _extract_libreoffice(
    source: Source, contents: list[DebContents], target: Language, report: CleaningReport
) -> Iterator[CorpusRow]:
    from kerattn.data import libreoffice

    help_folder, catalog_folder, _ = libreoffice._language_parts(target.libreoffice)
    with tempfile.TemporaryDirectory(prefix="kerattn-localisation-") as work:
        root = Path(work)
        for deb in contents:
            for path, data in deb.files.items():
                destination = root / path
                destination.parent.mkdir(parents=True, exist_ok=True)
                destination.write_bytes(data)
        dropped: collections.Counter = collections.Counter()
        rows = [
            *libreoffice._help_rows(root, help_folder, dropped),
            *libreoffice._ui_rows(root, catalog_folder, dropped),
        ]
        report.dropped["unpaired"] += dropped["unpaired"]
    for row in rows:
        kind = "help" if row.origin.startswith("help/") else "ui"
        cleaned = clean_pair(row.source, row.target, report, lang=target.code, ui=False)
        if cleaned is not None:
            # The split key is `kerattn data libreoffice`'s (a help page's path, a UI string's
            # English text): LibreOffice's held-out rows are then translator_en_es v1's, less
            # the texts this corpus has in training elsewhere, so v1 and its successors are
            # compared on LibreOffice text that neither was trained on.
            yield CorpusRow(cleaned[0], cleaned[1], f"{kind}/libreoffice/{row.origin}", row.key)


def _keep_for(source: Source, target: Language) -> Callable[[str], bool]:
    """Which files of the source's packages to read."""
    if source.extract is _extract_libreoffice:
        from kerattn.data.libreoffice import _language_parts

        help_root = "usr/share/libreoffice/help/"
        help_folder, catalog_folder, _ = _language_parts(target.libreoffice)
        return lambda path: (
            (
                (
                    path.startswith(help_root + "en-US/text/")
                    or path.startswith(help_root + help_folder + "/text/")
                )
                and path.endswith(".html")
            )
            or f"/program/resource/{catalog_folder}/LC_MESSAGES/" in path
        )
    if source.extract is _extract_chromium:
        return lambda path: path.endswith(("/en-GB.pak", f"/{target.chromium}.pak"))
    if source.extract is _extract_mozilla:
        return lambda path: (
            path.endswith("omni.ja") or (path.endswith(".xpi") and "langpack" in path)
        )
    if source.extract is _extract_gimp_help:
        return lambda path: path.startswith("usr/share/gimp/2.0/help/") and path.endswith(".html")
    mo, qm = _catalogue_regexes(target)
    help_pattern = _help_regex(target)
    return lambda path: bool(mo.search(path) or qm.search(path) or help_pattern.match(path))


def localisation_sources(lang: str = "es", packages: int | None = None) -> list[Source]:
    """The sources of the corpus in the order they are taken (and a budget cuts):
    LibreOffice, Chromium, gnome-user-docs, then the ranked catalogue packages (the first
    `packages` of them, default all), then Firefox ESR, Thunderbird and the GIMP manual."""
    target = language(lang)
    if packages is not None and packages < 0:
        raise CorpusError(
            f"--packages {packages} is negative; pass a count from 0 up to {len(RANKED_PACKAGES)}."
        )
    ranked = RANKED_PACKAGES[: packages if packages is not None else len(RANKED_PACKAGES)]
    return [
        Source(
            "libreoffice",
            (
                "libreoffice-help-en-us",
                f"libreoffice-help-{target.libreoffice}",
                f"libreoffice-l10n-{target.libreoffice}",
            ),
            "ui",
            _extract_libreoffice,
        ),
        Source("chromium", ("chromium-l10n",), "ui", _extract_chromium),
        Source(
            "gnome-user-docs",
            ("gnome-user-docs",),
            "help",
            lambda *args: _extract_help_documents(*args),
        ),
        *[_catalogue_source(package) for package in ranked],
        Source(
            "firefox-esr",
            ("firefox-esr", f"firefox-esr-l10n-{target.mozilla}"),
            "ui",
            _extract_mozilla,
        ),
        Source(
            "thunderbird",
            ("thunderbird", f"thunderbird-l10n-{target.mozilla}"),
            "ui",
            _extract_mozilla,
        ),
        Source(
            "gimp-help",
            ("gimp-help-en", f"gimp-help-{target.help_dir}"),
            "help",
            _extract_gimp_help,
        ),
    ]


def build_localisation(
    lang: str = "es",
    *,
    from_dir: str | os.PathLike | None = None,
    out_dir: str | os.PathLike | None = None,
    packages: int | None = None,
    budget_mb: float | None = None,
    extra_packages: Sequence[str] = (),
    test_fraction: float = 0.05,
    valid_fraction: float = 0.05,
    overwrite: bool = False,
    progress: bool = True,
    cache_dir: str | os.PathLike | None = None,
    sources: Sequence[Source] | None = None,
) -> dict:
    """Build the English -> `lang` software-localisation corpus (see the module docstring).

    Args:
        lang: target language: es, fr, de, it, pt-br.
        from_dir: a folder of .deb files (such as the download cache) for an offline build; the
            selected packages found there are used and the others listed in the manifest as
            missing. Without it, packages are downloaded into the cache (resumable).
        out_dir: output folder; default `corpora/localisation-<lang>`.
        packages: how many of the ranked catalogue packages to take (default all 311).
        budget_mb: the most megabytes of .deb files to use, sources taken in order until the
            next would pass it.
        extra_packages: further Debian packages whose catalogues and help to harvest.
        test_fraction: share of hash buckets for test.
        valid_fraction: share of hash buckets for valid.
        overwrite: whether an `out_dir` that is not empty may receive the corpus files.
        progress: show download and extraction progress bars on standard error.
        cache_dir: where downloads are kept (default the user cache folder, `kerattn/debs`).
        sources: the sources to use instead of `localisation_sources(lang, packages)`.

    Returns:
        The manifest written to `out_dir/manifest.json`.

    Raises:
        CorpusError: on a bad language, budget or package count, a reserved package, an
            `out_dir` that may not be written, a failed download or no package found.
    """
    target = language(lang)
    corpus = f"localisation-{target.code}"
    out_dir = Path(out_dir) if out_dir is not None else Path("corpora") / corpus
    check_out_dir(out_dir, overwrite, [OOD_FILE])
    if budget_mb is not None and budget_mb <= 0:
        raise CorpusError(
            f"--budget-mb {budget_mb:g} is not positive; pass a size in megabytes such as 1100."
        )
    check_not_reserved(extra_packages)
    rule = SplitRule(test_fraction=test_fraction, valid_fraction=valid_fraction)
    chosen = list(sources) if sources is not None else localisation_sources(lang, packages)
    chosen += [
        _catalogue_source(name)
        for name in extra_packages
        if name not in {source.name for source in chosen}
    ]
    for source in chosen:
        check_not_reserved(source.packages)
    debs, descriptions, missing, skipped = _locate(chosen, from_dir, budget_mb, cache_dir, progress)
    report = CleaningReport()
    rows: list[CorpusRow] = []
    per_source: dict[str, int] = {}
    taken = [source for source in chosen if all(package in debs for package in source.packages)]
    if not taken:
        raise CorpusError(
            "None of the selected packages was found"
            + (f" in {from_dir}" if from_dir else "")
            + "; pass --from a folder holding their .deb files (named <package>_<version>_"
            "<arch>.deb), or build without --from to download them."
        )
    bar = _progress(sum(debs[p].stat().st_size for s in taken for p in s.packages), progress)
    for source in taken:
        keep = _keep_for(source, target)
        contents = []
        for package in source.packages:
            contents.append(read_deb(debs[package], keep))
            bar.update(debs[package].stat().st_size)
        before = len(rows)
        rows.extend(source.extract(source, contents, target, report))
        per_source[source.name] = len(rows) - before
        for package, deb in zip(source.packages, contents):
            descriptions[package].update(
                license=deb.licenses(), kind=source.kind, source=source.name
            )
    bar.close()
    main_rows = [row for row in rows if row.origin.split("/")[1] not in OOD_PACKAGES]
    ood_rows, ood_dropped = _out_of_domain(rows, {row.source for row in main_rows})

    def summarize(by_split: dict[str, list[CorpusRow]]) -> dict:
        return _summary(by_split, ood_rows, per_source, report, ood_dropped)

    manifest = write_corpus(
        main_rows,
        out_dir,
        corpus=corpus,
        kind="translation",
        columns=["source", "target", "origin"],
        rule=rule,
        key_description=(
            "catalogue packages: the Debian package name; LibreOffice: the libreoffice "
            "corpus's keys (a help page's path, a UI string's English text); help manuals: <source>/<page>; Firefox/Thunderbird: "
            "<source>/<ftl|properties>/<file>; Chromium: chromium/ids-<resource id // 100 * 100>"
        ),
        sources=[descriptions[name] for name in sorted(descriptions)],
        licenses=sorted(
            {
                license_name
                for description in descriptions.values()
                for license_name in description.get("license", [])
            }
        ),
        options={
            "lang": target.code,
            "from_dir": os.fspath(from_dir) if from_dir else None,
            "packages": packages,
            "budget_mb": budget_mb,
            "extra_packages": list(extra_packages),
            "test_fraction": test_fraction,
            "valid_fraction": valid_fraction,
            "missing_packages": missing,
            "over_budget_packages": skipped,
        },
        dropped=dict(report.dropped),
        overwrite=overwrite,
        extra_files={OOD_FILE: ood_rows},
        report=summarize,
        notes=[
            "origin column: <kind>/<source>/<catalogue, page or file>; kind is ui, help or "
            "narrative.",
            f"{OOD_FILE}: whole packages held out of train/valid/test ("
            + ", ".join(f"{name} ({kind})" for name, kind in sorted(OOD_PACKAGES.items()))
            + "), without English texts found in the main corpus.",
            "Reserved for independent evaluation and never read: debian-handbook*, DDTP "
            "Translation-* files.",
            "Cleaning: see kerattn/data/localisation_cleaning.py; `report` counts each step.",
        ],
    )
    return manifest


def _out_of_domain(rows: list[CorpusRow], main_sources: set[str]):
    """The rows of `OOD_PACKAGES` whose English text the main corpus lacks, deduplicated."""
    dropped = collections.Counter({"ood_overlap": 0, "ood_duplicates": 0})
    seen: set[tuple[str, str]] = set()
    kept = []
    for row in rows:
        if row.origin.split("/")[1] not in OOD_PACKAGES:
            continue
        if row.source in main_sources:
            dropped["ood_overlap"] += 1
        elif (row.source, row.target) in seen:
            dropped["ood_duplicates"] += 1
        else:
            seen.add((row.source, row.target))
            kept.append((row.source, row.target, row.origin))
    return kept, dict(dropped)


def _summary(splits, ood_rows, per_source, report: CleaningReport, ood_dropped) -> dict:
    by_kind: dict[str, dict[str, int]] = {kind: {} for kind in KINDS}
    by_source: dict[str, dict[str, int]] = {}
    words = {}
    for split, split_rows in [*splits.items(), ("test-ood", None)]:
        origins = (
            [row.origin for row in split_rows]
            if split_rows is not None
            else [origin for _, _, origin in ood_rows]
        )
        sources_text = (
            [row.source for row in split_rows]
            if split_rows is not None
            else [source for source, _, _ in ood_rows]
        )
        words[split] = sum(len(text.split()) for text in sources_text)
        for origin in origins:
            kind, name = origin.split("/")[:2]
            by_kind[kind][split] = by_kind[kind].get(split, 0) + 1
            by_source.setdefault(name, {})
            by_source[name][split] = by_source[name].get(split, 0) + 1
    return {
        "rows_per_kind": by_kind,
        "rows_per_source": dict(sorted(by_source.items())),
        "english_words_per_split": words,
        "cleaned_pairs_per_source": per_source,
        "filter_dropped": dict(sorted(report.dropped.items())),
        "filter_changed": dict(sorted(report.changed.items())),
        "ood_dropped": dict(ood_dropped),
    }


def _locate(sources: Sequence[Source], from_dir, budget_mb, cache_dir, progress):
    """Find or download the .deb of every package; returns (paths, descriptions, missing,
    over budget)."""
    names = [package for source in sources for package in source.packages]
    names = list(dict.fromkeys(names))
    budget = int(budget_mb * 1e6) if budget_mb is not None else None
    if from_dir is not None:
        folder = Path(from_dir)
        if not folder.is_dir():
            raise CorpusError(
                f"--from {folder} is not a folder; pass a folder holding the .deb "
                "files (the download cache is one)."
            )
        found, missing = {}, []
        for name in names:
            matches = sorted(
                path for path in folder.glob(f"{name}_*.deb") if not is_reserved(path.name)
            )
            if matches:
                found[name] = matches[-1]
            else:
                missing.append(name)
        sizes = [(name, found[name].stat().st_size) for name in names if name in found]
        paths, skipped, total = {}, [], 0
        for name, size in sizes:
            if budget is not None and (skipped or total + size > budget):
                skipped.append(name)
                continue
            paths[name] = found[name]
            total += size
    else:
        files, missing = resolve_packages(names)
        taken, over = within_budget(files, budget)
        skipped = [package_file.package for package_file in over]
        cache = cache_folder(cache_dir)
        fetched = fetch_packages(taken, cache, progress=progress)
        paths = {package_file.package: path for package_file, path in zip(taken, fetched)}
    from kerattn.data.manifest import sha256_of

    descriptions = {}
    for name, path in paths.items():
        parts = path.name[: -len(".deb")].split("_")
        descriptions[name] = {
            "package": name,
            "version": parts[1].replace("%3a", ":") if len(parts) > 1 else "unknown",
            "file": path.name,
            "size": path.stat().st_size,
            "sha256": sha256_of(path),
        }
    return paths, descriptions, missing, skipped


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, enabled: bool):
    if not enabled:
        return _NoBar()
    try:
        from tqdm import tqdm
    except ImportError:
        return _NoBar()
    return tqdm(
        total=total,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc="reading packages",
        dynamic_ncols=True,
    )
