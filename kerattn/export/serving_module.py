"""The `tf.Module` kerattn saves for TF Serving: inference variables, tokenizers, signatures.

Only what serving needs is attached: each model weight once (the underlying `tf.Variable`, keyed
by its Keras path) and the tokenizers, whose lookup tables are TensorFlow resources that
`tf.saved_model.save` must be able to track. The Keras model itself is not attached - it would
bring its optimizer, metrics and compiled functions - and neither `model.export` nor
`ExportArchive` is used, because they store each weight twice (docs/stack.md §2).

Every signature takes one input, `text` tf.string [B], and returns batch-major outputs only, so
TF Serving's REST row format (`{"instances": [...]}`) works.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import keras
import tensorflow as tf

from kerattn.compat import nested_layers

TEXT_SPEC = tf.TensorSpec([None], tf.string, name="text")

TRANSLATOR_OUTPUTS = (
    "translation", "score", "log_prob", "target_ids", "target_tokens", "source_tokens",
    "attention", "truncated",
)  # fmt: skip
CLASSIFIER_OUTPUTS = ("label", "label_id", "probabilities", "tokens", "token_weights", "truncated")
# The names of each output's dimensions after the batch one, where they are padded to the longest
# row of the batch; `kerattn serve --enable_batching` cuts each request's rows back to their own
# lengths with them, so batched answers equal unbatched ones (docs/serving.md §15).
TRANSLATOR_PADDED_AXES = {
    "target_ids": ["target"], "target_tokens": ["target"], "source_tokens": ["source"],
    "attention": ["target", "source"],
}  # fmt: skip
CLASSIFIER_PADDED_AXES = {"tokens": ["source"], "token_weights": ["source"]}


def model_kind(model: Any) -> str:
    """ "translator" or "classifier" for a kerattn zoo model; TypeError for anything else."""
    from kerattn.zoo.classifier import Classifier
    from kerattn.zoo.translator import Translator

    if isinstance(model, Translator):
        return "translator"
    if isinstance(model, Classifier):
        return "classifier"
    raise TypeError(
        "kerattn can export a Translator or a Classifier; "
        f"received an object of type {type(model).__name__}."
    )


@contextlib.contextmanager
def inference_tracing(model: keras.Model) -> Iterator[None]:
    """Sets up `model`'s recurrent layers for tracing the served graph; undone afterwards.

    - `use_cudnn=False`: a Keras LSTM traced with cuDNN available exports `CudnnRNN*` ops, which
      have no CPU kernel and do not load in CPU TF Serving (on a CPU-only machine Keras already
      takes the generic path; this makes the export independent of where it runs).
    - cell `dropout`/`recurrent_dropout` 0: Keras's RNN draws its dropout masks on every call,
      even at inference where they are unused, which would put the cells' seed-generator state
      (not a model weight) and a random op into every served request.
    Both change nothing in the outputs at inference.
    """
    changes: list[tuple[Any, str, Any]] = []

    def override(target: Any, attribute: str, value: Any) -> None:
        if getattr(target, attribute) != value:
            changes.append((target, attribute, getattr(target, attribute)))
            setattr(target, attribute, value)

    for layer in nested_layers(model):
        if isinstance(layer, keras.layers.RNN):
            if hasattr(layer, "use_cudnn"):
                override(layer, "use_cudnn", False)
            cells = getattr(layer.cell, "cells", [layer.cell])
            for cell in cells:
                for attribute in ("dropout", "recurrent_dropout"):
                    if hasattr(cell, attribute):
                        override(cell, attribute, 0.0)
    try:
        yield
    finally:
        for target, attribute, value in reversed(changes):
            setattr(target, attribute, value)


def inference_variables(model: keras.Model) -> dict[str, tf.Variable]:
    """Each model weight's `tf.Variable` once, keyed by its Keras path ("model/head/kernel")."""
    variables: dict[str, tf.Variable] = {}
    for weight in model.weights:
        variable = weight.value if isinstance(weight, keras.Variable) else weight
        if not isinstance(variable, tf.Variable):
            raise TypeError(
                "export needs the TensorFlow backend: weight "
                f"{weight.path!r} is a {type(variable).__name__}, not a tf.Variable."
            )
        key = weight.path
        if key in variables:
            raise ValueError(f"two model weights share the path {key!r}; cannot export them.")
        variables[key] = variable
    return variables


def build_serving_module(
    model: keras.Model,
    beam_size: int = 4,
    length_penalty: float = 0.6,
    coverage_penalty: float = 0.0,
) -> tuple[tf.Module, dict[str, tf.types.experimental.ConcreteFunction], dict[str, dict]]:
    """Builds the module to save, its signatures and a description of each signature.

    Args:
        model: a `Translator` or a `Classifier`.
        beam_size, length_penalty, coverage_penalty: decoding settings of the translator's
            `serving_default` signature (ignored for a classifier). A translator also gets a
            `greedy` signature (beam size 1, same penalties).

    Returns:
        (module, signatures keyed by signature name, {signature name: settings and outputs}).
        Trace inside `inference_tracing(model)`; `export_model` does.
    """
    kind = model_kind(model)
    module = tf.Module(name=f"kerattn_{kind}")
    module.model_variables = inference_variables(model)
    signatures: dict[str, Any] = {}
    descriptions: dict[str, dict] = {}
    if kind == "translator":
        if not isinstance(beam_size, int) or isinstance(beam_size, bool) or beam_size < 1:
            raise ValueError(f"`beam_size` must be an int >= 1; received beam_size={beam_size!r}.")
        module.source_tokenizer = model.source_tokenizer
        module.target_tokenizer = model.target_tokenizer

        def translate_function(beam: int) -> tf.types.experimental.PolymorphicFunction:
            def translate(text):
                return model.translate_batch(
                    text,
                    beam_size=beam,
                    length_penalty=float(length_penalty),
                    coverage_penalty=float(coverage_penalty),
                )

            return tf.function(translate, input_signature=[TEXT_SPEC])

        module.translate = translate_function(beam_size)
        module.translate_greedy = module.translate if beam_size == 1 else translate_function(1)
        signatures["serving_default"] = module.translate.get_concrete_function()
        signatures["greedy"] = module.translate_greedy.get_concrete_function()
        for name, beam in (("serving_default", beam_size), ("greedy", 1)):
            descriptions[name] = {
                "beam_size": beam,
                "length_penalty": float(length_penalty),
                "coverage_penalty": float(coverage_penalty),
                "inputs": {"text": "string [B]"},
                "outputs": list(TRANSLATOR_OUTPUTS),
                "padded_axes": TRANSLATOR_PADDED_AXES,
            }
    else:
        module.tokenizer = model.tokenizer

        def classify(text):
            return model.classify_batch(text)

        module.classify = tf.function(classify, input_signature=[TEXT_SPEC])
        signatures["serving_default"] = module.classify.get_concrete_function()
        descriptions["serving_default"] = {
            "inputs": {"text": "string [B]"},
            "outputs": list(CLASSIFIER_OUTPUTS),
            "padded_axes": CLASSIFIER_PADDED_AXES,
        }
    return module, signatures, descriptions
