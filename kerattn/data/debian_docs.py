"""Debian documentation, English -> X: an evaluation set reserved for independent checks.

`build_debian_docs(lang)` pairs the two sources the project reserves for independent evaluation,
which no training corpus may contain (`localisation_download.RESERVED_PATTERNS`):

- the Debian Administrator's Handbook (package `debian-handbook`: Publican HTML, one page per
  chapter or section, under `usr/share/doc/debian-handbook/html/<en-US|es-ES|...>/`): each
  English page is aligned with its translation by document structure
  (`help_pages.align_blocks`; Publican's paragraphs are `<div class="para">`, its page
  navigation is left out), section numbers such as `8.4.3.` are removed when both sides have
  the same one;
- Debian's translated package descriptions (DDTP: `dists/<suite>/main/i18n/Translation-en`
  and `Translation-<lang>`), paired by `Description-md5`: the short description (first line)
  and, where both have as many paragraphs, each paragraph of the long description.

Both go through `localisation_cleaning.clean_pair` (help text: accelerators kept), then exact
duplicates of an English text are dropped, then a fixed number of pairs per source is chosen by
a stable hash of the English text (`sample`), so a rebuild gives the same set.

**Evaluation files only.** The folder gets `handbook.tsv`, `descriptions.tsv`
(`source<TAB>target<TAB>origin`, what `kerattn evaluate --data` reads) and `manifest.json`,
and never a `train.tsv` or `valid.tsv`: no recipe can train, tune or select on this data.
"""

from __future__ import annotations

import bz2
import collections
import gzip
import hashlib
import lzma
import os
import re
import subprocess
import sys
from pathlib import Path

from kerattn.atomic_files import remove_stale_temporaries, staged_files
from kerattn.data.corpus_error import CorpusError
from kerattn.data.corpus_writer import check_out_dir, remove_files_of_previous_build
from kerattn.data.debian_packages import require_tool
from kerattn.data.help_pages import BlockParser, align_blocks
from kerattn.data.localisation_cleaning import CleaningReport, clean_pair
from kerattn.data.localisation_deb import control_fields, read_deb
from kerattn.data.localisation_download import (
    PackageFile,
    cache_folder,
    fetch_packages,
    print_uris_files,
)
from kerattn.data.manifest import MANIFEST_NAME, build_manifest, sha256_of, write_manifest
from kerattn.data.text_cleaning import normalize_whitespace
from kerattn.data.tsv import write_rows

HANDBOOK_FILE = "handbook.tsv"
DESCRIPTIONS_FILE = "descriptions.tsv"
EVALUATION_FILES = (HANDBOOK_FILE, DESCRIPTIONS_FILE)
HANDBOOK_PACKAGE = "debian-handbook"
RESERVED_NOTE = (
    "RESERVED FOR INDEPENDENT EVALUATION: the Debian Administrator's Handbook and DDTP's "
    "translated package descriptions are never used for training, tuning or selection "
    "(docs/data/debian-docs.md). This folder holds evaluation files only (no train.tsv or "
    "valid.tsv); evaluate a finished model on it with `kerattn evaluate <model> --data "
    "<folder>/handbook.tsv` (or descriptions.tsv) and report the number, nothing more."
)
_HANDBOOK_ROOT = "usr/share/doc/debian-handbook/html/"
_HANDBOOK_ENGLISH = "en-US"
_LANGUAGE = re.compile(r"^([a-z]{2,3})(?:[-_]([a-z]{2}))?$", re.IGNORECASE)
_SECTION_NUMBER = re.compile(r"^(?:[A-Z]|\d+)(?:\.\d+)*\.\s+")
_SUITE_LIST = re.compile(r"^(?P<site>.+)_dists_(?P<suite>[a-z]+)_InRelease$")
_RELEASE_ENTRY = re.compile(r"^\s*([0-9a-f]{64})\s+(\d+)\s+(\S+)\s*$")
_COMPRESSIONS = {".xz": lzma.open, ".bz2": bz2.open, ".gz": gzip.open, "": open}
_APT_LISTS = Path("/var/lib/apt/lists")
_DDTP_LICENSE = (
    "DDTP descriptions: each package's description is under the license of its package "
    "(see its copyright file); translations by the Debian Description Translation Project"
)


