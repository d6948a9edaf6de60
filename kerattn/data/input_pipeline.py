"""tf.data input pipelines for training: TSV rows → shuffled, length-bucketed, padded batches.

The rows are read once when a run starts; from then on everything happens in the TensorFlow
graph: tokenization through the model's own `prepare_batch` (so training sees exactly what
`translate`/`classify` will see), bucketing by length with right padding (`[PAD]` = 0),
prefetching. No `py_function` in the hot loop.

Each epoch gets its own dataset, shuffled with `seed + epoch` and not reshuffled on iteration,
so batch k of epoch e is a pure function of (rows, seed, e, k). That is what makes resuming
exact: a resumed run rebuilds epoch e's dataset and skips the k batches already trained on.
"""

from __future__ import annotations

import os
import weakref

import tensorflow as tf

from kerattn.data.corpus_error import CorpusError
from kerattn.data.tsv import read_pairs

# Upper bounds (exclusive) of the length buckets; the last bucket is open.
_BOUNDARIES = (8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)


def read_examples(path: str | os.PathLike, family: str, labels: list[str] | None = None):
    """Reads a split as (texts, targets): target strings for a translator, label ids for a
    classifier (a label not in `labels` is a `CorpusError` naming it)."""
    pairs = read_pairs(path)
    texts = [source for source, _ in pairs]
    if family == "translator":
        return texts, [target for _, target in pairs]
    index = {label: position for position, label in enumerate(labels)}
    unknown = sorted({label for _, label in pairs if label not in index})
    if unknown:
        raise CorpusError(
            f"{os.fspath(path)} has label(s) {', '.join(map(repr, unknown[:5]))} that the "
            f"training split does not have; known labels are {', '.join(map(repr, labels))}."
        )
    return texts, [index[label] for _, label in pairs]


def _example_length(family: str):
    """The length a bucket is chosen by: the longer of source and target for translation."""
    if family == "translator":
        return lambda inputs, target: tf.maximum(
            tf.shape(inputs["source_ids"])[0], tf.shape(target)[0]
        )
    return lambda token_ids, label: tf.shape(token_ids)[0]


def _bucket_batch_sizes(
    batch_size: int | None, batch_tokens: int | None, max_length: int, replicas: int
) -> tuple[list[int], list[int]]:
    """Bucket boundaries and batch sizes; token budgets divide by each bucket's longest length.
    Sizes are rounded up to a multiple of `replicas` so that full batches split evenly."""
    boundaries = [b for b in _BOUNDARIES if b <= max_length + 1]
    upper_bounds = [b - 1 for b in boundaries] + [max_length + 1]
    if batch_tokens is not None:
        sizes = [max(1, batch_tokens // upper) for upper in upper_bounds]
    else:
        sizes = [batch_size] * len(upper_bounds)
    sizes = [-(-size // replicas) * replicas for size in sizes]
    return boundaries, sizes


def make_dataset(
    model,
    family: str,
    texts: list[str],
    targets: list,
    *,
    batch_size: int | None = None,
    batch_tokens: int | None = None,
    shuffle_seed: int | None = None,
    skip_batches: int = 0,
    replicas: int = 1,
) -> tf.data.Dataset:
    """One pass over (texts, targets) as padded batches for `model`.

    Args:
        model: a `Translator` or `Classifier` whose `prepare_batch` tokenizes in graph.
        family: "translator" or "classifier".
        texts, targets: the rows (`read_examples`).
        batch_size: examples per batch; or
        batch_tokens: tokens per batch (padded length × examples), per bucket.
        shuffle_seed: None keeps file order (evaluation); otherwise a full shuffle with it.
        skip_batches: batches to skip at the start (resuming inside an epoch).
        replicas: devices the batches are split over (batch sizes become multiples of it).

    Returns:
        A dataset of `(inputs, targets)` batches: for a translator
        `({"source_ids": (B, S), "target_input_ids": (B, T)}, target_output_ids (B, T))`, for a
        classifier `(token_ids (B, T), label_ids (B,))`; int32, right-padded with 0.
    """
    target_dtype = tf.string if family == "translator" else tf.int32
    dataset = tf.data.Dataset.from_tensor_slices(
        (tf.constant(texts, tf.string), tf.constant(targets, target_dtype))
    )
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(texts), seed=shuffle_seed, reshuffle_each_iteration=False)

    dataset = dataset.map(
        _prepare_function(model, target_dtype),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    max_length = (
        max(model.max_source_length, model.max_target_length + 1)
        if family == "translator"
        else model.max_length
    )
    boundaries, sizes = _bucket_batch_sizes(batch_size, batch_tokens, max_length, replicas)
    dataset = dataset.bucket_by_sequence_length(
        _example_length(family), boundaries, sizes, pad_to_bucket_boundary=False
    )
    if skip_batches:
        dataset = dataset.skip(skip_batches)
    return dataset.prefetch(tf.data.AUTOTUNE)


# One traced tokenization function per model: a new dataset each epoch then reuses the trace
# (tracing the tokenizers costs about a second per dataset otherwise).
_PREPARE_FUNCTIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _prepare_function(model, target_dtype: tf.DType):
    if model not in _PREPARE_FUNCTIONS:
        signature = [tf.TensorSpec([], tf.string), tf.TensorSpec([], target_dtype)]

        @tf.function(input_signature=signature)
        def prepare_one(text, target):
            # prepare_batch works on batches: give it a batch of one and take the row back.
            inputs, outputs = model.prepare_batch(text[tf.newaxis], target[tf.newaxis])
            inputs = tf.nest.map_structure(lambda tensor: tensor[0], inputs)  # (S,) / {…: (S,)}
            return inputs, outputs[0]

        _PREPARE_FUNCTIONS[model] = prepare_one
    return _PREPARE_FUNCTIONS[model]


def count_batches(dataset: tf.data.Dataset) -> int:
    """Number of batches in one pass (runs the pipeline once, in graph)."""
    return int(dataset.reduce(tf.constant(0, tf.int64), lambda count, _: count + 1))
