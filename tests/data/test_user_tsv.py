import pytest

from kerattn.data import CorpusError, SplitRule, build_tsv, read_rows

SPLITS = ("train", "valid", "test")


def _split_of_rows(folder):
    return {
        (row[0], row[1]): split for split in SPLITS for row in read_rows(folder / f"{split}.tsv")
    }


def _write(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def test_translation_tsv_is_cleaned_deduplicated_and_split_by_source(tmp_path):
    source = tmp_path / "pairs.tsv"
    _write(
        source,
        [
            "hello  world\thola mundo",
            "hello world\thola mundo",
            "bye\tadiós\tmy-origin",
            "\t",
            "empty target\t ",
        ],
    )
    manifest = build_tsv(source, kind="translation", out_dir=tmp_path / "out")
    rows = [row for split in SPLITS for row in read_rows(tmp_path / "out" / f"{split}.tsv")]
    assert sorted(rows) == [
        ("bye", "adiós", "my-origin"),
        ("hello world", "hola mundo", "pairs.tsv"),
    ]
    assert manifest["dropped"]["duplicates"] == 1
    assert manifest["dropped"]["empty"] == 1  # a line of only a tab is blank, so skipped
    assert manifest["corpus"] == "pairs"


def test_classification_tsv_drops_conflicting_labels(tmp_path):
    source = tmp_path / "labels.tsv"
    _write(source, ["good\tpos", "bad\tneg", "meh\tpos", "meh\tneg"])
    manifest = build_tsv(source, kind="classification", out_dir=tmp_path / "out")
    assert set(_split_of_rows(tmp_path / "out")) == {("good", "pos"), ("bad", "neg")}
    assert manifest["dropped"]["conflicting_labels"] == 2
    assert manifest["columns"] == ["text", "label", "origin"]


def test_adding_rows_never_moves_an_existing_row(tmp_path):
    source = tmp_path / "corpus.tsv"
    first = [f"sentence {i}\tfrase {i}" for i in range(400)]
    _write(source, first)
    build_tsv(source, kind="translation", out_dir=tmp_path / "v1")
    _write(
        source,
        first[:200] + [f"new sentence {i}\tfrase nueva {i}" for i in range(300)] + first[200:],
    )
    build_tsv(source, kind="translation", out_dir=tmp_path / "v2")
    before, after = _split_of_rows(tmp_path / "v1"), _split_of_rows(tmp_path / "v2")
    assert set(before.values()) == set(SPLITS)
    for pair, split in before.items():
        assert after[pair] == split
    rule = SplitRule()
    assert all(rule.split_of(pair[0]) == split for pair, split in after.items())


def test_same_input_gives_byte_identical_files(tmp_path):
    source = tmp_path / "corpus.tsv"
    _write(source, [f"sentence {i}\tfrase {i}" for i in range(100)])
    build_tsv(source, kind="translation", out_dir=tmp_path / "a")
    build_tsv(source, kind="translation", out_dir=tmp_path / "b")
    for split in SPLITS:
        assert (tmp_path / "a" / f"{split}.tsv").read_bytes() == (
            tmp_path / "b" / f"{split}.tsv"
        ).read_bytes()


def test_a_source_in_several_splits_is_kept_in_training_only():
    from kerattn.data.corpus_row import CorpusRow
    from kerattn.data.deduplication import assign_splits

    rule = SplitRule(test_fraction=0.3, valid_fraction=0.3)
    keys = {
        split: next(f"doc{i}" for i in range(1000) if rule.split_of(f"doc{i}") == split)
        for split in SPLITS
    }
    rows = [
        CorpusRow("shared", "compartido", keys[split], keys[split])
        for split in ("test", "valid", "train")
    ] + [CorpusRow("own", "propio", "t", keys["test"])]
    by_split, dropped = assign_splits(rows, rule, "translation")
    assert [row.origin for row in by_split["train"]] == [keys["train"]]
    assert [row.source for row in by_split["test"]] == ["own"]
    assert by_split["valid"] == []
    assert dropped["held_out_overlap"] == 2


def test_unknown_kind_is_a_clear_error(tmp_path):
    source = tmp_path / "x.tsv"
    _write(source, ["a\tb"])
    with pytest.raises(
        CorpusError,
        match=r"--kind 'regression' is not supported; use translation "
        r"or classification\.",
    ):
        build_tsv(source, kind="regression", out_dir=tmp_path / "out")