def build_debian_docs(
    lang: str = "es",
    *,
    from_dir: str | os.PathLike | None = None,
    out_dir: str | os.PathLike | None = None,
    sample: int = 2000,
    overwrite: bool = False,
    progress: bool = True,
    cache_dir: str | os.PathLike | None = None,
    apt_lists: str | os.PathLike | None = None,
) -> dict:
    """Build the English -> `lang` Debian documentation evaluation set (see the module docstring).

    Args:
        lang: target language: es, de, fr, it, pt-br, ... (the handbook's folder and DDTP's
            `Translation-<lang>` must both exist for it).
        from_dir: a folder holding `debian-handbook_*.deb` and the `Translation-en` and
            `Translation-<lang>` files (plain, .xz, .bz2 or .gz; the download cache is such a
            folder) for an offline rebuild. Without it, they are downloaded into the cache.
        out_dir: output folder; default `corpora/debian-docs-<lang>`.
        sample: pairs kept per source, chosen by a stable hash of the English text (0: all).
        overwrite: whether an `out_dir` that is not empty may receive the files.
        progress: print what is being done, and download progress, on standard error.
        cache_dir: where downloads are kept (default the user cache folder, `kerattn/debs`).
        apt_lists: apt's lists folder, whose `*_dists_<suite>_InRelease` names the mirror,
            the suite and the checksums of the Translation files (default /var/lib/apt/lists).

    Returns:
        The manifest written to `out_dir/manifest.json`; its `counts` are the rows of
        `handbook` and `descriptions`.

    Raises:
        CorpusError: on a bad language or sample size, a language without data, missing or
            damaged inputs, a failed download, or an `out_dir` that may not be written.
    """
    base, region = _language(lang)
    code = f"{base}-{region.lower()}" if region else base
    if sample < 0:
        raise CorpusError(f"--sample {sample} is negative; pass a count of pairs, or 0 for all.")
    corpus = f"debian-docs-{code}"
    out_dir = Path(out_dir) if out_dir is not None else Path("corpora") / corpus
    previous = _check_out_dir(out_dir, overwrite)
    ddtp_code = f"{base}_{region.upper()}" if region else base
    if from_dir is not None:
        handbook_deb, english_file, target_file = _inputs_in_folder(Path(from_dir), ddtp_code)
        release = None
    else:
        handbook_deb, english_file, target_file, release = _download(
            ddtp_code, cache_dir, apt_lists, progress
        )
    _say(progress, f"debian-docs: reading {handbook_deb.name}")
    handbook = read_deb(
        handbook_deb, lambda path: path.startswith(_HANDBOOK_ROOT) and path.endswith(".html")
    )
    folder = _handbook_folder(handbook.files, base, region)
    report: dict[str, dict] = {}
    handbook_rows = _handbook_pairs(handbook.files, folder, base, report)
    _say(progress, f"debian-docs: pairing {english_file.name} with {target_file.name}")
    description_rows = _description_pairs(english_file, target_file, ddtp_code, base, report)
    written = {}
    for name, kind, rows in (
        (HANDBOOK_FILE, "handbook", handbook_rows),
        (DESCRIPTIONS_FILE, "descriptions", description_rows),
    ):
        unique = deduplicate(rows)
        report[kind]["duplicates"] = len(rows) - len(unique)
        chosen = stable_sample(unique, sample)
        report[kind]["not_sampled"] = len(unique) - len(chosen)
        report[kind]["written"] = len(chosen)
        written[name] = chosen
    if not any(written.values()):
        raise CorpusError(
            f"No pair of the corpus {corpus} is left to write; check that the inputs hold "
            f"{lang} translations."
        )
    sources = [
        {
            "name": HANDBOOK_PACKAGE,
            "version": handbook.version,
            "file": handbook_deb.name,
            "sha256": sha256_of(handbook_deb),
            "license": handbook.licenses(),
            "languages": [_HANDBOOK_ENGLISH, folder],
        },
        *(
            {
                "name": f"Translation-{language}",
                "version": release or _suite_of(path),
                "file": path.name,
                "sha256": sha256_of(path),
                "license": [_DDTP_LICENSE],
            }
            for language, path in (("en", english_file), (ddtp_code, target_file))
        ),
    ]
    remove_stale_temporaries(out_dir)
    with staged_files(out_dir, last=[MANIFEST_NAME]) as staging:
        files = {name: write_rows(staging / name, rows) for name, rows in written.items()}
        manifest = build_manifest(
            Path(staging),
            corpus=corpus,
            kind="translation",
            columns=["source", "target", "origin"],
            sources=sources,
            licenses=sorted({name for source in sources for name in source["license"]}),
            split_rule={
                "splits": "none: evaluation files only, never train.tsv or valid.tsv",
                "sample": f"per file, the {sample or 'all'} pairs whose sha1(English text) "
                "sorts first, written in input order",
            },
            options={
                "lang": code,
                "from_dir": os.fspath(from_dir) if from_dir else None,
                "sample": sample,
            },
            dropped={
                f"{kind}/{reason}": count
                for kind, counts in report.items()
                for reason, count in counts.items()
                if reason not in ("paired", "written")
            },
            files=files,
            notes=[
                RESERVED_NOTE,
                "handbook.tsv: Debian Administrator's Handbook pages aligned by structure "
                "(help_pages.align_blocks); origin handbook/<page>.",
                "descriptions.tsv: DDTP descriptions paired by Description-md5, the short "
                "description and, where the paragraph counts match, each paragraph; origin "
                "descriptions/<package>.",
                "Cleaning: kerattn/data/localisation_cleaning.py (help text); `report` counts "
                "what each filter dropped per file.",
            ],
            report=report,
        )
        manifest["counts"] = {name[: -len(".tsv")]: rows for name, rows in files.items()}
        manifest["reserved"] = RESERVED_NOTE
        write_manifest(Path(staging), manifest)
    if previous is not None:
        remove_files_of_previous_build(out_dir, previous, keep=[*files, MANIFEST_NAME])
    return manifest


