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
    code = main(["data", "libreoffice", "--lang", "es", "--from", str(libreoffice_tree),
                 "--out", str(out), "--test-fraction", "0.2"])
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and lines[0].startswith("libreoffice-en-es train")


def test_data_error_is_one_sentence_on_stderr(tmp_path, capsys):
    code = main(["data", "tsv", str(tmp_path / "missing.tsv"), "--kind", "classification"])
    assert code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip() == (
        f"kerattn data: TSV file {tmp_path / 'missing.tsv'} does not exist; pass an existing file."
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
        "empty folder with --out, or --overwrite")
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
        "manifest.json", "test.tsv", "train.tsv", "valid.tsv"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["here", "pairs.tsv"]
