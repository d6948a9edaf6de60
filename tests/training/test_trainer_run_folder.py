"""`train` and its run folder when things go wrong: damaged checkpoints and state file, a folder
with progress, stale temporaries, recipe mistakes, Ctrl-C, folders that cannot be written."""

from __future__ import annotations

import json
import os
import shutil
import signal

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerattn  # noqa: F401  (registers the kerattn classes for load_model)
import kerattn_cli as cli
from kerattn.data import input_pipeline
from kerattn.errors import KerattnError, UsageError
from kerattn.training import RecipeError, TrainingInterrupted, checkpoints, model_factory, train
from kerattn.training.checkpoints import CheckpointError
from kerattn.training.run_folder import RunFolderConflict, RunFolderError, RunFolderLock
from tests.training.conftest import write_recipe
from tests.training.test_run_folder import make_read_only


def _quiet(*args):
    pass


def _recipe(directory, **training):
    return write_recipe(
        directory,
        "reversal.toml",
        training={
            "steps": 6,
            "log_every": 1,
            "checkpoint_every": 2,
            "keep_checkpoints": 3,
            **training,
        },
        evaluation={"every": 100, "sample_size": 8, "probes": ["a b"]},
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished 6-step run with checkpoints 2, 4 and 6, and its final weights."""
    directory = tmp_path_factory.mktemp("trained")
    recipe = _recipe(directory)
    train(recipe, directory / "run", strategy="default", print_function=_quiet)
    weights = keras.saving.load_model(directory / "run" / "final.keras").get_weights()
    return recipe, directory / "run", weights


@pytest.fixture
def run_copy(trained, tmp_path):
    recipe, run, weights = trained
    shutil.copytree(run, tmp_path / "run")
    return recipe, tmp_path / "run", weights


def _snapshot(folder):
    return {
        os.path.relpath(os.path.join(root, name), folder): open(
            os.path.join(root, name), "rb"
        ).read()
        for root, _, files in os.walk(folder)
        for name in files
    }


def _flip_a_byte(path):
    content = bytearray(path.read_bytes())
    content[len(content) // 2] ^= 0xFF
    path.write_bytes(bytes(content))


def _one_line(capsys, start):
    captured = capsys.readouterr()
    assert captured.err.startswith(start), captured.err
    assert captured.err.count("\n") == 1, captured.err
    return captured.err


def test_resume_falls_back_past_a_damaged_checkpoint_and_state_file(run_copy):
    recipe, run, weights = run_copy
    _flip_a_byte(run / "checkpoints" / "ckpt-6.data-00000-of-00001")
    (run / "checkpoints" / "checkpoint").write_text("model_checkpoint_path: \x00garbage")
    lines = []
    result = train(recipe, run, resume=True, strategy="default", print_function=lines.append)
    warnings = [line for line in lines if line.startswith("warning: checkpoint ckpt-6")]
    assert len(warnings) == 1, lines
    assert warnings[0].startswith("warning: checkpoint ckpt-6 is unreadable (")
    assert warnings[0].endswith("); resuming from ckpt-4 at step 4")
    assert "resumed from step 4 (epoch 1, 4 batches into it)" in lines
    # Steps 5 and 6 again, exactly as the first time (a resumed run is bitwise the same).
    assert result.step == 6
    resumed = keras.saving.load_model(run / "final.keras").get_weights()
    for a, b in zip(resumed, weights):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    # ckpt-6 was written again, whole, and the state file names it.
    assert checkpoints.checkpoint_numbers(run / "checkpoints") == [2, 4, 6]
    assert tf.train.latest_checkpoint(str(run / "checkpoints")) == str(run / "checkpoints/ckpt-6")
    reader = tf.train.load_checkpoint(str(run / "checkpoints" / "ckpt-6"))
    for name in reader.get_variable_to_shape_map():
        reader.get_tensor(name)
    history = json.loads((run / "metrics.json").read_text())["training"]
    assert [record["step"] for record in history] == [1, 2, 3, 4, 5, 6]


def test_resume_finds_the_checkpoints_without_a_state_file(run_copy):
    recipe, run, _ = run_copy
    (run / "checkpoints" / "checkpoint").unlink()
    lines = []
    result = train(recipe, run, resume=True, strategy="default", print_function=lines.append)
    assert lines[0] == "resumed from step 6 (epoch 1, 6 batches into it)"
    assert result.step == 6


def test_no_readable_checkpoint_is_one_sentence_and_nothing_is_deleted(run_copy, capsys):
    recipe, run, _ = run_copy
    for number in (2, 4, 6):
        _flip_a_byte(run / "checkpoints" / f"ckpt-{number}.data-00000-of-00001")
    before = _snapshot(run)
    with pytest.raises(CheckpointError) as caught:
        train(recipe, run, resume=True, strategy="default", print_function=_quiet)
    message = str(caught.value)
    assert message.startswith(f"Run folder {run} has no readable checkpoint (ckpt-6: ")
    assert "ckpt-4: " in message and "ckpt-2: " in message and "nothing was deleted" in message
    assert _snapshot(run) == before
    assert (
        cli.main(["train", str(recipe), "--run-dir", str(run), "--resume", "--strategy", "default"])
        == 1
    )
    _one_line(capsys, f"kerattn train: Run folder {run} has no readable checkpoint (")
    assert _snapshot(run) == before


def test_a_run_with_progress_needs_resume_or_overwrite(run_copy, capsys):
    recipe, run, _ = run_copy
    before = _snapshot(run)
    with pytest.raises(RunFolderConflict) as caught:
        train(recipe, run, strategy="default", print_function=_quiet)
    assert isinstance(caught.value, UsageError)
    assert str(caught.value) == (
        f"Run folder {run} already has a run's progress (checkpoints/, best.keras, final.keras, "
        "metrics.json); pass --resume to continue it, or --overwrite to start it again "
        "(replacing the run's own files only), or choose another --run-dir."
    )
    assert cli.main(["train", str(recipe), "--run-dir", str(run), "--strategy", "default"]) == 2
    err = _one_line(capsys, f"kerattn train: Run folder {run} already has a run's progress")
    assert "--resume" in err and "--overwrite" in err
    with pytest.raises(UsageError, match="^--resume and --overwrite cannot be combined"):
        train(recipe, run, resume=True, overwrite=True, print_function=_quiet)
    assert _snapshot(run) == before


def test_overwrite_replaces_only_the_runs_own_files(run_copy):
    recipe, run, _ = run_copy
    (run / "notes.md").write_text("my notes")
    (run / "checkpoints" / "README").write_text("mine too")
    (run / "data").mkdir()
    (run / "data" / "extra.tsv").write_text("a\tb\n")
    old_best = (run / "best.keras").read_bytes()
    lines = []
    result = train(
        recipe, run, overwrite=True, max_steps=2, strategy="default", print_function=lines.append
    )
    assert result.step == 2 and result.stop_reason == "max_steps"
    assert any(line.startswith("warning: --overwrite: removed the earlier run's") for line in lines)
    assert checkpoints.checkpoint_numbers(run / "checkpoints") == [2]
    metrics = json.loads((run / "metrics.json").read_text())
    assert [record["step"] for record in metrics["training"]] == [1, 2]
    assert (run / "best.keras").read_bytes() != old_best
    for split in ("train", "valid"):  # the earlier run's event files are gone
        assert len(list((run / "logs" / split).glob("events.out.tfevents.*"))) == 1
    assert (run / "notes.md").read_text() == "my notes"
    assert (run / "checkpoints" / "README").read_text() == "mine too"
    assert (run / "data" / "extra.tsv").is_file()


def test_stale_temporaries_are_removed_when_the_run_starts(run_copy):
    recipe, run, _ = run_copy
    tf_temporary = run / "checkpoints" / "ckpt-8_temp"
    tf_temporary.mkdir()
    (tf_temporary / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"half")
    ours = run / "checkpoints" / ".kerattn-999999-ckpt-8.partial.abc"
    ours.mkdir()
    (ours / "ckpt-8.index").write_bytes(b"half")
    best = run / ".kerattn-999999-best.keras.partial.keras"
    best.write_bytes(b"half")
    foreign = run / ".kerattn-999999-preset.partial"  # another command's, fresh: kept
    foreign.write_text("being written")
    user = run / "checkpoints" / "ckpt-8_temp.notes"
    user.write_text("mine")
    lines = []
    train(recipe, run, resume=True, strategy="default", print_function=lines.append)
    assert not tf_temporary.exists() and not ours.exists() and not best.exists()
    assert foreign.exists() and user.exists()
    assert any(
        line.startswith("warning: removed 3 temporary file(s) an interrupted run left:")
        for line in lines
    ), lines


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            {"model": {"attention": "bahdanu"}},
            "[model] attention must be one of 'bahdanau', 'luong_dot', 'luong_general', "
            "'luong_concat', 'bahdanau_monotonic', 'luong_monotonic', 'none'; received "
            "'bahdanu'.",
        ),
        ({"model": {"dropout": 1.5}}, "[model] dropout must be in [0, 1); received 1.5."),
        ({"model": {"units": 33}}, "[model] units must be even for a translator"),
        ({"model": {"embedding_dim": 0}}, "[model] embedding_dim must be >= 1; received 0."),
        (
            {"model": {"input_feeding": "yes"}},
            "[model] input_feeding must be true or false; received 'yes' (str).",
        ),
        ({"training": {"steps": -3}}, "[training] steps must be >= 1; received -3."),
        (
            {"training": {"batch_size": "32"}},
            "[training] batch_size must be of type int; received '32' (str).",
        ),
        ({"training": {"colour": "red"}}, "Unknown key 'colour' in [training]; accepted keys are "),
        (
            {"optimizer": {"learning_rate": -1.0}},
            "[optimizer] learning_rate must be > 0; received -1.0.",
        ),
    ],
)
def test_recipe_mistakes_are_one_sentence_and_leave_nothing_on_disk(
    tmp_path, overrides, message, capsys
):
    recipe = write_recipe(tmp_path, "reversal.toml", **overrides)
    run = tmp_path / "run"
    with pytest.raises(RecipeError) as caught:
        train(recipe, run, strategy="default", print_function=_quiet)
    assert isinstance(caught.value, UsageError) and isinstance(caught.value, ValueError)
    assert str(caught.value).startswith(message)
    assert str(caught.value).endswith(".") and "\n" not in str(caught.value)
    assert not run.exists()
    assert cli.main(["train", str(recipe), "--run-dir", str(run)]) == 2
    _one_line(capsys, f"kerattn train: {message}")
    assert not run.exists()


def test_a_model_setting_only_the_model_refuses_leaves_nothing_on_disk(tmp_path, monkeypatch):
    def refusing_build(recipe, vocabulary, labels):
        raise ValueError("`units` must be an even int >= 2; received units=3.")

    monkeypatch.setattr(model_factory, "build_model", refusing_build)
    recipe = _recipe(tmp_path)
    with pytest.raises(RecipeError) as caught:
        train(recipe, tmp_path / "run", strategy="default", print_function=_quiet)
    assert str(caught.value) == (
        "The recipe's [model] settings do not make a translator "
        "(`units` must be an even int >= 2; received units=3)."
    )
    assert not (tmp_path / "run").exists()


def test_ctrl_c_stops_with_a_checkpoint_and_says_how_to_continue(tmp_path):
    recipe = _recipe(tmp_path, steps=8, checkpoint_every=100)
    run = tmp_path / "run"
    handler_before = signal.getsignal(signal.SIGINT)
    lines = []

    def press_ctrl_c_at(step):
        def show(line):
            lines.append(line)
            if line.startswith(f"step {step}/"):
                os.kill(os.getpid(), signal.SIGINT)

        return show

    with pytest.raises(TrainingInterrupted) as caught:
        train(recipe, run, strategy="default", print_function=press_ctrl_c_at(3))
    assert isinstance(caught.value, KerattnError) and caught.value.exit_code == 130
    assert str(caught.value) == (
        f"training interrupted at step 3; continue with: kerattn train "
        f"{recipe} --run-dir {run} --resume"
    )
    assert any(line.startswith("warning: Ctrl-C: stopping after this step") for line in lines)
    assert signal.getsignal(signal.SIGINT) is handler_before
    assert checkpoints.checkpoint_numbers(run / "checkpoints") == [3]
    assert not (run / "final.keras").exists()

    # A KeyboardInterrupt in the middle of a step (a second Ctrl-C): no checkpoint is written
    # from half-updated variables; the last one stands.
    def interrupt_at_step_5(line):
        if line.startswith("step 5/"):
            raise KeyboardInterrupt

    with pytest.raises(
        TrainingInterrupted,
        match="^training interrupted at step 3; continue with: kerattn train .* --resume$",
    ):
        train(recipe, run, resume=True, strategy="default", print_function=interrupt_at_step_5)
    assert checkpoints.checkpoint_numbers(run / "checkpoints") == [3]
    result = train(recipe, run, resume=True, strategy="default", print_function=_quiet)
    assert result.step == 8
    history = json.loads((run / "metrics.json").read_text())["training"]
    assert [record["step"] for record in history] == list(range(1, 9))


def test_ctrl_c_before_the_first_checkpoint_says_to_start_again(tmp_path):
    recipe = _recipe(tmp_path, checkpoint_every=100)

    def interrupt_at_step_1(line):
        if line.startswith("step 1/"):
            raise KeyboardInterrupt

    with pytest.raises(TrainingInterrupted) as caught:
        train(recipe, tmp_path / "run", strategy="default", print_function=interrupt_at_step_1)
    assert str(caught.value) == (
        "training interrupted before its first checkpoint; start again with: kerattn train "
        f"{recipe} --run-dir {tmp_path / 'run'}"
    )
    train(recipe, tmp_path / "run", max_steps=1, strategy="default", print_function=_quiet)


@pytest.mark.parametrize("which", ["run folder", "log folder"])
def test_a_folder_that_cannot_be_written_is_refused_up_front(tmp_path, monkeypatch, capsys, which):
    def not_reached(*args, **kwargs):
        raise AssertionError("the data was read before the folders were checked")

    recipe = _recipe(tmp_path)
    run, logdir = tmp_path / "run", tmp_path / "tensorboard"
    folder = run if which == "run folder" else logdir
    folder.mkdir()
    monkeypatch.setattr(input_pipeline, "read_examples", not_reached)
    undo = make_read_only(folder)
    try:
        with pytest.raises(RunFolderError) as caught:
            train(recipe, run, logdir=logdir, strategy="default", print_function=_quiet)
        assert (
            cli.main(
                [
                    "train",
                    str(recipe),
                    "--run-dir",
                    str(run),
                    "--logdir",
                    str(logdir),
                    "--strategy",
                    "default",
                ]
            )
            == 1
        )
    finally:
        undo()
    what = "Run folder" if which == "run folder" else "TensorBoard folder"
    option = "--run-dir" if which == "run folder" else "--logdir"
    assert str(caught.value).startswith(f"{what} {folder} is not writable (")
    assert str(caught.value).endswith(f"); pass another {option} or make it writable.")
    _one_line(capsys, f"kerattn train: {what} {folder} is not writable (")


@pytest.mark.parametrize("option", ["--run-dir", "--logdir"])
def test_a_folder_option_naming_a_file_exits_2_before_any_work(
    tmp_path, monkeypatch, capsys, option
):
    def not_reached(*args, **kwargs):
        raise AssertionError("the data was read before the folders were checked")

    recipe = _recipe(tmp_path)
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    folders = {"--run-dir": tmp_path / "run", "--logdir": tmp_path / "tensorboard", option: notes}
    monkeypatch.setattr(input_pipeline, "read_examples", not_reached)
    argv = ["train", str(recipe), "--strategy", "default"]
    assert cli.main(argv + [arg for pair in folders.items() for arg in map(str, pair)]) == 2
    what = "Run folder" if option == "--run-dir" else "TensorBoard folder"
    assert _one_line(capsys, "kerattn train: ") == (
        f"kerattn train: {what} {notes} is a file; pass a folder as {option}.\n"
    )
    assert notes.read_text() == "mine" and not (tmp_path / "run").exists()


def test_a_run_folder_in_use_is_refused(tmp_path):
    recipe = _recipe(tmp_path)
    run = tmp_path / "run"
    run.mkdir()
    lock = RunFolderLock(run)
    assert lock.acquire()
    try:
        with pytest.raises(RunFolderError, match=f"^Run folder {run} is in use by another "):
            train(recipe, run, strategy="default", print_function=_quiet)
    finally:
        lock.release()
    assert list(run.iterdir()) == []
