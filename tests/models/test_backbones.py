"""The backbones: functional models of kerattn layers that train on token ids on any backend."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from kerattn.models import ClassifierBackbone, Seq2SeqBackbone
from tests.test_import_graph import import_graph, module_names

ROOT = Path(__file__).resolve().parents[2]


def test_backbones_import_neither_tensorflow_nor_the_text_package():
    graph, paths = import_graph(), module_names()
    reached, pending = set(), ["kerattn.models"]
    while pending:  # every kerattn module the backbones import at module level, transitively
        name = pending.pop()
        if name not in reached:
            reached.add(name)
            pending += graph[name]
    assert "kerattn.models.seq2seq_backbone" in reached
    assert not [name for name in reached if name.startswith(("kerattn.text", "kerattn.zoo"))]
    for name in reached:
        tree = ast.parse(paths[name].read_text(encoding="utf-8"))
        imported = {
            alias.name for node in tree.body if isinstance(node, ast.Import) for alias in node.names
        }
        imported |= {node.module for node in tree.body if isinstance(node, ast.ImportFrom)}
        assert not [module for module in imported if module and module.startswith("tensorflow")]


def test_backbones_train_under_jax_and_ignore_padding():
    result = subprocess.run(
        [sys.executable, "-m", "tests.models.backbone_training"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "KERAS_BACKEND": "jax"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["backend"] == "jax"
    for name in ("seq2seq_loss", "classifier_loss"):
        before, after = report[name]
        assert after < 0.85 * before, (name, before, after)
    assert report["seq2seq_padding_difference"] < 1e-5
    assert report["classifier_padding_difference"] < 1e-5
    assert report["seq2seq_ensemble_difference"] < 1e-5
    assert report["classifier_ensemble_difference"] < 1e-5


def tiny_seq2seq(**kwargs) -> Seq2SeqBackbone:
    keras.utils.set_random_seed(0)
    return Seq2SeqBackbone(20, 30, embedding_dim=8, units=16, **kwargs)


SOURCE = np.array([[5, 6, 7, 2], [8, 2, 0, 0]], "int32")
TARGET = np.array([[1, 9, 10], [1, 11, 0]], "int32")


@pytest.mark.parametrize("attention", ["bahdanau", "luong_general", "none"])
def test_seq2seq_logits_of_real_positions_ignore_padding(attention):
    backbone = tiny_seq2seq(attention=attention)
    logits = np.asarray(backbone({"source_ids": SOURCE, "target_input_ids": TARGET}))
    padded = np.asarray(
        backbone(
            {
                "source_ids": np.pad(SOURCE, [(0, 0), (0, 3)]),
                "target_input_ids": np.pad(TARGET, [(0, 0), (0, 2)]),
            }
        )
    )
    real = TARGET > 0
    np.testing.assert_allclose(padded[:, :3][real], logits[real], atol=1e-6)


def test_seq2seq_step_by_step_decoding_gives_the_teacher_forced_logits():
    backbone = tiny_seq2seq()
    logits = np.asarray(backbone({"source_ids": SOURCE[:1], "target_input_ids": TARGET[:1]}))
    state = backbone.initial_decoder_state(backbone.encode(SOURCE[:1]))
    for step in range(TARGET.shape[1]):
        step_logits, state, weights = backbone.decoder_step(TARGET[:1, step], state)
        np.testing.assert_allclose(np.asarray(step_logits), logits[:, step], atol=1e-5)
        np.testing.assert_allclose(np.asarray(weights).sum(-1), 1.0, atol=1e-5)


def test_classifier_logits_ignore_padding_and_pooling_weights_sum_to_one():
    keras.utils.set_random_seed(0)
    backbone = ClassifierBackbone(20, 3, embedding_dim=8, units=8)
    logits, weights = backbone.logits_and_pooling_weights(SOURCE)
    np.testing.assert_allclose(np.asarray(backbone(SOURCE)), np.asarray(logits), atol=0)
    np.testing.assert_allclose(
        np.asarray(backbone(np.pad(SOURCE, [(0, 0), (0, 4)]))), np.asarray(logits), atol=1e-6
    )
    weights = np.asarray(weights)
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-6)
    assert np.all(weights[SOURCE == 0] == 0)


@pytest.mark.parametrize(
    "make, inputs",
    [
        (tiny_seq2seq, {"source_ids": SOURCE, "target_input_ids": TARGET}),
        (lambda: ClassifierBackbone(20, 2, embedding_dim=8, units=8), SOURCE),
    ],
)
def test_keras_file_round_trip_without_custom_objects(make, inputs, tmp_path):
    backbone = make()
    backbone.save(tmp_path / "backbone.keras")
    restored = keras.saving.load_model(tmp_path / "backbone.keras")
    assert type(restored) is type(backbone)
    assert restored.get_config() == backbone.get_config()
    np.testing.assert_array_equal(np.asarray(restored(inputs)), np.asarray(backbone(inputs)))


@pytest.mark.parametrize(
    "make, message",
    [
        (
            lambda: Seq2SeqBackbone(20, 30, units=7),
            r"`units` must be an even int >= 2; received units=7\.",
        ),
        (
            lambda: Seq2SeqBackbone(20, 30, attention="transformer"),
            r"`attention` must be one of 'bahdanau', .*; received attention='transformer'\.",
        ),
        (
            lambda: Seq2SeqBackbone(1, 30),
            r"`source_vocabulary_size` must be an int >= 2; received 1\.",
        ),
        (lambda: ClassifierBackbone(20, 1), r"`num_classes` must be an int >= 2; received 1\."),
    ],
)
def test_bad_arguments_fail_in_one_sentence(make, message):
    with pytest.raises(ValueError, match=message):
        make()
