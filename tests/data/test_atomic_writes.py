import pytest

import kerattn.data.corpus_writer as corpus_writer
from kerattn.data import build_tsv, load_manifest


def _input(tmp_path):
    source = tmp_path / "corpus.tsv"
    source.write_text("".join(f"s{i}\tt{i}\n" for i in range(50)), encoding="utf-8")
    return source


def test_failure_mid_build_leaves_no_output_folder(tmp_path, monkeypatch):
    source = _input(tmp_path)
    out = tmp_path / "corpora" / "corpus"

    def fail(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(corpus_writer, "build_manifest", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        build_tsv(source, kind="translation", out_dir=out)
    assert not out.exists()
    assert list(out.parent.iterdir()) == []  # no half-written temporary folder either


def test_failed_rebuild_keeps_the_previous_corpus(tmp_path, monkeypatch):
    source = _input(tmp_path)
    out = tmp_path / "corpus"
    build_tsv(source, kind="translation", out_dir=out)
    before = {path.name: path.read_bytes() for path in out.iterdir()}
    monkeypatch.setattr(corpus_writer, "write_manifest",
                        lambda *args: (_ for _ in ()).throw(OSError("no space left")))
    with pytest.raises(OSError):
        build_tsv(source, kind="translation", out_dir=out)
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["corpus", "corpus.tsv"]


def test_rebuild_replaces_the_folder(tmp_path):
    source = _input(tmp_path)
    out = tmp_path / "corpus"
    build_tsv(source, kind="translation", out_dir=out)
    (out / "stale.txt").write_text("from an older build")
    build_tsv(source, kind="translation", out_dir=out)
    assert not (out / "stale.txt").exists()
    assert load_manifest(out, verify=True)["counts"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["corpus", "corpus.tsv"]
