"""Training-step time of `AttentionDecoder` with monotonic attention against its softmax
counterpart, at the same shapes, in one run (TensorFlow backend, tf.function).

Pairs: "bahdanau_monotonic" vs "bahdanau", "luong_monotonic" vs "luong_general" (input
feeding on, the step-by-step path both sides share). One timing = forward + backward over a
teacher-forced batch (gradients w.r.t. every weight), the fused LSTM on both sides. Timings
alternate between the two sides to share the machine's noise; the median of the repeats is
reported, and the ratio is monotonic time / softmax time (> 1: monotonic is slower).

Usage: python bench/monotonic_attention.py [--batch 64] [--source 30] [--target 30]
       [--units 256] [--repeats 12]
"""

from __future__ import annotations

import argparse
import statistics
import time

import keras
import numpy as np
import tensorflow as tf

from kerattn import layers


def _train_step(decoder, inputs):
    """A compiled forward + backward pass of the decoder over the whole target sequence."""

    @tf.function
    def step(target, memory, state_h, state_c, target_mask, memory_mask):
        with tf.GradientTape() as tape:
            outputs = decoder(
                target,
                memory,
                initial_state=[state_h, state_c],
                target_mask=target_mask,
                memory_mask=memory_mask,
                training=True,
            )
            loss = tf.reduce_sum(tf.square(outputs))
        return tape.gradient(loss, decoder.trainable_variables)

    step(*inputs)  # trace and build
    return step


def _median_ms(step, inputs, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        outputs = step(*inputs)
        _ = np.asarray(outputs[0])  # wait for the result
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--source", type=int, default=30)
    parser.add_argument("--target", type=int, default=30)
    parser.add_argument("--units", type=int, default=256)
    parser.add_argument("--embedding", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=12)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    source_lengths = rng.integers(args.source // 2, args.source + 1, size=args.batch)
    target_lengths = rng.integers(args.target // 2, args.target + 1, size=args.batch)
    inputs = (
        tf.constant(rng.normal(size=(args.batch, args.target, args.embedding)), tf.float32),
        tf.constant(rng.normal(size=(args.batch, args.source, args.units)), tf.float32),
        tf.constant(rng.normal(size=(args.batch, args.units)), tf.float32),
        tf.constant(rng.normal(size=(args.batch, args.units)), tf.float32),
        tf.constant(np.arange(args.target)[None, :] < target_lengths[:, None]),
        tf.constant(np.arange(args.source)[None, :] < source_lengths[:, None]),
    )
    pairs = [("bahdanau_monotonic", "bahdanau"), ("luong_monotonic", "luong_general")]
    print(
        f"backend {keras.backend.backend()}, batch {args.batch}, source {args.source}, "
        f"target {args.target}, units {args.units}, median of {args.repeats}, "
        "forward + backward"
    )
    print("| monotonic | ms | softmax | ms | monotonic / softmax |")
    print("|---|---|---|---|---|")
    for monotonic, softmax in pairs:
        steps = {
            style: _train_step(
                layers.AttentionDecoder(args.units, attention=style, name=style), inputs
            )
            for style in (monotonic, softmax)
        }
        times = {style: [] for style in steps}
        for _ in range(3):  # alternate to share drift between the two sides
            for style, step in steps.items():
                times[style].append(_median_ms(step, inputs, max(1, args.repeats // 3)))
        monotonic_ms = statistics.median(times[monotonic])
        softmax_ms = statistics.median(times[softmax])
        print(
            f"| {monotonic} | {monotonic_ms:.1f} | {softmax} | {softmax_ms:.1f} | "
            f"{monotonic_ms / softmax_ms:.2f} |"
        )


if __name__ == "__main__":
    main()
