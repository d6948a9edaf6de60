import json

import pytest

from kerattn.data import CorpusError, build_tsv, load_manifest


def test_verify_detects_a_changed_file(tmp_path):
    source = tmp_path / "corpus.tsv"
    source.write_text("".join(f"s{i}\tt{i}\n" for i in range(30)), encoding="utf-8")
    out = tmp_path / "out"
    manifest = build_tsv(source, kind="translation", out_dir=out)
    assert load_manifest(out / "manifest.json") == manifest
    with open(out / "train.tsv", "a", encoding="utf-8") as file:
        file.write("extra\trow\torigin\n")
    assert load_manifest(out)["corpus"] == "corpus"  # without verify, no check
    with pytest.raises(
        CorpusError,
        match=r"train.tsv has sha256 [0-9a-f]{64}, but the manifest "
        r"records [0-9a-f]{64}; rebuild the corpus\.",
    ):
        load_manifest(out, verify=True)


def test_manifest_is_plain_json_with_the_documented_keys(tmp_path):
    source = tmp_path / "corpus.tsv"
    source.write_text("a\tb\n", encoding="utf-8")
    build_tsv(source, kind="translation", out_dir=tmp_path / "out")
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    assert set(manifest) == {
        "format_version",
        "corpus",
        "kind",
        "columns",
        "built_at",
        "builder",
        "sources",
        "licenses",
        "split_rule",
        "options",
        "counts",
        "dropped",
        "files",
        "notes",
    }
    assert manifest["split_rule"]["hash"].startswith("sha1")


def test_missing_manifest_is_a_clear_error(tmp_path):
    with pytest.raises(
        CorpusError,
        match=r"No manifest at .*manifest.json; pass a corpus folder "
        r"built by `kerattn data`\.",
    ):
        load_manifest(tmp_path)
