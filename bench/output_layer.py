"""The translator's output layer with its loss, forward + backward: kerattn's training loss
(`kerattn.training.loss.real_position_loss`: the real target positions gathered before the
vocabulary projection, projection and smoothed cross-entropy as one op with a hand-written
gradient, `projected_cross_entropy`) against the masked loss over every
position (the projection of all B·T positions, `log_softmax` for the smoothing, padding
weighted 0: the code before issue 17), and against this CPU's GEMM rate, in one run.

Each case is a `tf.function` computing loss and gradients with respect to the decoder
outputs (B, T, U) and the projection's kernel and bias, on the same layer and batch: batch
64, length 30, real lengths uniform in [20, 30] (bench/translator_training.py's batches),
units 256, vocabulary 8000, label smoothing 0.1. The useful work is the three products of
the real positions, 3 · 2 · N · U · V FLOPs for N real positions; "% of peak" is that over
the case's median time, against the best rate of a 2048 × 2048 float32 `tf.matmul` measured
in the same run (2 · 2048³ FLOPs). Cases alternate (bench/lstm_throughput.py's
`paired_timings`); the old/new ratio is the median of the ratios of neighbouring calls.

Usage: python bench/output_layer.py [--batch 64] [--length 30] [--units 256]
       [--vocabulary 8000] [--label-smoothing 0.1] [--repeats 20]
"""

from __future__ import annotations

import argparse
import statistics

import keras
import numpy as np
import tensorflow as tf
from lstm_throughput import paired_timings

from kerattn.training.loss import projected_cross_entropy


def masked_all_positions(hidden, targets, projection, smoothing):
    """The loss before issue 17: every position projected, padding weighted 0 afterwards."""
    logits = tf.cast(projection(hidden), tf.float32)  # (B, T, V)
    negative_log_likelihood = tf.nn.sparse_softmax_cross_entropy_with_logits(targets, logits)
    uniform = -tf.reduce_mean(tf.nn.log_softmax(logits), axis=-1)
    losses = (1 - smoothing) * negative_log_likelihood + smoothing * uniform
    return tf.reduce_sum(losses * tf.cast(tf.not_equal(targets, 0), tf.float32))


def real_positions(hidden, targets, projection, smoothing):
    """kerattn's: the real positions gathered first (what `real_position_loss` does after the
    decoder), then the projection and the cross-entropy of those rows only, as one op."""
    positions = tf.where(tf.not_equal(targets, 0))
    losses, _ = projected_cross_entropy(
        tf.gather_nd(hidden, positions),
        tf.convert_to_tensor(projection.kernel),
        tf.convert_to_tensor(projection.bias),
        tf.gather_nd(targets, positions),
        smoothing,
    )
    return tf.reduce_sum(losses)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--length", type=int, default=30)
    parser.add_argument("--units", type=int, default=256)
    parser.add_argument("--vocabulary", type=int, default=8000)
    parser.add_argument("--label-smoothing", type=float, default=0.1)
    parser.add_argument("--repeats", type=int, default=20)
    arguments = parser.parse_args()
    rng = np.random.default_rng(0)
    batch, length, units = arguments.batch, arguments.length, arguments.units
    lengths = rng.integers(2 * length // 3, length + 1, batch)
    targets = rng.integers(1, arguments.vocabulary, size=(batch, length))
    targets = tf.constant(np.where(np.arange(length) < lengths[:, None], targets, 0), tf.int32)
    real = int(lengths.sum())
    hidden = tf.constant(rng.normal(size=(batch, length, units)).astype("float32"))
    projection = keras.layers.Dense(arguments.vocabulary)
    projection.build((None, None, units))
    variables = projection.trainable_variables

    def case(loss_function):
        @tf.function
        def step():
            with tf.GradientTape() as tape:
                tape.watch(hidden)
                loss = loss_function(hidden, targets, projection, arguments.label_smoothing)
            return loss, tape.gradient(loss, [hidden] + variables)

        return step

    square = tf.constant(rng.normal(size=(2048, 2048)).astype("float32"))
    gemm = tf.function(lambda: tf.matmul(square, square)[0, 0])
    cases = {"before": case(masked_all_positions), "kerattn": case(real_positions)}
    (before_loss, before_gradients), (loss, gradients) = (c() for c in cases.values())
    difference = max(
        float(tf.reduce_max(tf.abs(a - b)) / (1e-12 + tf.reduce_max(tf.abs(a))))
        for a, b in zip(before_gradients, gradients)
    )
    print(f"load average before: {open('/proc/loadavg').read().split()[:3]}")
    print(
        f"{real} real of {batch * length} positions; loss before {float(before_loss):.4f}, "
        f"kerattn {float(loss):.4f}; largest gradient difference {difference:.1e} of the scale"
    )
    timings = paired_timings({**cases, "gemm": gemm}, arguments.repeats)
    peak = 2 * 2048**3 / (min(timings["gemm"]) / 1000)
    useful = 3 * 2 * real * units * arguments.vocabulary
    print(f"GEMM 2048 x 2048: best {peak / 1e9:.1f} GFLOP/s")
    for name in cases:
        median = statistics.median(timings[name])
        print(
            f"{name}: median {median:.1f} ms (best {min(timings[name]):.1f}); "
            f"{useful / (median / 1000) / 1e9:.1f} GFLOP/s of useful work = "
            f"{100 * useful / (median / 1000) / peak:.0f} % of the best GEMM rate"
        )
    paired = statistics.median(b / k for b, k in zip(timings["before"], timings["kerattn"]))
    print(f"before/kerattn {paired:.2f}x paired median")
    print(f"load average after: {open('/proc/loadavg').read().split()[:3]}")


if __name__ == "__main__":
    main()
