"""The Bahdanau decoder alone, forward + backward: its `keras.ops.scan` path (autodiff through
the scan: the code before `kerattn.layers.bahdanau_recurrence`) against the TensorFlow loop
with the hand-written backward pass, on the same layer object, same weights, same inputs.

Each case is a `tf.function` computing a weighted sum of the decoder's outputs and attention
weights and its gradients with respect to the target embeddings, the memory, the initial state
and every weight of the decoder (what a training step needs of it). The largest gradient
difference between the two is printed before timing. The cases alternate (one call each, in
turn) so that they share the machine's noise; reported: median and best ms and scan/loop as
the median of the ratios of neighbouring calls and as the ratio of the best times, with the
load average.

Sizes default to the translator_en_es preset's training shapes: batch 64, source and target
length 30 (right-padded to random lengths), embedding 128, memory width 256, units 256.

With `--translator`, also the whole training step (`train_on_batch`: Adam, masked
cross-entropy) of a Bahdanau `Translator` at those sizes (vocabulary 8000), the same model
twice with the same weights and batches, its decoder on the scan path in one; the losses of one
batch are printed side by side first, and the train steps alternate between the two.

Usage: python bench/decoder_recurrence.py [--batch 64] [--length 30] [--units 256]
       [--embedding 128] [--memory 256] [--samples 15] [--translator] [--steps 10]
"""

from __future__ import annotations

import argparse

import keras
import numpy as np
import tensorflow as tf
from lstm_throughput import compare_translator_steps, paired_timings, summary

from kerattn.layers.attention_decoder import AttentionDecoder


def decoder_case(decoder, arrays, loss_weights, hand_written_backward: bool):
    """A `tf.function` returning the gradients of the weighted outputs; the path is chosen
    when it is traced."""
    target, memory, state_h, state_c, target_mask, memory_mask = arrays

    @tf.function
    def step():
        decoder.hand_written_backward = hand_written_backward
        inputs = [target, memory, state_h, state_c]
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            outputs, weights = decoder(
                target,
                memory,
                initial_state=[state_h, state_c],
                target_mask=target_mask,
                memory_mask=memory_mask,
                training=True,
                return_attention_scores=True,
            )
            loss = tf.reduce_sum(outputs * loss_weights[0]) + tf.reduce_sum(
                weights * loss_weights[1]
            )
        return tape.gradient(loss, inputs + decoder.trainable_variables)

    return step


def translator_comparison(arguments) -> None:
    """Train-step times of a Bahdanau Translator, decoder on the scan path vs the loop."""

    def switch(model, name):
        model.backbone.decoder.hand_written_backward = name == "loop"

    compare_translator_steps(
        "translator train step",
        ("scan", "loop"),
        switch,
        dict(embedding_dim=arguments.embedding, units=arguments.units, attention="bahdanau"),
        arguments.batch,
        arguments.length,
        arguments.steps,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--length", type=int, default=30)
    parser.add_argument("--units", type=int, default=256)
    parser.add_argument("--embedding", type=int, default=128)
    parser.add_argument("--memory", type=int, default=256)
    parser.add_argument("--samples", type=int, default=15)
    parser.add_argument("--translator", action="store_true")
    parser.add_argument("--steps", type=int, default=10)
    arguments = parser.parse_args()
    batch, length, units = arguments.batch, arguments.length, arguments.units
    print(f"load average before: {open('/proc/loadavg').read().split()[:3]}")
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}")
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    lengths = rng.integers(length // 3, length + 1, size=(2, batch))
    positions = np.arange(length)
    target_mask = tf.constant(positions[None] < lengths[0][:, None])  # (B, T)
    memory_mask = tf.constant(positions[None] < lengths[1][:, None])  # (B, S)
    target = tf.constant(rng.normal(size=(batch, length, arguments.embedding)), "float32")
    memory = tf.constant(rng.normal(size=(batch, length, arguments.memory)), "float32")
    state_h, state_c = (tf.constant(rng.normal(size=(batch, units)), "float32") for _ in "hc")
    loss_weights = [
        tf.constant(rng.normal(size=(batch, length, width)), "float32") for width in (units, length)
    ]
    decoder = AttentionDecoder(units)
    decoder.build(target.shape, memory.shape, [state_h.shape, state_c.shape])
    arrays = (target, memory, state_h, state_c, target_mask, memory_mask)
    cases = {
        "scan": decoder_case(decoder, arrays, loss_weights, hand_written_backward=False),
        "loop": decoder_case(decoder, arrays, loss_weights, hand_written_backward=True),
    }
    expected, actual = cases["scan"](), cases["loop"]()
    difference = max(
        float(tf.reduce_max(tf.abs(a - e)) / (tf.reduce_max(tf.abs(e)) + 1e-30))
        for a, e in zip(actual, expected)
    )
    print(
        f"batch {batch}, length {length}, units {units}: largest gradient difference "
        f"(relative to the gradient's scale) {difference:.1e}"
    )
    timings = paired_timings(cases, arguments.samples)
    print(summary(timings, baseline="scan"))
    print(f"  load average: {open('/proc/loadavg').read().split()[:3]}")
    if arguments.translator:
        translator_comparison(arguments)


if __name__ == "__main__":
    main()
