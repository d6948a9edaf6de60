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
