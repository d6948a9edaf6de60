"""`kerattn export` failures through the real command line: one sentence, the right exit code,
no traceback, and nothing half written left behind."""

from __future__ import annotations

import os

import pytest
import tensorflow as tf

import kerattn_cli as cli


def sentence(capsys) -> str:
    """The one line on stderr, checked to be `kerattn export: ...` and no traceback."""
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "Traceback" not in captured.out
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("kerattn export: ")
    return lines[0][len("kerattn export: ") :]


@pytest.fixture
def loads_classifier(classifier, monkeypatch):
    """`kerattn export MODEL` gets the tiny classifier for any MODEL (no .keras round trip)."""
    monkeypatch.setattr("kerattn.zoo.model_loading.load_model", lambda *args, **kwargs: classifier)


def export(base, *flags):
    return cli.main(["export", "model.keras", "--base-path", os.fspath(base), *flags])


def test_read_only_base_path(tmp_path, capsys, read_only, loads_classifier):
    base = tmp_path / "models" / "sentiment"
    base.mkdir(parents=True)
    read_only(tmp_path / "models")
    assert export(base) == 1
    assert sentence(capsys) == (
        f"could not export version 1 into {base}: Read-only file system; nothing was exported: "
        "pass a --base-path in a folder you can write to."
    )
    new = tmp_path / "models" / "new"
    assert export(new) == 1
    assert sentence(capsys) == (
        f"could not export version 1 into {new}: Read-only file system; nothing was exported: "
        "pass a --base-path in a folder you can write to."
    )
    assert list(base.iterdir()) == [] and not new.exists()


