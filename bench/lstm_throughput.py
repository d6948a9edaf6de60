"""One LSTM layer, forward + backward: Keras's `keras.layers.LSTM` against kerattn's fused
recurrence (`kerattn.layers.lstm_recurrence.run_lstm`, same layer, same variables), and
PyTorch's `nn.LSTM` (oneDNN) when torch is installed (a bench-only extra), in one run.

Each case is a `tf.function` computing a weighted sum of the output sequence and the final
states and its gradients with respect to the inputs and all three weights (what a training
step needs). Keras and kerattn run on the same layer object; PyTorch gets the same weights
(Keras's (E, 4U) kernels transposed, both biases in `bias_ih`) and its numerics are checked
against Keras before timing (the losses and their relative difference are printed; with
`--masked` the padded steps weigh 0 in the loss, since there Keras repeats the previous
output and PyTorch's packed sequence gives zeros). torch: `pip install -e ".[bench]"` (the
CPU build, 2.13.0). Cases alternate in every round so they share the machine's
noise; reported: median and best ms, and Keras/case as the median of the ratios of calls
made next to each other (robust to a machine shared with other jobs) and of the best times.

With `--translator STYLE...`, also the whole training step (`fit`, Adam, masked
cross-entropy) of a `Translator` at the translator_en_es preset's sizes (embedding 128, units
256, vocabulary 8000) with the fused LSTM (today's code) against the same model, same weights,
with `fused_lstm=False` on its encoder and decoder (Keras's LSTM and LSTMCell: the code of
commit 5b7905a), on the batches of bench/translator_training.py; the losses of one batch are
printed side by side first. Train steps (`train_on_batch`) alternate between the two models.

Usage: python bench/lstm_throughput.py [--batch 64] [--length 30] [--inputs 256]
       [--units 256 512] [--repeats 20] [--rounds 3] [--masked]
       [--translator bahdanau luong_concat] [--steps 6]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import keras
import numpy as np
import tensorflow as tf

from kerattn.layers.lstm_recurrence import run_lstm


def paired_timings(cases: dict, samples: int) -> dict[str, list[float]]:
    """Milliseconds of `samples` calls of every case, the cases called in turn (one call
    each, then again), so that neighbouring calls share the machine's load."""
    for case in cases.values():
        case()  # warm-up (tracing)
    timings = {name: [] for name in cases}
    for _ in range(samples):
        for name, case in cases.items():
            start = time.perf_counter()
            case()
            timings[name].append(1000 * (time.perf_counter() - start))
    return timings


def summary(timings: dict[str, list[float]], baseline: str = "keras") -> str:
    """Median and best ms per case, and baseline/case as the median of the per-turn ratios
    (each ratio from calls made next to each other) and as the ratio of the best times."""
    parts = [
        f"{name} median {statistics.median(values):.1f} ms (best {min(values):.1f})"
        for name, values in timings.items()
    ]
    for name, values in timings.items():
        if name == baseline:
            continue
        paired = statistics.median(b / v for b, v in zip(timings[baseline], values))
        best = min(timings[baseline]) / min(values)
        parts.append(f"{baseline}/{name} {paired:.2f}x paired median, {best:.2f}x best")
    return "; ".join(parts)


def tensorflow_case(lstm, inputs, mask, weights, fused: bool):
    """A tf.function: loss and gradients of one LSTM layer (Keras's or the fused path)."""
    variables = lstm.trainable_variables

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            if fused:
                sequence, state_h, state_c = run_lstm(lstm, inputs, mask=mask)
            else:
                sequence, state_h, state_c = lstm(inputs, mask=mask)
            loss = (
                tf.reduce_sum(sequence * weights) + tf.reduce_sum(state_h) + tf.reduce_sum(state_c)
            )
        gradients = tape.gradient(loss, [inputs] + variables)
        return loss, gradients

    return step


def torch_case(lstm, inputs_array, weights_array, lengths):
    """PyTorch's nn.LSTM with Keras's weights; returns (step function, loss check)."""
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    kernel, recurrent_kernel, bias = (np.asarray(v) for v in lstm.cell.weights)
    units = recurrent_kernel.shape[0]
    model = torch.nn.LSTM(kernel.shape[0], units, batch_first=True)
    with torch.no_grad():
        # Same gate order (i, f, g, o); PyTorch stores (4U, E) and has two biases.
        model.weight_ih_l0.copy_(torch.from_numpy(kernel.T.copy()))
        model.weight_hh_l0.copy_(torch.from_numpy(recurrent_kernel.T.copy()))
        model.bias_ih_l0.copy_(torch.from_numpy(bias))
        model.bias_hh_l0.zero_()
    inputs = torch.from_numpy(inputs_array).requires_grad_(True)
    weights = torch.from_numpy(weights_array)

    def step():
        if lengths is None:
            sequence, (state_h, state_c) = model(inputs)
        else:
            packed = torch.nn.utils.rnn.pack_padded_sequence(
                inputs, lengths, batch_first=True, enforce_sorted=False
            )
            packed_sequence, (state_h, state_c) = model(packed)
            sequence, _ = torch.nn.utils.rnn.pad_packed_sequence(
                packed_sequence, batch_first=True, total_length=inputs.shape[1]
            )
        loss = (sequence * weights).sum() + state_h.sum() + state_c.sum()
        model.zero_grad()
        inputs.grad = None
        loss.backward()
        return loss.item()

    return step


