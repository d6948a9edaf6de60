"""The log-probabilities of given target tokens under teacher forcing, computed in cache-sized
chunks of real target positions (what `Translator.score_batch` returns as "token_log_probs").

Projecting every (B, T) position to the vocabulary at once writes a (B·T, V) logits tensor
(52 MB for 32 sentences of 51 tokens over 8,000 wordpieces) that the log-softmax reads and
writes again and the gather reads a third time: on a CPU that costs about three times the
product itself, all in memory traffic. Here only the real positions are projected, C rows at a
time (C·V floats ≈ 2 MB, so the logits of a chunk stay in cache between the product, the
log-softmax and the gather); each position gets exactly the log-softmax the search computes
for its step (the same projection, float32, `tf.nn.log_softmax`).
"""

from __future__ import annotations

import tensorflow as tf

CHUNK_BYTES = 2**21


def chunk_rows(vocabulary_size: int, chunk_bytes: int = CHUNK_BYTES) -> int:
    """Rows per chunk: as many float32 logits rows of `vocabulary_size` as fit `chunk_bytes`."""
    return max(1, chunk_bytes // (4 * vocabulary_size))


def target_log_probs(project, outputs, target_ids, vocabulary_size: int, rows: int | None = None):
    """log p(target_ids[b, t]) under the logits `project(outputs)`, 0 at padded targets.

    Args:
        project: the output projection, rows (N, D) → logits (N, V).
        outputs: the decoder outputs (B, T, D).
        target_ids: int32 (B, T), 0 for padding.
        vocabulary_size: V, which sets the chunk size.
        rows: positions per chunk; default `chunk_rows(vocabulary_size)`.

    Returns:
        float32 (B, T).
    """
    rows = rows or chunk_rows(vocabulary_size)
    real = tf.not_equal(target_ids, 0)  # (B, T)
    positions = tf.where(real)  # (N, 2)
    real_outputs = tf.gather_nd(outputs, positions)  # (N, D)
    real_targets = tf.gather_nd(target_ids, positions)  # (N,)
    count = tf.shape(real_targets)[0]
    chunks = tf.maximum((count + rows - 1) // rows, 1)  # one empty chunk when none is real

    def body(index, values):
        start = index * rows
        logits = tf.cast(project(real_outputs[start : start + rows]), tf.float32)  # (C, V)
        log_probs = tf.nn.log_softmax(logits)
        chosen = tf.gather(log_probs, real_targets[start : start + rows], batch_dims=1)  # (C,)
        return index + 1, values.write(index, chosen)

    values = tf.TensorArray(tf.float32, size=chunks, infer_shape=False, element_shape=[None])
    _, values = tf.while_loop(lambda index, _: index < chunks, body, (tf.constant(0), values))
    chosen = tf.reshape(values.concat(), [-1])  # (N,)
    return tf.scatter_nd(positions, chosen, tf.shape(target_ids, out_type=tf.int64))
