"""Versioned, atomic export folders: next free number, explicit numbers, no overwrite, no debris."""

from __future__ import annotations

import errno
import os
import signal
import time

import pytest

from kerattn import atomic_files
from kerattn.errors import KerattnError, UsageError
from kerattn.export import ExportError, ExportPathError, version_folder
from kerattn.export.version_folder import VersionExistsError, parse_version, write_version


def numeric_children(base):
    return sorted(child.name for child in base.iterdir() if parse_version(child.name) is not None)


def write_marker(folder):
    (folder / "saved_model.pb").write_bytes(b"x")


def test_tf_serving_version_names():
    assert parse_version("1") == 1 and parse_version("00000123") == 123
    for skipped in ("tmp", "1.partial", ".kerattn-export-abc", "", "v2"):
        assert parse_version(skipped) is None
    assert parse_version(atomic_files.TEMPORARY_PREFIX + "12345") is None


def test_next_free_version_and_explicit_version(tmp_path):
    base = tmp_path / "models" / "translator"
    assert write_version(base, write_marker).name == "1"
    assert write_version(base, write_marker).name == "2"
    assert write_version(base, write_marker, version=7).name == "7"
    assert write_version(base, write_marker).name == "8"  # above the highest, never a gap
    (base / "notes").mkdir()  # non-numeric children are not versions
    assert version_folder.next_version(base) == 9
    assert numeric_children(base) == ["1", "2", "7", "8"]
    assert (base / "8" / "saved_model.pb").exists()


def test_existing_version_is_refused_not_overwritten(tmp_path):
    base = tmp_path / "model"
    write_version(base, write_marker, version=3)
    (base / "3" / "saved_model.pb").write_bytes(b"original")
    calls = []
    with pytest.raises(VersionExistsError, match="version 3 already exists"):
        write_version(base, calls.append, version=3)
    assert calls == []  # refused before any work
    (base / "0005").mkdir()  # TF Serving reads this as version 5
    with pytest.raises(VersionExistsError, match="version 5 already exists"):
        write_version(base, write_marker, version=5)
    assert (base / "3" / "saved_model.pb").read_bytes() == b"original"
    for bad in (0, -1, True, "2"):
        with pytest.raises(ValueError, match="positive int"):
            write_version(base, write_marker, version=bad)


def test_written_under_a_non_numeric_temporary_name_then_renamed(tmp_path):
    base = tmp_path / "model"
    seen = {}

    def write(folder):
        seen["folder"] = folder
        seen["siblings"] = numeric_children(base)
        write_marker(folder)

    final = write_version(base, write)
    assert seen["folder"].parent == base
    assert parse_version(seen["folder"].name) is None
    assert seen["siblings"] == []  # nothing numeric existed while writing
    assert not seen["folder"].exists()
    assert [child.name for child in base.iterdir()] == [final.name] == ["1"]
    assert oct(final.stat().st_mode & 0o777) == oct(0o755)


