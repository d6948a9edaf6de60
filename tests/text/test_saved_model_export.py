"""A tokenize→detokenize `tf.function` exported as a SavedModel: fresh reload and op audit."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

from kerattn.export import op_audit
from tests.conftest import run_fresh_python

INPUTS = [
    "Hello, world! Don't close the dialog.",
    "¿Dónde está la estación? ¡Pulse «Aceptar»!",
    "",
    "   ",
    "Жук 你好 😀 hello",
    "HELLO",
]


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tokenizer, grapheme_tokenizer, phoneme_tokenizer):
    """(directory, outputs computed before export) of a SavedModel using all three tokenizers."""
    module = tf.Module()
    module.tokenizer = tokenizer
    module.graphemes = grapheme_tokenizer
    module.phonemes = phoneme_tokenizer

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def serve(strings):
        ids = tokenizer.tokenize(strings, add_start_end=True)
        graphemes = grapheme_tokenizer.tokenize(strings)
        phonemes = phoneme_tokenizer.tokenize(strings)
        return {
            "ids": ids.to_tensor(),
            "text": tokenizer.detokenize(ids.to_tensor()),
            "grapheme_ids": graphemes.to_tensor(),
            "graphemes": grapheme_tokenizer.detokenize(graphemes),
            "phoneme_ids": phonemes.to_tensor(),
            "phonemes": phoneme_tokenizer.detokenize(phonemes),
        }

    module.serve = serve
    directory = tmp_path_factory.mktemp("saved_model") / "tokenizers" / "1"
    tf.saved_model.save(module, str(directory), signatures={"serving_default": serve})
    expected = {name: value.numpy() for name, value in serve(tf.constant(INPUTS)).items()}
    return directory, expected


def test_saved_model_reloads_in_a_process_with_only_tensorflow_and_tensorflow_text(
    exported, tmp_path
):
    directory, expected = exported
    (tmp_path / "inputs.json").write_text(json.dumps(INPUTS), encoding="utf-8")
    output = run_fresh_python(
        f"""
import json, sys
import numpy as np
import tensorflow as tf
import tensorflow_text  # registers the tf-text ops; TF Serving links them in
inputs = json.loads(open({str(tmp_path / "inputs.json")!r}, encoding="utf-8").read())
loaded = tf.saved_model.load({str(directory)!r})
outputs = loaded.signatures["serving_default"](tf.constant(inputs))
np.savez({str(tmp_path / "reloaded.npz")!r}, **{{k: v.numpy() for k, v in outputs.items()}})
print("kerattn imported:", any(name.startswith("kerattn") for name in sys.modules))
"""
    )
    assert "kerattn imported: False" in output
    reloaded = np.load(tmp_path / "reloaded.npz", allow_pickle=True)
    assert sorted(reloaded.files) == sorted(expected)
    for name, value in expected.items():
        np.testing.assert_array_equal(reloaded[name], value, err_msg=name)
    assert reloaded["text"][0].decode() == INPUTS[0]
    assert reloaded["graphemes"][5].decode() == "hello"


def test_op_audit_finds_no_disallowed_ops(exported):
    directory, _ = exported
    assert op_audit.disallowed_ops(directory) == []
    op_types = op_audit.saved_model_op_types(directory)
    # The only non-core ops the tokenizers use, both in tf-text 2.20.
    assert op_types & op_audit.TF_TEXT_2_20_OPS == {
        "NormalizeUTF8", "FastWordpieceTokenizeWithOffsets"
    }  # fmt: skip
    assert not op_types & {"PyFunc", "EagerPyFunc", "PyFuncStateless"}
