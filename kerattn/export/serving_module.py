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
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import keras
import tensorflow as tf

from kerattn.compat import nested_layers

TEXT_SPEC = tf.TensorSpec([None], tf.string, name="text")

TRANSLATOR_OUTPUTS = (
    "translation", "score", "log_prob", "confidence", "target_ids", "target_tokens",
    "source_tokens", "attention", "truncated", "segments",
)  # fmt: skip
# Added to every translating signature's outputs when the translator has a confidence threshold.
LOW_CONFIDENCE_OUTPUT = "low_confidence"
CLASSIFIER_OUTPUTS = ("label", "label_id", "probabilities", "tokens", "token_weights", "truncated")
# The names of each output's dimensions after the batch one, where they are padded to the longest
# row of the batch; `kerattn serve --enable_batching` cuts each request's rows back to their own
# lengths with them, so batched answers equal unbatched ones (docs/serving.md §15).
TRANSLATOR_PADDED_AXES = {
    "target_ids": ["target"], "target_tokens": ["target"], "source_tokens": ["source"],
    "attention": ["target", "source"],
}  # fmt: skip
CLASSIFIER_PADDED_AXES = {"tokens": ["source"], "token_weights": ["source"]}
# The optional translator signatures (`signatures=` of `build_serving_module`): their inputs
# beyond `text`, and their padded axes. The n-best outputs have a hypothesis axis of fixed size
# H; "rank" (1 … H, never 0) makes request batching measure it as H for every row.
DECODING_SIGNATURES = ("nbest", "score", "sample", "prefix")
SIGNATURE_INPUTS = {
    "nbest": {},
    "score": {"target": tf.TensorSpec([None], tf.string, name="target")},
    "sample": {"seed": tf.TensorSpec([None], tf.int64, name="seed")},
    "prefix": {"target_prefix": tf.TensorSpec([None], tf.string, name="target_prefix")},
}
NBEST_OUTPUTS = TRANSLATOR_OUTPUTS + ("rank",)
NBEST_PADDED_AXES = {
    "target_ids": ["hypothesis", "target"], "target_tokens": ["hypothesis", "target"],
    "source_tokens": ["source"], "attention": ["hypothesis", "target", "source"],
    "rank": ["hypothesis"],
}  # fmt: skip
SCORE_OUTPUTS = (
    "score", "log_prob", "token_log_probs", "target_ids", "target_tokens", "source_tokens",
    "attention", "truncated", "target_truncated",
)  # fmt: skip
SCORE_PADDED_AXES = {**TRANSLATOR_PADDED_AXES, "token_log_probs": ["target"]}


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


def translator_outputs(model: Any, outputs: Sequence[str]) -> list[str]:
    """The outputs of a translating signature: `outputs`, and "low_confidence" (confidence
    below the translator's `confidence_threshold`, fixed at export) when it has one."""
    outputs = list(outputs)
    if model.confidence_threshold is not None:
        outputs.append(LOW_CONFIDENCE_OUTPUT)
    return outputs


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
    signatures: Sequence[str] = (),
    decoding_options: Mapping[str, Any] | None = None,
) -> tuple[tf.Module, dict[str, tf.types.experimental.ConcreteFunction], dict[str, dict]]:
    """Builds the module to save, its signatures and a description of each signature.

    Args:
        model: a `Translator` or a `Classifier`.
        beam_size, length_penalty, coverage_penalty: decoding settings of the translator's
            `serving_default` signature (ignored for a classifier). A translator also gets a
            `greedy` signature (beam size 1, same penalties).
        signatures: optional translator signatures, any of `DECODING_SIGNATURES`:
            "nbest" (text → the `num_hypotheses` best hypotheses of beam search, default
            `beam_size` of them, hypothesis axis after the batch one, and "rank"), "score"
            (text, target → teacher-forced scores, `Translator.score_batch`), "sample"
            (text, seed int64 → one sampled translation per text; the same seed gives what
            `Translator.translate(decoding="sample", seed=...)` gives), "prefix" (text,
            target_prefix → beam search continuing each prefix).
        decoding_options: options of `Translator.translate` fixed at export, applied to every
            translating signature: min_length, max_length_ratio, no_repeat_ngram_size, avoid,
            replace_unknown; temperature, top_k, top_p (the "sample" signature); and
            num_hypotheses ("nbest"); split_sentences (default True: an input longer than
            the translator's `max_source_length` is translated sentence by sentence, and
            every translating signature outputs "segments"; False cuts it; "nbest" and
            "prefix" always cut).

    Returns:
        (module, signatures keyed by signature name, {signature name: settings and outputs}).
        Trace inside `inference_tracing(model)`; `export_model` does.
    """
    kind = model_kind(model)
    module = tf.Module(name=f"kerattn_{kind}")
    module.model_variables = inference_variables(model)
    translating_signatures: dict[str, Any] = {}
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

        unknown = sorted(set(signatures) - set(DECODING_SIGNATURES))
        if unknown:
            raise ValueError(
                f"unknown signature {unknown[0]!r}; the optional translator signatures are "
                f"{', '.join(DECODING_SIGNATURES)}."
            )
        options, export_options = _translator_options(
            model, beam_size, length_penalty, coverage_penalty, decoding_options
        )
        if not decoding_options:
            module.translate = translate_function(beam_size)
            module.translate_greedy = module.translate if beam_size == 1 else translate_function(1)
        else:
            module.translate = _traced(model, {**options, "num_hypotheses": None})
            module.translate_greedy = _traced(
                model, {**options, "beam_size": 1, "num_hypotheses": None}
            )
        translating_signatures["serving_default"] = module.translate.get_concrete_function()
        translating_signatures["greedy"] = module.translate_greedy.get_concrete_function()
        for name, beam in (("serving_default", beam_size), ("greedy", 1)):
            descriptions[name] = {
                "beam_size": beam,
                "length_penalty": float(length_penalty),
                "coverage_penalty": float(coverage_penalty),
                **export_options,
                "inputs": {"text": "string [B]"},
                "outputs": translator_outputs(model, TRANSLATOR_OUTPUTS),
                "padded_axes": TRANSLATOR_PADDED_AXES,
            }
        for name in [name for name in DECODING_SIGNATURES if name in signatures]:
            function, description = _decoding_signature(model, name, options, export_options)
            setattr(module, f"signature_{name}", function)
            translating_signatures[name] = function.get_concrete_function()
            descriptions[name] = description
        signatures = translating_signatures
    else:
        if signatures or decoding_options:
            raise ValueError(
                "`signatures` and `decoding_options` are translator settings; a classifier "
                "exports its serving_default signature only."
            )
        signatures = {}
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


