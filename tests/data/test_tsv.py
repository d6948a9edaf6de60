import pytest

from kerattn.data import CorpusError, read_pairs, read_rows, write_rows


def test_tabs_and_newlines_inside_fields_become_spaces(tmp_path):
    path = tmp_path / "rows.tsv"
    count = write_rows(path, [("a\tb", "c\nd\r\ne"), ("f\u2028g", "h\x85i", "origin")])
    assert count == 2
    assert read_rows(path) == [("a b", "c d e"), ("f g", "h i", "origin")]
    assert read_pairs(path) == [("a b", "c d e"), ("f g", "h i")]
    assert len(path.read_bytes().splitlines()) == 2


def test_utf8_round_trip_and_blank_lines_skipped(tmp_path):
    path = tmp_path / "rows.tsv"
    path.write_text("año\tyear\n\n日本\tJapan\n", encoding="utf-8")
    assert read_pairs(path) == [("año", "year"), ("日本", "Japan")]


def test_line_without_tab_is_a_clear_error(tmp_path):
    path = tmp_path / "bad.tsv"
    path.write_text("one\ttwo\njust one field\n", encoding="utf-8")
    with pytest.raises(
        CorpusError,
        match=r"Line 2 of .*bad.tsv has 1 tab-separated field\(s\); "
        r"expected at least 2",
    ):
        read_rows(path)


def test_missing_and_non_utf8_files_are_clear_errors(tmp_path):
    with pytest.raises(CorpusError, match="does not exist; pass an existing file"):
        read_rows(tmp_path / "missing.tsv")
    latin1 = tmp_path / "latin1.tsv"
    latin1.write_bytes("caf\u00e9\tcoffee\n".encode("latin-1"))
    with pytest.raises(CorpusError, match="is not valid UTF-8 .*convert it to UTF-8 first"):
        read_rows(latin1)
