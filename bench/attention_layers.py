"""Forward + backward time of kerattn's attention layers against the Keras built-ins that
compute the same thing, at the same shapes, in one run (TensorFlow backend, tf.function).

Pairs (each side computes the same function):
- BahdanauAttention(U)          vs Dense(U) on query and on key + keras.layers.AdditiveAttention
- LuongAttention("dot")         vs keras.layers.Attention()
- LuongAttention("general")     vs Dense(Dq) on key + keras.layers.Attention()

Both sides get the same query/value masks. Timings alternate between the two sides to share
the machine's noise; the median of the repeats is reported, and the ratio is
built-in time / kerattn time (> 1: kerattn is faster).

Usage: python bench/attention_layers.py [--batch 64] [--length 30] [--width 256] [--repeats 30]
"""

from __future__ import annotations

import argparse
import statistics
import time

import keras
import numpy as np
import tensorflow as tf

from kerattn import layers


class BuiltinBahdanau(keras.layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.query_projection = keras.layers.Dense(units, use_bias=False)
        self.key_projection = keras.layers.Dense(units, use_bias=False)
        self.attention = keras.layers.AdditiveAttention(use_scale=True)

    def call(self, query, value, query_mask, value_mask):
        return self.attention(
            [self.query_projection(query), value, self.key_projection(value)],
            mask=[query_mask, value_mask],
        )


class BuiltinLuong(keras.layers.Layer):
    def __init__(self, query_width: int, general: bool, **kwargs):
        super().__init__(**kwargs)
        self.general = general
        self.key_projection = keras.layers.Dense(query_width, use_bias=False)
        self.attention = keras.layers.Attention()

    def build(self, query_shape, value_shape, query_mask_shape=None, value_mask_shape=None):
        self.key_projection.build(value_shape)
        self.attention.build([query_shape, value_shape])

    def call(self, query, value, query_mask, value_mask):
        key = self.key_projection(value) if self.general else value
        return self.attention([query, value, key], mask=[query_mask, value_mask])


def _kerattn_call(layer):
    def call(query, value, query_mask, value_mask):
        return layer(query, value, query_mask=query_mask, value_mask=value_mask)

    return call


def _builtin_call(layer):
    def call(query, value, query_mask, value_mask):
        return layer(query, value, query_mask, value_mask)

    return call


def _train_step(call, weights_owner, inputs):
    """A compiled forward + backward pass: gradients w.r.t. the inputs and all weights."""

    @tf.function
    def step(query, value, query_mask, value_mask):
        with tf.GradientTape() as tape:
            tape.watch([query, value])
            loss = tf.reduce_sum(tf.square(call(query, value, query_mask, value_mask)))
        return tape.gradient(loss, [query, value] + weights_owner.trainable_variables)

    step(*inputs)  # trace and build
    return step


def _median_ms(step, inputs, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        outputs = step(*inputs)
        _ = [np.asarray(t) for t in outputs[:1]]  # wait for the result
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--length", type=int, default=30)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    shape = (args.batch, args.length, args.width)
    lengths = rng.integers(args.length // 2, args.length + 1, size=args.batch)
    mask = np.arange(args.length)[None, :] < lengths[:, None]
    inputs = (
        tf.constant(rng.normal(size=shape).astype("float32")),
        tf.constant(rng.normal(size=shape).astype("float32")),
        tf.constant(mask),
        tf.constant(mask),
    )
    pairs = [
        (
            "Bahdanau (additive)",
            layers.BahdanauAttention(args.width),
            BuiltinBahdanau(args.width, name="builtin_bahdanau"),
            "AdditiveAttention + 2 Dense",
        ),
        (
            "Luong dot",
            layers.LuongAttention("dot"),
            BuiltinLuong(args.width, general=False, name="builtin_dot"),
            "Attention",
        ),
        (
            "Luong general",
            layers.LuongAttention("general"),
            BuiltinLuong(args.width, general=True, name="builtin_general"),
            "Attention + Dense",
        ),
    ]
    print(
        f"backend {keras.backend.backend()}, batch {args.batch}, length {args.length}, "
        f"width {args.width}, median of {args.repeats}, forward + backward"
    )
    print("| score | kerattn ms | built-in | built-in ms | built-in / kerattn |")
    print("|---|---|---|---|---|")
    for label, ours, builtin, builtin_name in pairs:
        ours_step = _train_step(_kerattn_call(ours), ours, inputs)
        builtin_step = _train_step(_builtin_call(builtin), builtin, inputs)
        ours_times, builtin_times = [], []
        for _ in range(3):  # alternate to share drift between the two sides
            ours_times.append(_median_ms(ours_step, inputs, args.repeats // 3))
            builtin_times.append(_median_ms(builtin_step, inputs, args.repeats // 3))
        ours_ms, builtin_ms = statistics.median(ours_times), statistics.median(builtin_times)
        print(
            f"| {label} | {ours_ms:.2f} | {builtin_name} | {builtin_ms:.2f} | "
            f"{builtin_ms / ours_ms:.2f} |"
        )


if __name__ == "__main__":
    main()