def deduplicate(rows: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """Keep the first pair of each English text, so a sentence is scored once."""
    seen: set[str] = set()
    kept = []
    for row in rows:
        if row[0] not in seen:
            seen.add(row[0])
            kept.append(row)
    return kept


def stable_sample(rows: list[tuple[str, str, str]], size: int) -> list[tuple[str, str, str]]:
    """The `size` rows whose sha1(English text) sorts first (all rows if `size` is 0), in their
    input order: the same texts are chosen whatever else the input holds."""
    if size == 0 or len(rows) <= size:
        return list(rows)
    order = sorted(
        range(len(rows)), key=lambda index: hashlib.sha1(rows[index][0].encode()).hexdigest()
    )
    return [rows[index] for index in sorted(order[:size])]


def read_translation_file(path: str | os.PathLike, ddtp_code: str) -> dict[str, tuple[str, str]]:
    """Read a DDTP `Translation-<code>` file (plain, .xz, .bz2 or .gz).

    Returns:
        `Description-md5` -> (package, description text: the short description, then the
        long description's lines as written, without their leading space).

    Raises:
        CorpusError: if the file cannot be decompressed or holds no description record.
    """
    path = Path(path)
    field = f"Description-{ddtp_code}"
    opener = _COMPRESSIONS.get(path.suffix, open)
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace") as file:
            text = file.read()
    except (OSError, EOFError, lzma.LZMAError) as error:
        raise CorpusError(
            f"{path} cannot be read ({error}); pass Debian's {path.name.split('.')[0]} file, "
            "plain or compressed with xz, bzip2 or gzip."
        ) from None
    descriptions: dict[str, tuple[str, str]] = {}
    for record in re.split(r"\n[ \t]*\n", text):
        fields = control_fields(record)
        if "Description-md5" in fields and field in fields:
            descriptions[fields["Description-md5"]] = (fields.get("Package", ""), fields[field])
    if not descriptions:
        raise CorpusError(
            f"{path} holds no record with Description-md5 and {field}; pass Debian's "
            f"Translation-{ddtp_code} file from dists/<suite>/main/i18n/."
        )
    return descriptions


def description_parts(description: str) -> tuple[str, list[str]]:
    """Split a Debian description into its short description and long-description paragraphs
    (separated by ` .` lines; list and verbatim lines join their paragraph)."""
    lines = description.split("\n")
    paragraphs: list[str] = []
    current: list[str] = []
    for line in lines[1:]:
        if line.strip() == ".":
            paragraphs.append(normalize_whitespace(" ".join(current)))
            current = []
        else:
            current.append(line)
    paragraphs.append(normalize_whitespace(" ".join(current)))
    return normalize_whitespace(lines[0]), [paragraph for paragraph in paragraphs if paragraph]


def read_publican_blocks(text: str) -> list[tuple[str, str]]:
    """`help_pages.read_blocks` for Publican HTML: `<div class="para">` is a paragraph block
    and the page navigation (`<ul class="docnav">`) is left out."""
    parser = _PublicanParser()
    parser.feed(text)
    parser.close()
    blocks = ((shape, normalize_whitespace("".join(parts))) for shape, parts in parser.blocks)
    return [(shape, text) for shape, text in blocks if text]


class _PublicanParser(BlockParser):
    """Renames Publican's `div.para` to `para` and `ul.docnav` to `script` (a skipped tag),
    end tags included, before the block parser sees them."""

    def __init__(self) -> None:
        super().__init__()
        self._renamed: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("div", "ul"):
            classes = (dict(attrs).get("class") or "").split()
            if tag == "div" and "para" in classes:
                tag = "para"
            elif tag == "ul" and "docnav" in classes:
                tag = "script"
            self._renamed.append(tag)
        super().handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("div", "ul") and self._renamed:
            tag = self._renamed.pop()
        super().handle_endtag(tag)


def _handbook_pairs(
    files: dict[str, bytes], folder: str, base: str, report: dict
) -> list[tuple[str, str, str]]:
    cleaning = CleaningReport()
    counts = collections.Counter({"paired": 0, "unaligned": 0, "page_missing": 0})
    rows = []
    english_root = f"{_HANDBOOK_ROOT}{_HANDBOOK_ENGLISH}/"
    for path in sorted(files):
        if not path.startswith(english_root) or "/" in path[len(english_root) :]:
            continue
        page = path[len(english_root) :]
        translated = files.get(f"{_HANDBOOK_ROOT}{folder}/{page}")
        english_blocks = read_publican_blocks(files[path].decode("utf-8", "replace"))
        if translated is None:
            counts["page_missing"] += len(english_blocks)
            continue
        pairs, unaligned = align_blocks(
            english_blocks, read_publican_blocks(translated.decode("utf-8", "replace"))
        )
        counts["paired"] += len(pairs)
        counts["unaligned"] += unaligned
        for source, target in pairs:
            source, target = _without_section_numbers(source, target)
            cleaned = clean_pair(source, target, cleaning, lang=base, ui=False)
            if cleaned is not None:
                rows.append((cleaned[0], cleaned[1], f"handbook/{page}"))
    if not counts["paired"]:
        raise CorpusError(
            f"No handbook page of {_HANDBOOK_ROOT}{_HANDBOOK_ENGLISH}/ pairs with one of "
            f"{folder}/; pass the debian-handbook .deb as Debian ships it."
        )
    report["handbook"] = {**counts, **dict(sorted(cleaning.dropped.items()))}
    return rows


def _description_pairs(
    english_file: Path, target_file: Path, ddtp_code: str, base: str, report: dict
) -> list[tuple[str, str, str]]:
    english = read_translation_file(english_file, "en")
    translated = read_translation_file(target_file, ddtp_code)
    cleaning = CleaningReport()
    counts = collections.Counter({"paired": 0, "md5_not_in_english": 0, "paragraphs_unequal": 0})
    rows = []
    for md5, (package, target_text) in sorted(translated.items(), key=lambda item: item[1][0]):
        if md5 not in english:
            counts["md5_not_in_english"] += 1
            continue
        english_short, english_paragraphs = description_parts(english[md5][1])
        target_short, target_paragraphs = description_parts(target_text)
        pairs = [(english_short, target_short)]
        if len(english_paragraphs) == len(target_paragraphs):
            pairs += zip(english_paragraphs, target_paragraphs)
        else:
            counts["paragraphs_unequal"] += len(english_paragraphs)
        counts["paired"] += len(pairs)
        for source, target in pairs:
            cleaned = clean_pair(source, target, cleaning, lang=base, ui=False)
            if cleaned is not None:
                rows.append((cleaned[0], cleaned[1], f"descriptions/{package}"))
    report["descriptions"] = {**counts, **dict(sorted(cleaning.dropped.items()))}
    return rows


def _without_section_numbers(source: str, target: str) -> tuple[str, str]:
    """`8.4.3. Timezone` / `8.4.3. Zona horaria` -> the titles alone (the number is no text)."""
    english, translated = _SECTION_NUMBER.match(source), _SECTION_NUMBER.match(target)
    if english and translated and english.group(0).strip() == translated.group(0).strip():
        return source[english.end() :], target[translated.end() :]
    return source, target


def _language(lang: str) -> tuple[str, str]:
    match = _LANGUAGE.match(lang.strip())
    if not match:
        raise CorpusError(
            f"Language {lang!r} is not a language code; use one like es, de, fr, it or pt-br."
        )
    return match.group(1).lower(), (match.group(2) or "").upper()


def _handbook_folder(files: dict[str, bytes], base: str, region: str) -> str:
    """The handbook's folder for the language: `es` -> `es-ES`, `pt-br` -> `pt-BR`."""
    folders = sorted({path[len(_HANDBOOK_ROOT) :].split("/")[0] for path in files})
    folders = [name for name in folders if "-" in name and name != _HANDBOOK_ENGLISH]
    wanted = f"{base}-{region}" if region else None
    matches = [
        name
        for name in folders
        if name == wanted or (not region and name.split("-")[0].lower() == base)
    ]
    if len(matches) != 1:
        raise CorpusError(
            f"The Debian Administrator's Handbook has {'several' if matches else 'no'} "
            f"{base}{'-' + region if region else ''} translation folders; use one of "
            + ", ".join(name.lower() for name in folders)
            + "."
        )
    return matches[0]


def _check_out_dir(out_dir: Path, overwrite: bool) -> dict | None:
    """`check_out_dir`, its message naming the files this builder writes (no train/valid/test)."""
    try:
        return check_out_dir(out_dir, overwrite, EVALUATION_FILES)
    except CorpusError as error:
        raise CorpusError(str(error).replace("train.tsv, valid.tsv, test.tsv, ", "")) from None


def _inputs_in_folder(folder: Path, ddtp_code: str) -> tuple[Path, Path, Path]:
    if not folder.is_dir():
        raise CorpusError(
            f"--from {folder} is not a folder; pass a folder holding debian-handbook_*.deb and "
            f"the Translation-en and Translation-{ddtp_code} files (the download cache is one)."
        )
    found = []
    for pattern, what in (
        (f"{HANDBOOK_PACKAGE}_*.deb", f"a {HANDBOOK_PACKAGE}_*.deb file"),
        ("*Translation-en", "Debian's Translation-en file"),
        (f"*Translation-{ddtp_code}", f"Debian's Translation-{ddtp_code} file"),
    ):
        matches = sorted(
            path
            for suffix in _COMPRESSIONS
            for path in folder.glob(pattern + ("" if pattern.endswith(".deb") else suffix))
            if not path.name.endswith(".part")
        )
        if not matches:
            raise CorpusError(
                f"--from {folder} holds no {what}; get it with `kerattn data debian-docs` "
                "(without --from) or from the Debian archive, plain or .xz, .bz2, .gz."
            )
        found.append(matches[-1])
    return found[0], found[1], found[2]


def _download(ddtp_code: str, cache_dir, apt_lists, progress: bool) -> tuple[Path, Path, Path, str]:
    """Fetch the handbook and the two Translation files into the cache (checked by SHA256)."""
    release_path, site, suite = _release_list(Path(apt_lists) if apt_lists else _APT_LISTS)
    entries = {}
    for line in release_path.read_text(encoding="utf-8", errors="replace").splitlines():
        match = _RELEASE_ENTRY.match(line)
        if match:
            entries[match.group(3)] = (match.group(1), int(match.group(2)))
    files = [_handbook_file()]
    for code in ("en", ddtp_code):
        name = f"main/i18n/Translation-{code}"
        candidates = [
            name + suffix for suffix in (".xz", ".bz2", ".gz") if name + suffix in entries
        ]
        if not candidates:
            raise CorpusError(
                f"The {suite} release lists no {name} file, so DDTP has no {code} "
                "descriptions there; use a language it lists, such as es, de, fr or it."
            )
        sha256, size = entries[candidates[0]]
        files.append(
            PackageFile(
                f"Translation-{code}",
                f"http://{site}/dists/{suite}/{candidates[0]}",
                f"{suite}_main_i18n_{os.path.basename(candidates[0])}",
                size,
                sha256,
            )
        )
    cache = cache_folder(cache_dir)
    paths = fetch_packages(files, cache, progress=progress)
    return paths[0], paths[1], paths[2], suite


def _release_list(apt_lists: Path) -> tuple[Path, str, str]:
    """apt's InRelease of the main suite (not -updates or -security): path, mirror, suite."""
    for path in sorted(apt_lists.glob("*_dists_*_InRelease")):
        match = _SUITE_LIST.match(path.name)
        if match:
            site = match.group("site").replace("_", "/").replace("%5f", "_")
            return path, site, match.group("suite")
    raise CorpusError(
        f"No *_dists_<suite>_InRelease in {apt_lists}; run `apt-get update` first, or pass "
        "a folder holding the inputs with --from DIR."
    )


def _handbook_file() -> PackageFile:
    """The handbook's URL, size and SHA256 from `apt-get download --print-uris` (the localisation
    resolver refuses reserved packages, which this builder alone may read)."""
    apt_get = require_tool(
        "apt-get", "on a system without apt, pass a folder holding the inputs with --from DIR."
    )
    result = subprocess.run(
        [apt_get, "download", "--print-uris", HANDBOOK_PACKAGE], capture_output=True, text=True
    )
    handbook = print_uris_files(result.stdout).get(HANDBOOK_PACKAGE)
    if handbook is not None:
        return handbook
    reason = (result.stderr.strip().splitlines() or ["no error output"])[-1]
    raise CorpusError(
        f"`apt-get download --print-uris {HANDBOOK_PACKAGE}` named no file ({reason}); run "
        "`apt-get update` first, or pass a folder holding the inputs with --from DIR."
    )


def _suite_of(path: Path) -> str:
    return path.name.split("_")[0] if "_" in path.name else "unknown"


def _say(enabled: bool, text: str) -> None:
    if enabled:
        print(text, file=sys.stderr, flush=True)


__all__ = [
    "EVALUATION_FILES",
    "build_debian_docs",
    "deduplicate",
    "description_parts",
    "read_publican_blocks",
    "read_translation_file",
    "stable_sample",
]