def test_base_path_naming_an_existing_file(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    # Refused before the model is loaded: `model.keras` does not even exist.
    assert export(tmp_path / "notes.txt") == 2
    assert sentence(capsys) == (
        f"--base-path {tmp_path / 'notes.txt'} is a file; pass a folder (TF Serving's base path "
        "of the model, e.g. export/models/NAME)."
    )
    assert export(tmp_path / "notes.txt" / "sentiment") == 2
    assert sentence(capsys) == (
        f"--base-path {tmp_path / 'notes.txt' / 'sentiment'} lies under {tmp_path / 'notes.txt'}, "
        "which is a file; pass a path of folders."
    )
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_existing_version_is_refused_before_the_model_is_loaded(tmp_path, capsys):
    base = tmp_path / "models" / "sentiment"
    (base / "1").mkdir(parents=True)
    assert export(base, "--version", "1") == 2
    assert sentence(capsys) == (
        f"version 1 already exists at {base / '1'}; versions are never overwritten: choose "
        "another --version or omit it for the next free one (2)."
    )
    assert export(base, "--version", "0") == 2
    assert sentence(capsys) == "`version` must be a positive int; received version=0."


def test_full_disk_while_writing_the_metadata(tmp_path, capsys, full_disk, loads_classifier):
    base = tmp_path / "models" / "sentiment"
    (base / "1").mkdir(parents=True)
    full_disk(lambda path: path.name == "kerattn_export.json")
    assert export(base) == 1
    assert sentence(capsys) == (
        f"could not export version 2 into {base}: No space left on device; nothing was "
        "exported: free some disk space and export again."
    )
    assert [child.name for child in base.iterdir()] == ["1"]  # no version 2, no temporary


def test_full_disk_while_tensorflow_writes_the_variables(
    tmp_path, capsys, monkeypatch, loads_classifier
):
    base = tmp_path / "models" / "sentiment"

    def save(module, folder, signatures=None, options=None):  # TensorFlow on a full disk
        partial = os.path.join(
            folder,
            "variables",
            "variables_temp",
            "part-00000-of-00001.data-00000-of-00001.tempstate1",
        )
        os.makedirs(os.path.dirname(partial))
        with open(partial, "wb") as file:
            file.write(b"half")
        raise tf.errors.ResourceExhaustedError(
            None,
            None,
            "{{function_node __wrapped__SaveV2_dtypes_2_device_/job:localhost}} "
            f"{partial}; No space left on device [Op:SaveV2]",
        )

    monkeypatch.setattr(tf.saved_model, "save", save)
    assert export(base) == 1
    assert sentence(capsys) == (
        f"could not export version 1 into {base}: No space left on device (writing "
        "variables/variables_temp/part-00000-of-00001.data-00000-of-00001.tempstate1); nothing "
        "was exported: free some disk space and export again."
    )
    assert not (tmp_path / "models").exists()  # the folders the export created are gone


def _config(*targets):
    return ["export", "--models-config", *targets]


def test_models_config_into_a_read_only_folder(tmp_path, capsys, read_only):
    config = tmp_path / "export" / "models.config"
    (tmp_path / "export" / "models" / "sentiment").mkdir(parents=True)
    config.write_text("# the config TF Serving runs with\n")
    read_only(tmp_path / "export")
    target = f"sentiment={tmp_path / 'export' / 'models' / 'sentiment'}"
    assert cli.main(_config(os.fspath(config), target)) == 1
    assert sentence(capsys) == f"cannot write or read {os.fspath(config)!r}: Read-only file system."
    assert config.read_text() == "# the config TF Serving runs with\n"
    read_only(tmp_path)
    elsewhere = tmp_path / "new" / "models.config"
    assert (
        cli.main(
            _config(
                os.fspath(elsewhere),
                target,
                "--models-dir",
                os.fspath(tmp_path / "export" / "models"),
            )
        )
        == 1
    )
    assert sentence(capsys) == (
        f"cannot write or read {os.fspath(tmp_path / 'new')!r}: Read-only file system."
    )


def test_models_config_on_a_full_disk_keeps_the_old_config(tmp_path, capsys, full_disk):
    config = tmp_path / "export" / "models.config"
    (tmp_path / "export" / "models" / "sentiment").mkdir(parents=True)
    config.write_text("# the config TF Serving runs with\n")
    full_disk(lambda path: path.parent == config.parent)
    target = f"sentiment={tmp_path / 'export' / 'models' / 'sentiment'}"
    assert cli.main(_config(os.fspath(config), target)) == 1
    assert sentence(capsys) == (
        f"cannot write or read {os.fspath(config)!r}: No space left on device."
    )
    assert config.read_text() == "# the config TF Serving runs with\n"  # not truncated
    assert sorted(path.name for path in config.parent.iterdir()) == ["models", "models.config"]


def test_models_config_path_problems(tmp_path, capsys):
    models = tmp_path / "export" / "models"
    (models / "sentiment").mkdir(parents=True)
    target = f"sentiment={models / 'sentiment'}"
    assert cli.main(_config(os.fspath(tmp_path / "export"), target)) == 2
    assert sentence(capsys) == (
        f"--models-config {tmp_path / 'export'} is a folder; pass the path of the file to "
        "write, e.g. export/models.config."
    )
    (tmp_path / "notes.txt").write_text("mine")
    under_a_file = tmp_path / "notes.txt" / "models.config"
    assert cli.main(_config(os.fspath(under_a_file), target)) == 2
    assert sentence(capsys) == (
        f"--models-config {under_a_file} lies under {tmp_path / 'notes.txt'}, which is a file; "
        "pass a path of folders."
    )
    config = tmp_path / "export" / "models.config"
    assert cli.main(_config(os.fspath(config), f"other={tmp_path / 'other'}")) == 2
    assert sentence(capsys) == (
        f"base path {os.fspath(tmp_path / 'other')!r} of model 'other' is outside "
        f"{os.fspath(models)!r}, the folder the container mounts at /models; export it under "
        "that folder."
    )
    assert cli.main(_config(os.fspath(config), "sentiment")) == 2
    assert sentence(capsys) == "expected NAME=BASE_PATH, received 'sentiment'."
    assert not config.exists() and (tmp_path / "notes.txt").read_text() == "mine"
    assert cli.main(_config(os.fspath(config), target)) == 0
    assert 'base_path: "/models/sentiment"' in config.read_text()
