"""Where a build writes: never over what it did not make, durably, and `--out .` too."""

import json
import os

import pytest

import kerattn.atomic_files as atomic_files
import kerattn.data.corpus_writer as corpus_writer
from kerattn.data import CorpusError, build_cmudict, build_tsv, load_manifest

CORPUS_FILES = ["manifest.json", "test.tsv", "train.tsv", "valid.tsv"]


def _input(tmp_path, rows=50):
    source = tmp_path / "corpus.tsv"
    source.write_text("".join(f"s{i}\tt{i}\n" for i in range(rows)), encoding="utf-8")
    return source


def _names(folder):
    return sorted(path.name for path in folder.iterdir())


def _contents(folder):
    return {path.name: path.read_bytes() for path in folder.iterdir()}


def test_folder_with_other_files_is_refused_and_nothing_is_deleted(tmp_path):
    source = _input(tmp_path)
    out = tmp_path / "work"
    out.mkdir()
    (out / "thesis.txt").write_text("three years of work")
    with pytest.raises(CorpusError) as raised:
        build_tsv(source, kind="translation", out_dir=out)
    assert str(raised.value) == (
        f"Output folder {out} is not empty and holds no corpus (no manifest.json); pass a new or "
        "empty folder with --out, or --overwrite to write the corpus files (train.tsv, "
        "valid.tsv, test.tsv, manifest.json) beside its files, replacing only files of those "
        "names."
    )
    assert _contents(out) == {"thesis.txt": b"three years of work"}
    assert _names(tmp_path) == ["corpus.tsv", "work"]


def test_overwrite_writes_the_corpus_beside_the_other_files(tmp_path):
    source = _input(tmp_path)
    out = tmp_path / "work"
    (out / "notes").mkdir(parents=True)
    (out / "thesis.txt").write_text("three years of work")
    (out / "notes" / "draft.md").write_text("draft")
    build_tsv(source, kind="translation", out_dir=out, overwrite=True)
    assert _names(out) == sorted(CORPUS_FILES + ["notes", "thesis.txt"])
    assert (out / "thesis.txt").read_text() == "three years of work"
    assert (out / "notes" / "draft.md").read_text() == "draft"
    assert load_manifest(out, verify=True)["counts"]


def test_a_previous_corpus_is_rebuilt_only_with_overwrite(tmp_path):
    source = _input(tmp_path)
    out = tmp_path / "corpus"
    build_tsv(source, kind="translation", out_dir=out)
    (out / "README.md").write_text("my notes on this corpus")
    before = _contents(out)
    with pytest.raises(CorpusError) as raised:
        build_tsv(source, kind="translation", out_dir=out, valid_fraction=0.2)
    assert str(raised.value) == (
        f"Output folder {out} already holds the corpus 'corpus'; pass --overwrite to rebuild it "
        "(only its corpus files are replaced) or another --out."
    )
    assert _contents(out) == before
    manifest = build_tsv(
        source, kind="translation", out_dir=out, valid_fraction=0.2, overwrite=True
    )
    assert manifest["options"]["valid_fraction"] == 0.2
    assert load_manifest(out, verify=True)["options"]["valid_fraction"] == 0.2
    assert (out / "README.md").read_text() == "my notes on this corpus"
    assert _names(out) == sorted(CORPUS_FILES + ["README.md"])
    assert _names(tmp_path) == ["corpus", "corpus.tsv"]


def test_rebuild_removes_the_previous_builds_own_files_only_if_unchanged(tmp_path, fixtures):
    source = _input(tmp_path)
    first, second = tmp_path / "first", tmp_path / "second"
    for out in (first, second):
        build_cmudict(dict_path=fixtures / "cmudict.dict", out_dir=out)
    (second / "alternates.tsv").write_text("edited by hand\tx\ty\n")
    for out in (first, second):  # a different corpus, without alternates.tsv, in the same place
        build_tsv(source, kind="translation", out_dir=out, overwrite=True)
    assert _names(first) == CORPUS_FILES  # cmudict's alternates.tsv, unchanged: removed
    assert _names(second) == sorted(CORPUS_FILES + ["alternates.tsv"])  # edited: kept
    assert (second / "alternates.tsv").read_text() == "edited by hand\tx\ty\n"


def test_out_dot_builds_in_the_current_folder_and_leaves_no_hidden_folder(tmp_path, monkeypatch):
    source = _input(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    build_tsv(source, kind="translation", out_dir=".")
    assert _names(work) == CORPUS_FILES
    assert _names(tmp_path) == ["corpus.tsv", "work"]  # nothing beside `.`, in `..`
    assert load_manifest(".", verify=True)["counts"]
    # The common case: the input file lives in the folder that receives the corpus.
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CorpusError, match=r"Output folder \. is not empty"):
        build_tsv("corpus.tsv", kind="translation", out_dir=".")
    build_tsv("corpus.tsv", kind="translation", out_dir=".", overwrite=True)
    assert _names(tmp_path) == sorted(CORPUS_FILES + ["corpus.tsv", "work"])


