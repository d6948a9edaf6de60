"""Versioned, atomic export folders: next free number, explicit numbers, no overwrite, no debris."""

from __future__ import annotations

import pytest

from kerattn.export import version_folder
from kerattn.export.version_folder import VersionExistsError, parse_version, write_version


def numeric_children(base):
    return sorted(child.name for child in base.iterdir() if parse_version(child.name) is not None)


def write_marker(folder):
    (folder / "saved_model.pb").write_bytes(b"x")


def test_tf_serving_version_names():
    assert parse_version("1") == 1 and parse_version("00000123") == 123
    for skipped in ("tmp", "1.partial", ".kerattn-export-abc", "", "v2"):
        assert parse_version(skipped) is None
    assert parse_version(version_folder.TEMPORARY_PREFIX + "12345") is None


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
