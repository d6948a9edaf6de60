"""Exports reload without kerattn, through the TF2 loader and the TF1 loader TF Serving uses, and
give the Keras model's outputs; the op audit passes on both."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kerattn.export import op_audit
from tests.conftest import run_fresh_python
from tests.export.conftest import CLASSIFIER_INPUTS, TRANSLATOR_INPUTS

TF2_LOADER = """
import json, sys
import numpy as np
import tensorflow as tf
import tensorflow_text  # registers the tf-text ops, as TF Serving links them in
inputs = json.loads(open({inputs!r}, encoding="utf-8").read())
loaded = tf.saved_model.load({directory!r})
arrays = {{}}
for signature in {signatures!r}:
    outputs = loaded.signatures[signature](text=tf.constant(inputs))
    arrays.update({{signature + "/" + k: v.numpy() for k, v in outputs.items()}})
np.savez({result!r}, **arrays)
print("kerattn imported:", any(name.startswith("kerattn") for name in sys.modules))
"""

# TF Serving's path: a TF1 session, the MetaGraph tagged "serve", the SignatureDef's tensor names.
# Saves the outputs to {result!r}; a loader adds what it prints (tests/zoo_presets use it too).
TF1_SESSION_RUN = """
import json, sys
import numpy as np
import tensorflow as tf
import tensorflow_text
tf.compat.v1.disable_eager_execution()
inputs = json.loads(open({inputs!r}, encoding="utf-8").read())
arrays = {{}}
with tf.compat.v1.Session(graph=tf.Graph()) as session:
    meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], {directory!r})
    for signature in {signatures!r}:
        signature_def = meta_graph.signature_def[signature]
        fetches = {{alias: info.name for alias, info in signature_def.outputs.items()}}
        feed = {{signature_def.inputs["text"].name: np.array(inputs, dtype=object)}}
        outputs = session.run(fetches, feed_dict=feed)
        arrays.update({{signature + "/" + k: v for k, v in outputs.items()}})
np.savez({result!r}, **arrays)
"""
TF1_LOADER = (
    TF1_SESSION_RUN
    + """\
print("kerattn imported:", any(name.startswith("kerattn") for name in sys.modules))
"""
)


def assert_same_outputs(reloaded, expected: dict) -> None:
    names = sorted(
        f"{signature}/{name}" for signature, outputs in expected.items() for name in outputs
    )
    assert sorted(reloaded.files) == names
    for signature, outputs in expected.items():
        for name, value in outputs.items():
            actual = reloaded[f"{signature}/{name}"]
            message = f"{signature}/{name}"
            assert actual.shape == value.shape, message
            if value.dtype.kind in "fc":
                np.testing.assert_allclose(actual, value, atol=1e-5, rtol=0, err_msg=message)
            else:
                np.testing.assert_array_equal(actual, value, err_msg=message)


def reload_in_fresh_process(loader: str, folder, expected: dict, inputs, tmp_path):
    (tmp_path / "inputs.json").write_text(json.dumps(inputs), encoding="utf-8")
    output = run_fresh_python(
        loader.format(
            inputs=str(tmp_path / "inputs.json"),
            directory=str(folder),
            signatures=sorted(expected),
            result=str(tmp_path / "reloaded.npz"),
        )
    )
    assert "kerattn imported: False" in output
    return np.load(tmp_path / "reloaded.npz", allow_pickle=True)


@pytest.mark.slow  # exporting and tracing beam search twice takes ~30-60 s on 2 shared cores
@pytest.mark.parametrize("loader", [TF2_LOADER, TF1_LOADER], ids=["tf2", "tf1_session"])
def test_translator_export_gives_the_keras_outputs_in_a_fresh_process(
    exported_translator, loader, tmp_path
):
    folder, expected = exported_translator
    reloaded = reload_in_fresh_process(loader, folder, expected, TRANSLATOR_INPUTS, tmp_path)
    assert_same_outputs(reloaded, expected)
    outputs = {name: reloaded[f"serving_default/{name}"] for name in expected["serving_default"]}
    batch, target_length, source_length = outputs["attention"].shape
    assert batch == len(TRANSLATOR_INPUTS)
    assert outputs["source_tokens"].shape == (batch, source_length)
    assert outputs["target_tokens"].shape == (batch, target_length)
    assert outputs["translation"].shape == outputs["score"].shape == (batch,)
    # The last input is longer than max_source_length: translated in its 21 sentences.
    assert outputs["truncated"].tolist() == [False, False, False, False, False]
    assert outputs["segments"].tolist() == [1, 1, 1, 1, 21]
    # Attention is exactly zero on padded source positions.
    padded = outputs["source_tokens"] == b""
    padded = np.broadcast_to(padded[:, None, :], outputs["attention"].shape)  # (B, T, S)
    assert np.all(outputs["attention"][padded] == 0)


@pytest.mark.parametrize("loader", [TF2_LOADER, TF1_LOADER], ids=["tf2", "tf1_session"])
def test_classifier_export_gives_the_keras_outputs_in_a_fresh_process(
    exported_classifier, loader, tmp_path
):
    folder, expected = exported_classifier
    reloaded = reload_in_fresh_process(loader, folder, expected, CLASSIFIER_INPUTS, tmp_path)
    assert_same_outputs(reloaded, expected)
    probabilities = reloaded["serving_default/probabilities"]
    assert probabilities.shape == (len(CLASSIFIER_INPUTS), 2)
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, atol=1e-6)
    assert set(reloaded["serving_default/label"].tolist()) <= {b"negative", b"positive"}
    assert reloaded["serving_default/truncated"].tolist() == [False, False, False, False, True]


def assert_op_audit_passes(folder) -> None:
    assert op_audit.disallowed_ops(folder) == []
    op_types = op_audit.saved_model_op_types(folder)
    assert not any(op.startswith("CudnnRNN") for op in op_types)
    assert not op_types & {"PyFunc", "PyFuncStateless", "EagerPyFunc"}
    assert "FastWordpieceTokenizeWithOffsets" in op_types


def test_op_audit_passes_on_the_classifier_export(exported_classifier):
    assert_op_audit_passes(exported_classifier[0])


@pytest.mark.slow
def test_op_audit_passes_on_the_translator_export(exported_translator):
    assert_op_audit_passes(exported_translator[0])
