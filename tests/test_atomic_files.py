"""kerattn.atomic_files: the one implementation of atomic, durable writes."""

from __future__ import annotations

import errno
import os
import time

import pytest

from kerattn import atomic_files
from kerattn.atomic_files import (
    atomic_folder,
    atomic_write_text,
    atomic_write_with,
    remove_stale_temporaries,
    staged_files,
)


def names(folder):
    return sorted(path.name for path in folder.iterdir())


def test_os_errors_name_the_final_path_not_the_temporary(tmp_path):
    def full(temporary):
        temporary.write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")  # what a write reports: no file

    with pytest.raises(OSError) as raised:
        atomic_write_with(tmp_path / "best.keras", full)
    assert raised.value.filename == os.fspath(tmp_path / "best.keras")
    assert names(tmp_path) == []

    def denied(folder):
        raise PermissionError(errno.EACCES, "Permission denied", os.fspath(folder / "assets"))

    with pytest.raises(PermissionError) as raised, atomic_folder(tmp_path / "1") as folder:
        denied(folder)
    assert raised.value.filename == os.fspath(tmp_path / "1" / "assets")
    with pytest.raises(FileExistsError, match="already exists") as raised:
        (tmp_path / "2").mkdir()
        with atomic_folder(tmp_path / "2"):
            pass
    assert raised.value.filename is None  # not an OS error: left as it was
    assert names(tmp_path) == ["2"]


def test_atomic_folder_makes_the_parents_it_creates_durable(tmp_path, monkeypatch):
    synced = []
    real = atomic_files.fsync_path
    monkeypatch.setattr(
        atomic_files, "fsync_path", lambda path: (synced.append(os.fspath(path)), real(path))
    )
    with atomic_folder(tmp_path / "a" / "b" / "1") as folder:
        (folder / "file").write_text("x")
    for created in (tmp_path, tmp_path / "a", tmp_path / "a" / "b"):  # the parents' entries
        assert os.fspath(created) in synced
    assert (tmp_path / "a" / "b" / "1" / "file").read_text() == "x"


def test_staged_files_touch_nothing_else_and_move_last_names_last(tmp_path, monkeypatch):
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "mine.txt").write_text("mine")
    (folder / "data.tsv").write_text("old")
    moved = []
    real_replace = os.replace
    monkeypatch.setattr(
        os,
        "replace",
        lambda source, destination: (
            moved.append(os.path.basename(destination)),
            real_replace(source, destination),
        ),
    )
    with staged_files(folder, last=["manifest.json"]) as staging:
        assert staging.parent == folder and staging.name.startswith(".kerattn-")
        for name in ("manifest.json", "data.tsv", "z.tsv"):
            (staging / name).write_text("new")
    assert moved == ["data.tsv", "z.tsv", "manifest.json"]
    assert {path.name: path.read_text() for path in folder.iterdir()} == {
        "mine.txt": "mine",
        "data.tsv": "new",
        "z.tsv": "new",
        "manifest.json": "new",
    }


def test_staged_files_failure_leaves_the_folder_as_it_was(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "data.tsv").write_text("old")
    with pytest.raises(RuntimeError), staged_files(folder) as staging:
        (staging / "data.tsv").write_text("new")
        raise RuntimeError("stop")
    assert names(folder) == ["data.tsv"] and (folder / "data.tsv").read_text() == "old"
    with pytest.raises(RuntimeError), staged_files(tmp_path / "new" / "deeper") as staging:
        raise RuntimeError("stop")
    assert names(tmp_path) == ["out"]  # the folders it created are gone again
    with pytest.raises(ValueError, match="plain files only"), staged_files(folder) as staging:
        (staging / "sub").mkdir()
    assert names(folder) == ["data.tsv"]


def test_staged_files_never_write_through_a_symbolic_link(tmp_path):
    target = tmp_path / "elsewhere.txt"
    target.write_text("precious")
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "data.tsv").symlink_to(target)
    with staged_files(folder) as staging:
        (staging / "data.tsv").write_text("new")
    assert target.read_text() == "precious"
    assert not (folder / "data.tsv").is_symlink() and (folder / "data.tsv").read_text() == "new"


def test_staged_files_into_the_current_folder(tmp_path, monkeypatch):
    (tmp_path / "here").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    with staged_files(".") as staging:
        (staging / "data.tsv").write_text("new")
    assert names(tmp_path / "here") == ["data.tsv"]
    assert names(tmp_path) == ["here"]


def test_remove_stale_temporaries_keeps_young_live_and_foreign_entries(tmp_path):
    old = time.time() - 2 * atomic_files.STALE_AFTER_SECONDS
    entries = ["stale-file", "stale-folder", "young", "live", "user"]
    paths = {
        "stale-file": tmp_path / ".kerattn-999999999-best.keras.partial.keras",
        "stale-folder": tmp_path / ".kerattn-999999999-1.abcdefgh",
        "young": tmp_path / ".kerattn-999999999-2.abcdefgh",
        "live": tmp_path / f".kerattn-{os.getpid()}-3.abcdefgh",
        "user": tmp_path / ".kerattn.user-config",  # not the prefix `.kerattn-`
    }
    for key in entries:
        if key == "stale-file" or key == "user":
            paths[key].write_text(key)
        else:
            paths[key].mkdir()
            (paths[key] / "file").write_text(key)
    for key in ("stale-file", "stale-folder", "live", "user"):
        for path in (paths[key], *paths[key].glob("*")):
            os.utime(path, (old, old))
    removed = remove_stale_temporaries(tmp_path)
    assert sorted(removed) == sorted([paths["stale-file"], paths["stale-folder"]])
    assert names(tmp_path) == sorted(paths[key].name for key in ("young", "live", "user"))
    assert remove_stale_temporaries(tmp_path / "missing") == []


def test_atomic_write_text_replaces_whole(tmp_path):
    path = tmp_path / "config.txt"
    atomic_write_text(path, "one\n")
    atomic_write_text(path, "two\n")
    assert path.read_text() == "two\n" and names(tmp_path) == ["config.txt"]