def test_failure_mid_write_leaves_nothing_behind(tmp_path):
    base = tmp_path / "model"
    write_version(base, write_marker)

    def failing(folder):
        (folder / "variables").mkdir()
        (folder / "saved_model.pb").write_bytes(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_version(base, failing)
    with pytest.raises(KeyboardInterrupt):
        write_version(base, lambda folder: (_ for _ in ()).throw(KeyboardInterrupt()))
    assert [child.name for child in base.iterdir()] == ["1"]


def test_version_taken_while_writing_is_refused_and_cleaned_up(tmp_path):
    base = tmp_path / "model"

    def racing(folder):
        (base / "4").mkdir()  # another exporter finished version 4 meanwhile
        write_marker(folder)

    with pytest.raises(VersionExistsError):
        write_version(base, racing, version=4)
    assert sorted(child.name for child in base.iterdir()) == ["4"]
    assert list((base / "4").iterdir()) == []


def test_errors_are_kerattn_errors_and_keep_their_old_kinds():
    assert issubclass(ExportError, KerattnError) and issubclass(ExportError, RuntimeError)
    assert ExportError("x").exit_code == 1
    for kind in (UsageError, ExportError, FileExistsError):
        assert issubclass(VersionExistsError, kind)
    assert VersionExistsError("taken").exit_code == 2
    assert str(VersionExistsError("taken")) == "taken"
    assert issubclass(ExportPathError, ValueError)


def test_version_is_fsynced_before_the_rename_and_the_base_after(tmp_path, monkeypatch):
    base = tmp_path / "model"
    events = []
    real_fsync, real_rename = atomic_files.fsync_path, os.rename
    monkeypatch.setattr(
        atomic_files,
        "fsync_path",
        lambda path: (events.append(("fsync", os.fspath(path))), real_fsync(path)),
    )
    monkeypatch.setattr(
        os,
        "rename",
        lambda source, destination: (
            events.append(("rename", os.fspath(destination))),
            real_rename(source, destination),
        ),
    )

    def write(folder):
        (folder / "variables").mkdir()
        (folder / "variables" / "variables.index").write_bytes(b"index")
        write_marker(folder)
        seen["temporary"] = os.fspath(folder)

    seen = {}
    final = write_version(base, write)
    rename = events.index(("rename", os.fspath(final)))
    synced = {path for kind, path in events[:rename] if kind == "fsync"}
    temporary = seen["temporary"]
    assert {
        os.path.join(temporary, "saved_model.pb"),
        os.path.join(temporary, "variables"),
        os.path.join(temporary, "variables", "variables.index"),
        temporary,
    } <= synced
    assert ("fsync", os.fspath(base)) in events[rename + 1 :]


def _age(path, seconds):
    past = time.time() - seconds
    for root, folders, files in os.walk(path):
        for name in folders + files:
            os.utime(os.path.join(root, name), (past, past))
    os.utime(path, (past, past))


def test_the_temporary_of_a_killed_export_is_removed_by_the_next_export(tmp_path):
    base = tmp_path / "model"
    base.mkdir()
    ready_read, ready_write = os.pipe()
    child = os.fork()
    if child == 0:  # an export killed midway (SIGKILL: no cleanup runs)
        try:

            def write(folder):
                (folder / "saved_model.pb").write_bytes(b"half")
                os.write(ready_write, b"x")
                time.sleep(60)

            write_version(base, write)
        finally:
            os._exit(1)
    os.read(ready_read, 1)
    os.kill(child, signal.SIGKILL)
    os.waitpid(child, 0)
    leftover = [child_path for child_path in base.iterdir()]
    assert len(leftover) == 1 and leftover[0].name.startswith(f".kerattn-{child}-1.")
    assert write_version(base, write_marker).name == "1"  # not stale yet: left alone
    assert leftover[0].exists()
    _age(leftover[0], 2 * 3600)
    assert write_version(base, write_marker).name == "2"
    assert sorted(child_path.name for child_path in base.iterdir()) == ["1", "2"]


def test_only_stale_kerattn_temporaries_are_removed(tmp_path):
    base = tmp_path / "model"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("keep")
    entries = {
        ".kerattn-export-abc123": "stale, from an older kerattn",  # removed
        ".kerattn-999999999-3.xyz": "stale, writer gone",  # removed
        f".kerattn-{os.getpid()}-4.live": "stale-looking but its writer runs",
        ".kerattn-999999998-5.young": "young",
        ".kerattn-999999997-6.deep": "old folder, but a file deep inside is fresh",
        ".hidden-by-the-user": "old, not ours",
        "notes": "old, not ours",
    }
    for name in entries:
        (base / name / "sub").mkdir(parents=True)
        (base / name / "sub" / "file").write_text(name)
    (base / ".kerattn-999999996-link").symlink_to(outside, target_is_directory=True)
    for name in entries:
        if name != ".kerattn-999999998-5.young":
            _age(base / name, 2 * 3600)
    os.utime(base / ".kerattn-999999997-6.deep" / "sub" / "file")  # written just now
    os.utime(base / ".kerattn-999999996-link", (0, 0), follow_symlinks=False)
    write_version(base, write_marker)
    assert sorted(path.name for path in base.iterdir()) == sorted(
        [
            "1",
            f".kerattn-{os.getpid()}-4.live",
            ".kerattn-999999998-5.young",
            ".kerattn-999999997-6.deep",
            ".hidden-by-the-user",
            "notes",
        ]
    )
    assert (outside / "precious.txt").read_text() == "keep"  # the link removed, not followed


def test_base_path_that_is_a_file_or_under_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("mine")
    with pytest.raises(ExportPathError) as raised:
        write_version(tmp_path / "file", write_marker)
    assert str(raised.value) == (
        f"--base-path {tmp_path / 'file'} is a file; pass a folder (TF Serving's base path of "
        "the model, e.g. export/models/NAME)."
    )
    with pytest.raises(ExportPathError) as raised:
        write_version(tmp_path / "file" / "models" / "x", write_marker)
    assert str(raised.value) == (
        f"--base-path {tmp_path / 'file' / 'models' / 'x'} lies under {tmp_path / 'file'}, "
        "which is a file; pass a path of folders."
    )
    assert (tmp_path / "file").read_text() == "mine"


def test_a_full_disk_while_writing_leaves_nothing_behind(tmp_path):
    base = tmp_path / "model"
    write_version(base, write_marker)

    def full(folder):
        (folder / "variables").mkdir()
        (folder / "variables" / "variables.data-00000-of-00001").write_bytes(b"half")
        raise OSError(
            errno.ENOSPC,
            "No space left on device",
            os.fspath(folder / "variables" / "variables.data-00000-of-00001"),
        )

    with pytest.raises(ExportError) as raised:
        write_version(base, full)
    assert str(raised.value) == (
        f"could not export version 2 into {base}: No space left on device (writing "
        "variables/variables.data-00000-of-00001); nothing was exported: free some disk space "
        "and export again."
    )
    assert [child.name for child in base.iterdir()] == ["1"]


def test_a_read_only_base_path_is_one_sentence(tmp_path, read_only):
    base = tmp_path / "models" / "model"
    base.mkdir(parents=True)
    read_only(base)
    with pytest.raises(ExportError) as raised:
        write_version(base, write_marker)
    assert str(raised.value) == (
        f"could not export version 1 into {base}: Read-only file system; nothing was exported: "
        "pass a --base-path in a folder you can write to."
    )
    read_only(tmp_path / "models")
    with pytest.raises(ExportError) as raised:
        write_version(tmp_path / "models" / "new", write_marker)
    assert str(raised.value) == (
        f"could not export version 1 into {tmp_path / 'models' / 'new'}: Read-only file system; "
        "nothing was exported: pass a --base-path in a folder you can write to."
    )
    assert list(base.iterdir()) == []


def test_a_version_taken_by_a_concurrent_export_is_named_as_such(tmp_path):
    base = tmp_path / "model"

    def racing(folder):
        (base / "1").mkdir()  # another export, started later, finished first
        write_marker(folder)

    with pytest.raises(VersionExistsError) as raised:
        write_version(base, racing)
    assert str(raised.value) == (
        f"version 1 of {base} was exported by another process while this export ran; export "
        "again for the next free one (2)."
    )
    assert sorted(child.name for child in base.iterdir()) == ["1"]
