"""What an export holds: each weight once (no optimizer), warm-up requests, the metadata file."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerattn.compat import nested_layers
from kerattn.export.exporter import (
    checkpoint_variable_names,
    describe_export,
    export_model,
    read_export_metadata,
)
from kerattn.export.serving_module import inference_tracing
from kerattn.export.warmup import DEFAULT_WARMUP_TEXTS, WARMUP_FILE_NAME, read_warmup_requests
from tests.export.conftest import tiny_classifier


def test_exported_classifier_stores_each_weight_once(exported_classifier, classifier):
    folder, _ = exported_classifier
    summary = describe_export(folder)
    assert summary["checkpoint_variables"] == summary["model_weights"] == len(classifier.weights)
    assert summary["parameters"] == classifier.count_params()


@pytest.mark.slow  # compile + fit + export: ~10-30 s
def test_variables_are_stored_once_without_optimizer_state_after_fit(review_tokenizer, tmp_path):
    model = tiny_classifier(review_tokenizer)
    model.compile(optimizer="adam")
    token_ids, labels = model.prepare_batch(
        tf.constant(["a great film", "boring"]), tf.constant([1, 0])
    )
    model.fit(token_ids, labels, epochs=1, verbose=0)
    assert model.optimizer.variables  # the optimizer has slots that must not be exported
    folder = export_model(model, tmp_path / "classifier")
    names = checkpoint_variable_names(folder)
    assert len(names) == len(model.weights)
    assert not [name for name in names if "optimizer" in name or "adam" in name.lower()]
    summary = describe_export(folder)
    assert summary["checkpoint_variables"] == summary["model_weights"] == len(model.weights)
    assert summary["parameters"] == model.count_params()
    # The weights are stored once: the variables data is the parameters plus a small index.
    assert summary["parameter_bytes_float32"] <= summary["variables_bytes"]
    assert summary["variables_bytes"] < 2 * summary["parameter_bytes_float32"] + 4096
    # And they are the trained values.
    reader = tf.train.load_checkpoint(str(folder / "variables" / "variables"))
    head_kernel = [name for name in names if "head.Skernel" in name]
    np.testing.assert_array_equal(reader.get_tensor(head_kernel[0]), model.head.kernel.numpy())


def test_warmup_records_parse_and_replay_through_the_signatures(exported_classifier):
    folder, _ = exported_classifier
    logs = read_warmup_requests(folder / "assets.extra" / WARMUP_FILE_NAME)
    assert len(logs) == 2
    loaded = tf.saved_model.load(str(folder))
    for log in logs:
        assert log.WhichOneof("log_type") == "predict_log"
        request = log.predict_log.request
        assert request.model_spec.name == "classifier"
        assert request.model_spec.signature_name == "serving_default"
        assert list(request.inputs) == ["text"]
        texts = tf.make_ndarray(request.inputs["text"])
        assert texts.dtype == object and texts.ndim == 1
        assert [t.decode() for t in texts] == list(DEFAULT_WARMUP_TEXTS[: len(texts)])
        outputs = loaded.signatures[request.model_spec.signature_name](text=tf.constant(texts))
        assert outputs["label"].shape == (len(texts),)


def test_metadata_records_the_export(exported_classifier, classifier):
    folder, _ = exported_classifier
    metadata = read_export_metadata(folder)
    assert metadata["model_kind"] == "classifier"
    assert metadata["labels"] == ["negative", "positive"]
    assert metadata["max_length"] == classifier.max_length
    assert metadata["versions"]["kerattn"] and metadata["versions"]["tensorflow"] == tf.__version__
    assert metadata["model_config"]["units"] == classifier.units
    assert metadata["signatures"]["serving_default"]["outputs"] == [
        "label", "label_id", "probabilities", "tokens", "token_weights", "truncated"
    ]  # fmt: skip
    assert metadata["variables"] == len(classifier.weights)


def test_classifier_signature(exported_classifier):
    folder, _ = exported_classifier
    signature = tf.saved_model.load(str(folder)).signatures["serving_default"]
    (spec,) = signature.structured_input_signature[1].values()
    assert list(signature.structured_input_signature[1]) == ["text"]
    assert spec.dtype == tf.string and spec.shape.as_list() == [None]
    shapes = {name: spec.shape.as_list() for name, spec in signature.structured_outputs.items()}
    assert shapes["label"] == [None] and shapes["probabilities"] == [None, 2]
    assert shapes["tokens"] == shapes["token_weights"] == [None, None]
    assert signature.structured_outputs["token_weights"].dtype == tf.float32


def test_keras_model_is_unchanged_by_export(review_tokenizer, tmp_path):
    model = tiny_classifier(review_tokenizer)
    lstms = [layer for layer in nested_layers(model) if isinstance(layer, keras.layers.LSTM)]
    before = [(layer.use_cudnn, layer.cell.dropout) for layer in lstms]
    assert lstms and before[0] == ("auto", model.dropout)
    with inference_tracing(model):  # what the export traces with: no cuDNN, no dropout masks
        assert [(layer.use_cudnn, layer.cell.dropout) for layer in lstms] == [(False, 0.0)] * len(
            lstms
        )
    export_model(model, tmp_path / "classifier")
    assert [(layer.use_cudnn, layer.cell.dropout) for layer in lstms] == before