EXPORT_OPTIONS = {
    "num_hypotheses": None, "temperature": 1.0, "top_k": 0, "top_p": 1.0, "min_length": 0,
    "max_length_ratio": None, "no_repeat_ngram_size": 0, "avoid": (), "replace_unknown": False,
    "split_sentences": True,
}  # fmt: skip


def _translator_options(model, beam_size, length_penalty, coverage_penalty, decoding_options):
    """(`translate_batch` keyword arguments, the options as the metadata records them), checked
    as `Translator.translate` checks them (the same sentences)."""
    from kerattn.zoo.translator import checked_options

    decoding_options = dict(decoding_options or {})
    unknown = sorted(set(decoding_options) - set(EXPORT_OPTIONS))
    if unknown:
        raise ValueError(
            f"unknown decoding option {unknown[0]!r}; accepted: {', '.join(EXPORT_OPTIONS)}."
        )
    given = {**EXPORT_OPTIONS, **decoding_options}
    avoid = given.pop("avoid")
    settings = {
        "beam_size": beam_size,
        "length_penalty": length_penalty,
        "coverage_penalty": coverage_penalty,
    }
    options = checked_options(settings, True, model._avoid_ids(avoid), decoding="beam", **given)
    if options["num_hypotheses"] is None:
        options["num_hypotheses"] = beam_size
    recorded = {name: given[name] for name in decoding_options if name != "avoid"}
    if avoid:
        recorded["avoid"] = list(avoid)
    return options, recorded


def _traced(model, options: dict, extra_input: str | None = None):
    """`model.translate_batch` with `options` as a tf.function of `text` (and one more input)."""
    if extra_input is None:
        return tf.function(
            lambda text: model.translate_batch(text, **options), input_signature=[TEXT_SPEC]
        )
    name = {"seed": "seeds", "target_prefix": "target_prefix"}[extra_input]
    return tf.function(
        lambda text, extra: model.translate_batch(text, **options, **{name: extra}),
        input_signature=[TEXT_SPEC, SIGNATURE_INPUTS_SPEC[extra_input]],
    )


def _decoding_signature(model, name: str, options: dict, export_options: dict):
    """(tf.function, description) of one optional translator signature."""
    common = {
        "length_penalty": options["length_penalty"],
        "coverage_penalty": options["coverage_penalty"],
    }
    inputs = {"text": "string [B]"}
    if name == "score":

        def score(text, target):
            return model.score_batch(
                text, target, options["length_penalty"], options["coverage_penalty"]
            )

        function = tf.function(
            score, input_signature=[TEXT_SPEC, SIGNATURE_INPUTS["score"]["target"]]
        )
        description = {
            **common,
            "inputs": {**inputs, "target": "string [B]"},
            "outputs": list(SCORE_OUTPUTS),
            "padded_axes": SCORE_PADDED_AXES,
        }
        return function, description
    constraints = {
        key: value
        for key, value in export_options.items()
        if key not in ("num_hypotheses", "temperature", "top_k", "top_p")
    }
    if name == "nbest":
        function = _traced(model, options)
        description = {
            "beam_size": options["beam_size"],
            **common,
            "num_hypotheses": options["num_hypotheses"],
            **constraints,
            "inputs": inputs,
            "outputs": translator_outputs(model, NBEST_OUTPUTS),
            "padded_axes": NBEST_PADDED_AXES,
        }
    elif name == "sample":
        function = _traced(model, {**options, "decoding": "sample", "num_hypotheses": None}, "seed")
        description = {
            "decoding": "sample",
            **{key: options[key] for key in ("temperature", "top_k", "top_p")},
            **common,
            **constraints,
            "inputs": {**inputs, "seed": "int64 [B]"},
            "outputs": translator_outputs(model, TRANSLATOR_OUTPUTS),
            "padded_axes": TRANSLATOR_PADDED_AXES,
        }
    else:
        function = _traced(model, {**options, "num_hypotheses": None}, "target_prefix")
        description = {
            "beam_size": options["beam_size"],
            **common,
            **constraints,
            "inputs": {**inputs, "target_prefix": "string [B]"},
            "outputs": translator_outputs(model, TRANSLATOR_OUTPUTS),
            "padded_axes": TRANSLATOR_PADDED_AXES,
        }
    return function, description


SIGNATURE_INPUTS_SPEC = {
    "seed": SIGNATURE_INPUTS["sample"]["seed"],
    "target_prefix": SIGNATURE_INPUTS["prefix"]["target_prefix"],
}