def translator_comparison(style: str, arguments) -> None:
    """Train-step times of a Translator, fused LSTM vs Keras's, same weights and batches."""

    def switch(model, name):
        model.backbone.encoder.fused_lstm = model.backbone.decoder.fused_lstm = name == "kerattn"

    compare_translator_steps(
        f"translator {style}",
        ("keras", "kerattn"),
        switch,
        dict(embedding_dim=128, units=256, attention=style),
        arguments.batch,
        arguments.length,
        arguments.steps * arguments.rounds,
    )


def compare_translator_steps(label, names, switch, sizes, batch, length, samples) -> None:
    """Translators of one configuration (vocabulary 8000, `sizes`), one per name, on the same
    weights; `switch(model, name)` sets the code path each name stands for. Prints the loss of
    one batch for each (they must agree), then the paired `train_on_batch` times on the same
    batches, the first name as the baseline, with target tokens/s and the load average."""
    from compute_efficiency import synthetic_translator
    from translator_training import synthetic_batches

    vocabulary = 8000
    models = {}
    for name in names:
        keras.utils.set_random_seed(0)
        model = synthetic_translator(vocabulary, length, **sizes)
        switch(model, name)
        model.compile()
        models[name] = model
    for name in names[1:]:
        models[name].set_weights(models[names[0]].get_weights())
    batches = synthetic_batches(4, batch, length, vocabulary)
    inputs, targets = batches[0]
    losses = {
        name: float(model.compute_loss(inputs, targets, model(inputs, training=False)))
        for name, model in models.items()
    }
    print(f"{label}: loss of one batch " + ", ".join(f"{n} {v:.7f}" for n, v in losses.items()))

    def train_step(model):
        steps = iter(range(10**9))  # each model sees the same sequence of batches
        return lambda: model.train_on_batch(*batches[next(steps) % len(batches)])

    timings = paired_timings({name: train_step(model) for name, model in models.items()}, samples)
    tokens = statistics.mean(int((y > 0).sum()) for _, y in batches)
    rates = ", ".join(
        f"{name} {tokens / statistics.median(values) * 1000:.0f} target tokens/s"
        for name, values in timings.items()
    )
    print(f"{label}: {summary(timings, baseline=names[0])}; {rates}")
    print(f"  load average: {open('/proc/loadavg').read().split()[:3]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--length", type=int, default=30)
    parser.add_argument("--inputs", type=int, default=256)
    parser.add_argument("--units", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--translator", nargs="*", default=[], metavar="STYLE")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument(
        "--masked",
        action="store_true",
        help="right-padded batch (lengths uniform in [length/2, length]) with its mask",
    )
    arguments = parser.parse_args()
    try:
        import torch  # noqa: F401

        have_torch = True
    except ImportError:
        have_torch = False
    rng = np.random.default_rng(0)
    shape = (arguments.batch, arguments.length, arguments.inputs)
    inputs_array = rng.normal(size=shape).astype("float32")
    lengths = mask = None
    if arguments.masked:
        lengths = rng.integers(arguments.length // 2, arguments.length + 1, arguments.batch)
        lengths[0] = arguments.length
        mask = tf.constant(np.arange(arguments.length)[None, :] < lengths[:, None])
    inputs = tf.constant(inputs_array)
    print(f"load average before: {open('/proc/loadavg').read().split()[:3]}")
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, torch: {have_torch}")

    for units in arguments.units:
        lstm = keras.layers.LSTM(units, return_sequences=True, return_state=True, use_cudnn=False)
        lstm.build((None, None, arguments.inputs))
        weights_array = rng.normal(size=(arguments.batch, arguments.length, units)).astype(
            "float32"
        )
        if lengths is not None:
            # Padded steps weigh 0: there Keras repeats the last output and PyTorch's packed
            # sequence gives zeros, so only the real steps are comparable.
            weights_array *= (np.arange(arguments.length)[None, :] < lengths[:, None])[..., None]
        weights = tf.constant(weights_array)
        cases = {
            "keras": tensorflow_case(lstm, inputs, mask, weights, fused=False),
            "kerattn": tensorflow_case(lstm, inputs, mask, weights, fused=True),
        }
        keras_loss, keras_gradients = cases["keras"]()
        fused_loss, fused_gradients = cases["kerattn"]()
        difference = max(
            float(tf.reduce_max(tf.abs(a - b)) / (1 + tf.reduce_max(tf.abs(a))))
            for a, b in zip(keras_gradients, fused_gradients)
        )
        print(
            f"units {units}: loss keras {float(keras_loss):.6f} kerattn {float(fused_loss):.6f}"
            f", largest gradient difference (relative to the gradient's scale) {difference:.1e}"
        )
        if have_torch:
            torch_step = torch_case(lstm, inputs_array, weights_array, lengths)
            torch_loss = torch_step()
            print(
                f"units {units}: loss torch {torch_loss:.6f} (relative difference to Keras "
                f"{abs(torch_loss - float(keras_loss)) / abs(float(keras_loss)):.1e})"
            )
            cases["torch"] = torch_step
        timings = paired_timings(cases, arguments.repeats * arguments.rounds)
        kind = "masked" if mask is not None else "no mask"
        print(f"units {units} ({kind}): {summary(timings)}")
        print(f"  load average: {open('/proc/loadavg').read().split()[:3]}")
    for style in arguments.translator:
        translator_comparison(style, arguments)


if __name__ == "__main__":
    main()