def test_files_are_fsynced_before_they_are_moved_in_and_the_manifest_comes_last(
    tmp_path, monkeypatch
):
    source = _input(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    events = []
    real_fsync, real_replace = atomic_files.fsync_path, os.replace
    monkeypatch.setattr(
        atomic_files,
        "fsync_path",
        lambda path: (events.append(("fsync", os.fspath(path))), real_fsync(path)),
    )
    monkeypatch.setattr(
        os,
        "replace",
        lambda source, destination: (
            events.append(("replace", os.fspath(destination))),
            real_replace(source, destination),
        ),
    )
    build_tsv(source, kind="translation", out_dir=out)
    replaced = [path for kind, path in events if kind == "replace"]
    assert [os.path.basename(path) for path in replaced] == [
        "test.tsv",
        "train.tsv",
        "valid.tsv",
        "manifest.json",
    ]
    first_replace = events.index(("replace", replaced[0]))
    synced_before = {
        os.path.basename(path) for kind, path in events[:first_replace] if kind == "fsync"
    }
    assert set(CORPUS_FILES) <= synced_before  # each staged file, before any rename
    manifest_replace = events.index(("replace", os.fspath(out / "manifest.json")))
    assert ("fsync", os.fspath(out)) in events[first_replace:manifest_replace]
    assert events[-1] == ("fsync", os.fspath(out))  # the renames themselves are durable


def test_failure_mid_build_leaves_nothing_it_created(tmp_path, monkeypatch):
    source = _input(tmp_path)
    out = tmp_path / "corpora" / "corpus"

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(corpus_writer, "build_manifest", fail)
    with pytest.raises(OSError, match="No space left"):
        build_tsv(source, kind="translation", out_dir=out)
    assert _names(tmp_path) == ["corpus.tsv"]  # neither corpora/ nor a temporary folder


def test_failed_rebuild_keeps_the_previous_corpus(tmp_path, monkeypatch):
    source = _input(tmp_path)
    out = tmp_path / "corpus"
    build_tsv(source, kind="translation", out_dir=out)
    before = _contents(out)
    monkeypatch.setattr(
        corpus_writer,
        "write_manifest",
        lambda *args: (_ for _ in ()).throw(OSError("no space left")),
    )
    with pytest.raises(OSError):
        build_tsv(source, kind="translation", out_dir=out, overwrite=True)
    assert _contents(out) == before
    assert _names(tmp_path) == ["corpus", "corpus.tsv"]


def test_stale_temporaries_of_a_killed_build_are_removed_and_others_kept(tmp_path):
    source = _input(tmp_path)
    out = tmp_path / "out"
    stale = out / ".kerattn-999999999-out.abc123"  # from a build that was killed
    fresh = out / ".kerattn-999999998-out.def456"  # a concurrent build still writing
    for folder in (stale, fresh):
        folder.mkdir(parents=True)
        (folder / "train.tsv").write_text("half")
    (out / ".hidden-user-file").write_text("mine")
    hour_ago = os.path.getmtime(out) - 7200
    for path in (stale / "train.tsv", stale, out / ".hidden-user-file"):
        os.utime(path, (hour_ago, hour_ago))
    build_tsv(source, kind="translation", out_dir=out, overwrite=True)
    assert not stale.exists()
    assert (fresh / "train.tsv").read_text() == "half"
    assert (out / ".hidden-user-file").read_text() == "mine"


def test_an_empty_folder_or_one_holding_only_kerattn_temporaries_is_used(tmp_path):
    source = _input(tmp_path)
    out = tmp_path / "out"
    (out / ".kerattn-1-out.partial").mkdir(parents=True)
    build_tsv(source, kind="translation", out_dir=out)
    assert load_manifest(out, verify=True)["corpus"] == "corpus"


def test_a_foreign_manifest_does_not_make_a_corpus(tmp_path):
    source = _input(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "manifest.json").write_text(json.dumps({"name": "my web app"}))
    with pytest.raises(CorpusError, match="is not empty and holds no corpus"):
        build_tsv(source, kind="translation", out_dir=out)
    assert json.loads((out / "manifest.json").read_text()) == {"name": "my web app"}


def test_output_path_that_is_a_file_is_refused(tmp_path):
    source = _input(tmp_path)
    (tmp_path / "taken").write_text("x")
    with pytest.raises(CorpusError, match=r"Output path .*taken is a file; pass a folder path "):
        build_tsv(source, kind="translation", out_dir=tmp_path / "taken", overwrite=True)
    assert (tmp_path / "taken").read_text() == "x"


def test_a_folder_named_like_a_corpus_file_stops_the_build_before_any_move(tmp_path):
    source = _input(tmp_path)
    out = tmp_path / "out"
    (out / "valid.tsv").mkdir(parents=True)
    (out / "valid.tsv" / "mine.txt").write_text("mine")
    with pytest.raises(IsADirectoryError, match="valid.tsv"):
        build_tsv(source, kind="translation", out_dir=out, overwrite=True)
    assert _names(out) == ["valid.tsv"]
    assert (out / "valid.tsv" / "mine.txt").read_text() == "mine"
