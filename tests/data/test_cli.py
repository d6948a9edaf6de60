import pytest

from kerattn_cli import main


def test_data_tsv_prints_one_line_per_split(tmp_path, capsys):
    source = tmp_path / "pairs.tsv"
    source.write_text("".join(f"s{i}\tt{i}\n" for i in range(200)), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["data", "tsv", str(source), "--kind", "translation", "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in lines] == ["train", "valid", "test"]
    assert all(line.startswith("pairs ") for line in lines)
    assert lines[0].endswith(str(out / "train.tsv"))
    assert (out / "manifest.json").is_file()


def test_data_libreoffice_from_fixture(tmp_path, capsys, libreoffice_tree):
    out = tmp_path / "lo"
    code = main(
        [
            "data",
            "libreoffice",
            "--lang",
            "es",
            "--from",
            str(libreoffice_tree),
            "--out",
            str(out),
            "--test-fraction",
            "0.2",
        ]
    )
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and lines[0].startswith("libreoffice-en-es train")


def test_data_error_is_one_sentence_on_stderr(tmp_path, capsys):
    code = main(["data", "tsv", str(tmp_path / "missing.tsv"), "--kind", "classification"])
    assert code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip() == (
        f"kerattn data tsv: TSV file {tmp_path / 'missing.tsv'} does not exist; pass an existing file."
    )


def _sentence(capsys) -> str:
    """The one line `kerattn data` wrote to stderr, without its `kerattn data[ tsv]: ` prefix."""
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    prefix, _, message = lines[0].partition(": ")
    assert prefix in ("kerattn data", "kerattn data tsv")
    return message


def _pairs(path, rows=50):
    path.write_text("".join(f"s{i}\tt{i}\n" for i in range(rows)), encoding="utf-8")
    return path


def test_out_into_a_folder_with_a_users_files_is_refused_then_overwrite_keeps_them(
    tmp_path, capsys
):
    source = _pairs(tmp_path / "pairs.tsv")
    out = tmp_path / "work"
    out.mkdir()
    (out / "thesis.txt").write_text("three years of work")
    arguments = ["data", "tsv", str(source), "--kind", "translation", "--out", str(out)]
    assert main(arguments) == 2
    assert _sentence(capsys).startswith(
        f"Output folder {out} is not empty and holds no corpus (no manifest.json); pass a new or "
        "empty folder with --out, or --overwrite"
    )
    assert sorted(path.name for path in out.iterdir()) == ["thesis.txt"]
    assert main(arguments + ["--overwrite"]) == 0
    assert (out / "thesis.txt").read_text() == "three years of work"
    assert main(arguments) == 2  # now a corpus: rebuilt only with --overwrite
    assert "already holds the corpus 'pairs'; pass --overwrite" in _sentence(capsys)


def test_out_dot(tmp_path, capsys, monkeypatch):
    source = _pairs(tmp_path / "pairs.tsv")
    (tmp_path / "here").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    assert main(["data", "tsv", str(source), "--kind", "translation", "--out", "."]) == 0
    assert sorted(path.name for path in (tmp_path / "here").iterdir()) == [
        "manifest.json",
        "test.tsv",
        "train.tsv",
        "valid.tsv",
    ]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["here", "pairs.tsv"]


@pytest.mark.parametrize(
    "content, expected",
    [
        (
            "caf\u00e9\tcoffee\n".encode("latin-1"),
            "is not valid UTF-8 (line 1, byte offset 3); convert it to UTF-8 first (a binary file "
            "cannot be used).",
        ),
        (
            b"a\tb\n" * 3000 + b"ok\tfine\nna\xefve\tx\n",  # past the decoder's first buffer
            "is not valid UTF-8 (line 3002, byte offset 12010); convert it to UTF-8 first (a "
            "binary file cannot be used).",
        ),
        (
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
            "is not valid UTF-8 (line 1, byte offset 0); convert it to UTF-8 first (a binary file "
            "cannot be used).",
        ),
        (
            "a\tb\n".encode("utf-16-le"),
            "contains a NUL character, so the file is not UTF-8 text (a binary or UTF-16 file?); "
            "pass a UTF-8 TSV file.",
        ),
        (b"", "has no lines (it is empty or blank); pass a file of source<TAB>target lines."),
        (
            b"\n  \n\n",
            "has no lines (it is empty or blank); pass a file of source<TAB>target lines.",
        ),
    ],
    ids=["latin-1", "late-bad-byte", "png", "utf-16", "empty", "blank"],
)
def test_unusable_input_files_are_one_sentence(tmp_path, capsys, content, expected):
    source = tmp_path / "input.tsv"
    source.write_bytes(content)
    out = tmp_path / "out"
    assert main(["data", "tsv", str(source), "--kind", "translation", "--out", str(out)]) == 2
    message = _sentence(capsys)
    assert message.endswith(expected), message
    assert str(source) in message
    assert not out.exists()


def test_missing_input_and_a_folder_as_input_are_one_sentence(tmp_path, capsys):
    out = ["--kind", "classification", "--out", str(tmp_path / "out")]
    assert main(["data", "tsv", str(tmp_path / "missing.tsv"), *out]) == 2
    assert _sentence(capsys) == (
        f"TSV file {tmp_path / 'missing.tsv'} does not exist; pass an existing file."
    )
    assert main(["data", "tsv", str(tmp_path), *out]) == 2
    assert _sentence(capsys) == f"TSV file {tmp_path} is a folder; pass a TSV file."
    assert not (tmp_path / "out").exists()


def test_input_with_no_usable_row_is_one_sentence(tmp_path, capsys):
    source = tmp_path / "input.tsv"
    source.write_text("only source\t \n \tonly target\n", encoding="utf-8")
    assert (
        main(["data", "tsv", str(source), "--kind", "translation", "--out", str(tmp_path / "out")])
        == 2
    )
    assert _sentence(capsys) == (
        "No row of the corpus input is left to write (dropped: 2 empty); check that the input "
        "holds text pairs."
    )
    assert not (tmp_path / "out").exists()
