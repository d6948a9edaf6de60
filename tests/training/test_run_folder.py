"""The run folder's rules: progress, overwrite removing only the run's own files, stale
temporaries, the lock, and the writability check."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import tempfile
import time

import pytest

from kerattn.errors import KerattnError, UsageError
from kerattn.training import run_folder
from kerattn.training.run_folder import RunFolderError, RunFolderLock, RunFolderPathError


def _touch(path, content="x", age_seconds=0.0):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    if age_seconds:
        moment = time.time() - age_seconds
        os.utime(path, (moment, moment))
    return path


def _folder(path, age_seconds=0.0):
    path.mkdir(parents=True)
    _touch(path / "part", age_seconds=age_seconds)
    if age_seconds:
        moment = time.time() - age_seconds
        os.utime(path, (moment, moment))
    return path


def _tree(folder):
    return sorted(
        os.path.relpath(os.path.join(root, name), folder)
        for root, folders, files in os.walk(folder)
        for name in folders + files
    )


def test_progress_is_checkpoints_models_or_metrics(tmp_path):
    run = tmp_path / "run"
    assert run_folder.progress(run) == []
    _touch(run / "recipe.toml")
    _touch(run / "vocabulary" / "source.txt")
    _touch(run / "logs" / "train" / "events.out.tfevents.1")
    assert run_folder.progress(run) == []  # set-up files only: nothing was trained
    _touch(run / "checkpoints" / "checkpoint")
    _touch(run / "metrics.json")
    assert run_folder.progress(run) == ["checkpoints/", "metrics.json"]


def test_remove_run_files_keeps_what_the_user_put_there(tmp_path):
    run = tmp_path / "run"
    own = [
        "recipe.toml",
        "best.keras",
        "final.keras",
        "metrics.json",
        "vocabulary/source.txt",
        "vocabulary/target.txt",
        "checkpoints/checkpoint",
        "checkpoints/ckpt-4.index",
        "checkpoints/ckpt-4.data-00000-of-00001",
        "checkpoints/ckpt-6.data-00000-of-00001",
        "logs/train/events.out.tfevents.1.host",
        "logs/valid/events.out.tfevents.2.host",
    ]
    users = [
        "notes.md",
        "best.keras.backup",
        "checkpoints/README",
        "vocabulary/extra.txt",
        "logs/train/my_plot.png",
        "data/train.tsv",
    ]
    for name in own + users:
        _touch(run / name)
    _folder(run / "checkpoints" / "ckpt-8_temp")
    removed = run_folder.remove_run_files(run, run / "logs")
    assert sorted(os.path.relpath(path, run) for path in removed) == sorted(
        own + ["checkpoints/ckpt-8_temp"]
    )
    assert _tree(run) == sorted(users + ["checkpoints", "vocabulary", "logs", "logs/train", "data"])


def test_remove_run_files_in_another_logdir_removes_event_files_only(tmp_path):
    logdir = tmp_path / "tensorboard"
    _touch(logdir / "train" / "events.out.tfevents.1")
    _touch(logdir / "valid" / "events.out.tfevents.1")
    _touch(logdir / "other_run" / "events.out.tfevents.1")
    run_folder.remove_run_files(tmp_path / "run", logdir)
    assert _tree(logdir) == ["other_run", "other_run/events.out.tfevents.1"]


def test_stale_temporaries_of_the_owned_run_folder_go_whatever_their_age(tmp_path):
    run = tmp_path / "run"
    stale = [
        _folder(run / "checkpoints" / "ckpt-8_temp"),  # TensorFlow's, from a killed save
        _folder(run / "checkpoints" / ("ckpt-9_temp_" + "0123abcd" * 4)),
        _folder(run / "checkpoints" / ".kerattn-999999-ckpt-9.partial.x1"),
        _touch(run / "vocabulary" / ".kerattn-999999-source.txt.partial.txt"),
        _touch(run / ".kerattn-best.keras.999999.partial.keras"),  # the older naming
        _touch(run / ".kerattn-999999-metrics.json.partial.json"),
        _touch(run / ".kerattn-999999-other.json.partial", age_seconds=7200),
    ]
    kept = [
        _touch(run / ".kerattn-999999-preset.partial"),  # another command's, fresh
        _touch(run / "checkpoints" / "ckpt-8_template.txt"),  # the user's
        _touch(run / "checkpoints" / "ckpt-7_temp"),  # a file, so not TensorFlow's folder
        _touch(run / "checkpoints" / "ckpt-8.index"),
        _touch(run / "my_temp"),
    ]
    removed = run_folder.remove_stale_temporaries(run, owned=True)
    assert sorted(removed) == sorted(stale)
    assert all(path.exists() for path in kept)
    assert not any(path.exists() for path in stale)


def test_without_the_lock_only_old_temporaries_go(tmp_path):
    run = tmp_path / "run"
    fresh = [
        _folder(run / "checkpoints" / "ckpt-8_temp"),
        _touch(run / ".kerattn-best.keras.999999.partial.keras"),
    ]
    old = [
        _folder(run / "checkpoints" / "ckpt-7_temp", age_seconds=7200),
        _touch(run / ".kerattn-final.keras.999999.partial.keras", age_seconds=7200),
    ]
    removed = run_folder.remove_stale_temporaries(run, owned=False)
    assert sorted(removed) == sorted(old)
    assert all(path.exists() for path in fresh)


def test_a_second_lock_on_the_run_folder_is_refused(tmp_path):
    first, second = RunFolderLock(tmp_path), RunFolderLock(tmp_path)
    assert first.acquire()
    try:
        with pytest.raises(
            RunFolderError,
            match=f"^Run folder {tmp_path} is in use by another "
            "kerattn train; wait for it to finish",
        ):
            second.acquire()
    finally:
        first.release()
    assert second.acquire()  # released: free again
    second.release()


def _can_create_a_file_in(folder):
    try:
        (folder / "write-probe").touch()
    except OSError:
        return False
    (folder / "write-probe").unlink()
    return True


def make_read_only(folder):
    """Makes `folder` refuse new files and returns an undo function. Its mode becomes 0o555;
    root, whom the mode does not stop, also sets the immutable attribute with chattr; where that
    does not stop a new file either (no chattr, a file system without the attribute), creating
    a file there with tempfile.mkstemp fails as the kernel would (EACCES), so the test runs
    everywhere, as root too."""
    folder.chmod(0o555)
    immutable = False
    if _can_create_a_file_in(folder) and shutil.which("chattr") is not None:
        immutable = (
            subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0
        )
    patch = pytest.MonkeyPatch()
    if _can_create_a_file_in(folder):
        real_mkstemp = tempfile.mkstemp

        def refusing_mkstemp(*args, dir=None, **kwargs):
            if dir is not None and os.path.abspath(dir) == os.path.abspath(folder):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(folder))
            return real_mkstemp(*args, dir=dir, **kwargs)

        patch.setattr(run_folder.tempfile, "mkstemp", refusing_mkstemp)

    def undo():
        patch.undo()
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], capture_output=True, check=True)
        folder.chmod(0o755)

    return undo


def test_writability_is_checked_with_a_real_file(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    run_folder.check_writable(run, "Run folder", "--run-dir", subfolders=("checkpoints",))
    assert _tree(run) == ["checkpoints"]  # the probe leaves nothing behind
    undo = make_read_only(run / "checkpoints")
    try:
        with pytest.raises(RunFolderError) as caught:
            run_folder.check_writable(run, "Run folder", "--run-dir", subfolders=("checkpoints",))
    finally:
        undo()
    assert isinstance(caught.value, KerattnError) and caught.value.exit_code == 1
    assert str(caught.value).startswith(
        f"Run folder {run} has a folder checkpoints that is not writable ("
    )
    undo = make_read_only(tmp_path)
    try:
        with pytest.raises(
            RunFolderError,
            match=rf"^Run folder {tmp_path}/new/run cannot be "
            rf"created: {tmp_path} is not writable \(",
        ):
            run_folder.check_writable(tmp_path / "new" / "run", "Run folder", "--run-dir")
    finally:
        undo()


def test_a_folder_that_is_or_lies_under_a_file_is_a_usage_error(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    for folder, message in [
        (notes, f"Run folder {notes} is a file; pass a folder as --run-dir."),
        (
            notes / "run",
            f"Run folder {notes / 'run'} lies under {notes}, which is a file; pass another "
            "--run-dir.",
        ),
    ]:
        with pytest.raises(RunFolderPathError) as caught:
            run_folder.check_writable(folder, "Run folder", "--run-dir")
        assert isinstance(caught.value, UsageError) and caught.value.exit_code == 2
        assert str(caught.value) == message
    assert notes.read_text() == "mine"
