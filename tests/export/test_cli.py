"""`kerattn export`: export from a .keras file, `--check`, and argument errors."""

from __future__ import annotations

import pytest
import tensorflow as tf

import kerattn_cli as cli
from kerattn.export.exporter import read_export_metadata


def test_check_lists_op_types_and_passes(exported_classifier, capsys):
    folder, _ = exported_classifier
    assert cli.main(["export", "--check", str(folder)]) == 0
    output = capsys.readouterr().out
    assert "FastWordpieceTokenizeWithOffsets" in output.splitlines()
    assert "all servable by stock TF Serving" in output


def test_check_fails_naming_the_refused_op(tmp_path, capsys):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
    def serve(values):
        return tf.py_function(lambda x: x * 2.0, [values], tf.float32)

    module = tf.Module()
    module.serve = serve
    tf.saved_model.save(module, str(tmp_path / "1"), signatures={"serving_default": serve})
    assert cli.main(["export", "--check", str(tmp_path / "1")]) == 1
    captured = capsys.readouterr()
    assert "EagerPyFunc  REFUSED" in captured.out
    assert "EagerPyFunc" in captured.err
    assert cli.main(["export", "--check", str(tmp_path / "missing")]) == 1
    assert "not a SavedModel directory" in capsys.readouterr().err


def test_argument_errors(tmp_path, capsys):
    assert cli.main(["export", "model.keras"]) == 2
    assert "--base-path" in capsys.readouterr().err
    assert cli.main(["export", str(tmp_path / "missing.keras"), "--base-path", str(tmp_path)]) == 2
    assert "existing .keras file" in capsys.readouterr().err


@pytest.mark.slow
def test_export_from_a_keras_file(classifier, tmp_path, capsys):
    classifier.save(tmp_path / "classifier.keras")
    base = tmp_path / "models" / "sentiment"
    arguments = ["export", str(tmp_path / "classifier.keras"), "--base-path", str(base)]
    assert cli.main(arguments) == 0
    output = capsys.readouterr().out
    assert f"exported {base / '1'}" in output and "op audit: passed" in output
    assert read_export_metadata(base / "1")["model_kind"] == "classifier"
    assert cli.main(arguments + ["--version", "1"]) == 2
    assert "version 1 already exists" in capsys.readouterr().err
    assert cli.main(arguments + ["--version", "5"]) == 0
    assert sorted(child.name for child in base.iterdir()) == ["1", "5"]


@pytest.mark.slow
def test_export_flags_add_signatures_and_fix_decoding_options(translator, tmp_path, capsys):
    translator.save(tmp_path / "translator.keras")
    base = tmp_path / "models" / "translator"
    arguments = ["export", str(tmp_path / "translator.keras"), "--base-path", str(base)]
    options = ["--signatures", "nbest", "score", "--n-best", "2", "--no-repeat-ngram-size", "2"]
    assert cli.main(arguments + options + ["--avoid", "casa", "--min-length", "1"]) == 0
    assert "nbest" in capsys.readouterr().out
    signatures = read_export_metadata(base / "1")["signatures"]
    assert {"serving_default", "greedy", "nbest", "score"} <= set(signatures)
    assert signatures["nbest"]["num_hypotheses"] == 2
    assert signatures["serving_default"]["no_repeat_ngram_size"] == 2
    assert signatures["greedy"]["min_length"] == 1


def test_translator_flags_on_a_classifier_are_refused(classifier, tmp_path, capsys):
    classifier.save(tmp_path / "classifier.keras")
    base = tmp_path / "models" / "sentiment"
    arguments = ["export", str(tmp_path / "classifier.keras"), "--base-path", str(base)]
    assert cli.main(arguments + ["--signatures", "score"]) == 2
    assert "translator settings" in capsys.readouterr().err
    assert not base.exists()
