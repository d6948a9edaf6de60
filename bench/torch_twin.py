"""kerattn's Translator training step against its PyTorch twin: the same model (same
parameters, copied from the kerattn model), the same batches, numerics checked first.

`TorchTranslator` is the benchmark model of bench/compute_efficiency.py and
bench/translator_training.py (`synthetic_translator`, `synthetic_batches`) written the way a
PyTorch user would write it: embeddings, a bidirectional `nn.LSTM` over packed source
sequences, the annotation projection and the state bridge h_0 = tanh(W_h [→h; ←h]),
c_0 = W_c [→c; ←c], then the decoder and the output projection.

- "bahdanau" (kerattn's default): a Python loop over the target steps; each step attends
  from the previous state (vᵀ tanh(W_q s_{i-1} + W_k h_j), softmax over the real source
  positions) and runs an `nn.LSTMCell` on [target embedding; context]; then
  tanh(W_c [c_i; s_i]) for all steps at once.
- "luong_concat" with `input_feeding=False`: one `nn.LSTM` pass over the target, then one
  batched concat attention from its outputs and tanh(W_c [c_i; h_i]).

Every kerattn weight is copied (kernels transposed to PyTorch's (out, in) layout; the gate
order i, f, g, o is Keras's i, f, c, o; Keras's LSTM bias goes into `bias_ih`, `bias_hh` is
zero and frozen), so both models have the same trainable tensors (22 for Bahdanau, 21 for
luong_concat). Dropout is 0 on both sides. Targets are right-padded (the batches are), so
the twin need not carry its state through padded target steps: their outputs are zeroed,
as kerattn's are, and the final decoder state is not used.

Before timing, one batch is compared with kerattn's: the loss, the logits at the real target
positions and the gradient of every weight (matched by name; kerattn's from a
`tf.GradientTape` over the same loss), as max |torch - kerattn| / max |kerattn| per tensor.
The loss is the mean token cross-entropy over the positions where both the target id and the
decoder input id are real (not 0): what the compiled Translator averages over (its logits carry
the decoder input's mask, which Keras combines with `ignore_class=0`; the synthetic batches
draw the two lengths independently), checked against `compute_loss` too. The comparison runs
in float32 (the timed models) and on a float64 copy of the same weights, where rounding cannot
hide a difference of function: the script exits non-zero when a float64 difference, or the
float32 one of the loss or the logits, is above 1e-5. (In float32 the gradient of Bahdanau's
query kernel differs by ~1e-3 of itself: it is ~1e-12, a sum of terms that nearly cancel,
since the softmax's gradient sums to 0 over the source, so float32 rounding dominates it; in
float64 it agrees to ~1e-12.)

Then one training step each (forward, backward, Adam with Keras's defaults): kerattn as
`train_on_batch` of the compiled Translator, PyTorch as a plain loop step with
`torch.set_num_threads(os.cpu_count())` (`--torch-threads` to change it); calls alternate
(bench/lstm_throughput.py's `paired_timings`); reported: median ms, torch/kerattn as the
paired median ratio (kerattn's speed-up) and the ratio of the best times, and target tokens/s
of both. PyTorch's OpenMP threads suffer more than TensorFlow's thread pool on a machine whose
cores are busy with other work (a note says so when the load exceeded the cores; compare
with `--torch-threads 1` then, or rerun on a quiet machine).

torch is a bench-only extra, never a dependency of the library or its tests.

Usage: python bench/torch_twin.py [--attention bahdanau luong_concat] [--vocabulary 8000]
       [--embedding 128] [--units 256] [--batch 64] [--length 30] [--steps 12]
       [--torch-threads N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import keras
import numpy as np
import tensorflow as tf
from compute_efficiency import synthetic_translator
from lstm_throughput import paired_timings, summary
from translator_training import synthetic_batches

try:
    import torch
    from torch import nn
    from torch.nn import functional
except ImportError as error:  # pragma: no cover - the bench-only extra is missing
    raise SystemExit(
        "bench/torch_twin.py needs PyTorch, the bench-only extra: pip install -e '.[bench]'"
    ) from error

STYLES = ("bahdanau", "luong_concat")
TOLERANCE = 1e-5


def _transposed(array):
    return array.T


def _row(array):
    return array[None, :]


def _same(array):
    return array


class TorchTranslator(nn.Module):
    """kerattn's `Seq2SeqBackbone` (Bahdanau or luong_concat without input feeding) in
    PyTorch, token ids to logits; see the module docstring.

    Args:
        attention: "bahdanau" or "luong_concat".
        source_vocabulary_size, target_vocabulary_size, embedding_dim, units,
        attention_units, encoder_layers: the backbone's sizes (encoder units // 2 per
            direction, annotations, context and decoder state of width `units`).

    Call arguments:
        source_ids: int64 (B, S), target_input_ids: int64 (B, T), right-padded with 0.

    Returns:
        logits (B, T, target_vocabulary_size).
    """

    def __init__(
        self,
        attention: str,
        source_vocabulary_size: int,
        target_vocabulary_size: int,
        embedding_dim: int,
        units: int,
        attention_units: int,
        encoder_layers: int = 1,
    ):
        super().__init__()
        if attention not in STYLES:
            raise ValueError(
                f"`attention` must be one of {', '.join(map(repr, STYLES))}; "
                f"received attention={attention!r}."
            )
        self.attention = attention
        self.units = units
        self.encoder_layers = encoder_layers
        self.source_embedding = nn.Embedding(source_vocabulary_size, embedding_dim)
        self.target_embedding = nn.Embedding(target_vocabulary_size, embedding_dim)
        self.encoder = nn.LSTM(
            embedding_dim,
            units // 2,
            num_layers=encoder_layers,
            bidirectional=True,
            batch_first=True,
        )
        self.sequence_projection = nn.Linear(units, units, bias=False)
        self.state_h_projection = nn.Linear(units, units)
        self.state_c_projection = nn.Linear(units, units)
        if attention == "bahdanau":
            self.decoder_cell = nn.LSTMCell(embedding_dim + units, units)
            self.attention_query = nn.Linear(units, attention_units, bias=False)
            self.attention_key = nn.Linear(units, attention_units, bias=False)
        else:
            self.decoder_lstm = nn.LSTM(embedding_dim, units, batch_first=True)
            # W of vᵀ tanh(W [q; k]), (A, Dq + Dk)
            self.attention_kernel = nn.Linear(2 * units, attention_units, bias=False)
        self.attention_score = nn.Linear(attention_units, 1, bias=False)
        self.attentional = nn.Linear(2 * units, units, bias=False)
        self.projection = nn.Linear(units, target_vocabulary_size)
        for name, parameter in self.named_parameters():
            if "bias_hh" in name:
                # Keras's LSTM has one bias; it is copied into bias_ih.
                nn.init.zeros_(parameter)
                parameter.requires_grad_(False)

    def keras_names(self) -> dict[str, tuple[str, object]]:
        """{torch parameter name: (kerattn variable path, kerattn array → torch layout)} for
        every trainable parameter (the layout map applies to weights and gradients alike)."""
        names = {
            "source_embedding.weight": ("source_embedding/embeddings", _same),
            "target_embedding.weight": ("target_embedding/embeddings", _same),
            "sequence_projection.weight": ("encoder/sequence_projection/kernel", _transposed),
            "attentional.weight": ("decoder/attentional_kernel", _transposed),
            "attention_score.weight": ("decoder/attention/score_vector", _row),
            "projection.weight": ("projection/kernel", _transposed),
            "projection.bias": ("projection/bias", _same),
        }
        for state in ("h", "c"):
            keras_layer = f"encoder/state_{state}_projection"
            names[f"state_{state}_projection.weight"] = (f"{keras_layer}/kernel", _transposed)
            names[f"state_{state}_projection.bias"] = (f"{keras_layer}/bias", _same)

        def lstm(prefix: str, keras_cell: str, suffix: str = "") -> None:
            names[f"{prefix}weight_ih{suffix}"] = (f"{keras_cell}/kernel", _transposed)
            names[f"{prefix}weight_hh{suffix}"] = (f"{keras_cell}/recurrent_kernel", _transposed)
            names[f"{prefix}bias_ih{suffix}"] = (f"{keras_cell}/bias", _same)

        for layer in range(self.encoder_layers):
            lstm("encoder.", f"encoder/forward_lstm_{layer}/lstm_cell", f"_l{layer}")
            lstm("encoder.", f"encoder/backward_lstm_{layer}/lstm_cell", f"_l{layer}_reverse")
        if self.attention == "bahdanau":
            lstm("decoder_cell.", "decoder/lstm/lstm_cell")
            names["attention_query.weight"] = ("decoder/attention/query_kernel", _transposed)
            names["attention_key.weight"] = ("decoder/attention/key_kernel", _transposed)
        else:
            lstm("decoder_lstm.", "decoder/lstm/lstm_cell", "_l0")
            names["attention_kernel.weight"] = ("decoder/attention/kernel", _transposed)
        return names

    @classmethod
    def from_translator(cls, translator, dtype=torch.float32) -> TorchTranslator:
        """The twin of a kerattn `Translator`, with a copy of all its weights, in `dtype`."""
        if translator.attention not in STYLES or (
            translator.attention != "bahdanau" and translator.input_feeding
        ):
            raise ValueError(
                "The twin covers attention='bahdanau' and attention='luong_concat' with "
                f"input_feeding=False; received attention={translator.attention!r}, "
                f"input_feeding={translator.input_feeding!r}."
            )
        if translator.dropout != 0:
            raise ValueError(
                "The twin has no dropout, so it is compared with a Translator built with "
                f"dropout=0.0; received dropout={translator.dropout!r}."
            )
        backbone = translator.backbone
        twin = cls(
            translator.attention,
            translator.source_vocabulary_size,
            translator.target_vocabulary_size,
            translator.embedding_dim,
            translator.units,
            backbone.decoder.attention_units or translator.units,
            translator.encoder_layers,
        ).to(dtype)
        values = {variable.path: variable.numpy() for variable in backbone.trainable_variables}
        names = twin.keras_names()
        trainable = {name for name, p in twin.named_parameters() if p.requires_grad}
        if trainable != set(names) or {path for path, _ in names.values()} != set(values):
            raise ValueError(
                "The twin's parameters and the Translator's weights do not match one to one; "
                f"received the weights {sorted(values)}."
            )
        parameters = dict(twin.named_parameters())
        with torch.no_grad():
            for name, (path, layout) in names.items():
                parameters[name].copy_(torch.from_numpy(np.ascontiguousarray(layout(values[path]))))
        return twin

    def encode(self, source_ids):
        """Annotations (B, S, units), source mask (B, S) and the decoder's initial (h, c)."""
        source_mask = source_ids != 0  # (B, S)
        packed = nn.utils.rnn.pack_padded_sequence(
            self.source_embedding(source_ids),
            source_mask.sum(dim=1).cpu(),
            batch_first=True,
            enforce_sorted=False,
        )
        packed_sequence, (final_h, final_c) = self.encoder(packed)
        # padded positions are zeros, as kerattn's annotations
        sequence, _ = nn.utils.rnn.pad_packed_sequence(
            packed_sequence, batch_first=True, total_length=source_ids.shape[1]
        )  # (B, S, units)
        # the last layer's two directions: (2, B, units / 2) → (B, units)
        state_h = torch.cat([final_h[-2], final_h[-1]], dim=-1)
        state_c = torch.cat([final_c[-2], final_c[-1]], dim=-1)
        memory = self.sequence_projection(sequence)  # (B, S, units)
        initial_state = (
            torch.tanh(self.state_h_projection(state_h)),
            self.state_c_projection(state_c),
        )
        return memory, source_mask, initial_state

    def _attend(self, scores, memory, source_mask):
        """Softmax over the real source positions and the context: scores (B, T, S) →
        (B, T, units)."""
        scores = scores.masked_fill(~source_mask[:, None, :], float("-inf"))
        return torch.bmm(torch.softmax(scores, dim=-1), memory)

    def forward(self, source_ids, target_input_ids):
        memory, source_mask, (state_h, state_c) = self.encode(source_ids)
        target = self.target_embedding(target_input_ids)  # (B, T, E)
        if self.attention == "bahdanau":
            keys = self.attention_key(memory)  # (B, S, A)
            contexts, states = [], []
            for step in range(target.shape[1]):
                query = self.attention_query(state_h)[:, None, :]  # (B, 1, A)
                scores = self.attention_score(torch.tanh(keys + query))  # (B, S, 1)
                context = self._attend(scores.transpose(1, 2), memory, source_mask)[:, 0]
                # (B, units)
                state_h, state_c = self.decoder_cell(
                    torch.cat([target[:, step], context], dim=-1), (state_h, state_c)
                )
                contexts.append(context)
                states.append(state_h)
            context = torch.stack(contexts, dim=1)  # (B, T, units)
            sequence = torch.stack(states, dim=1)  # (B, T, units)
        else:
            sequence, _ = self.decoder_lstm(target, (state_h[None], state_c[None]))
            # (B, T, units)
            kernel = self.attention_kernel.weight  # (A, 2·units)
            query = functional.linear(sequence, kernel[:, : self.units])  # (B, T, A)
            keys = functional.linear(memory, kernel[:, self.units :])  # (B, S, A)
            hidden = torch.tanh(query[:, :, None, :] + keys[:, None, :, :])  # (B, T, S, A)
            context = self._attend(self.attention_score(hidden)[..., 0], memory, source_mask)
        outputs = torch.tanh(self.attentional(torch.cat([context, sequence], dim=-1)))
        outputs = outputs * (target_input_ids != 0)[..., None]  # (B, T, units)
        return self.projection(outputs)  # (B, T, V)


def torch_loss(logits, target_ids):
    """Mean token cross-entropy over the target positions whose id is not 0."""
    return functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), target_ids.reshape(-1), ignore_index=0
    )


def tensorflow_loss(logits, target_ids):
    """`torch_loss` in TensorFlow."""
    real = tf.cast(target_ids != 0, logits.dtype)
    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(target_ids, logits)  # (B, T)
    return tf.reduce_sum(losses * real) / tf.reduce_sum(real)


def trained_targets(batch) -> np.ndarray:
    """The target ids of `batch` with 0 wherever the decoder input is padding too: the
    positions kerattn's compiled loss averages over (the logits carry the decoder input's
    mask, which Keras combines with the loss's `ignore_class=0`). With real data, where the
    input is the target shifted by one, both masks are the same; the synthetic batches draw
    their lengths independently."""
    inputs, targets = batch
    return np.where(inputs["target_input_ids"] != 0, targets, 0).astype("int32")


def torch_batch(batch) -> tuple:
    """(source ids, target input ids, trained target ids) of `batch` as int64 tensors."""
    inputs, _ = batch
    return tuple(
        torch.from_numpy(ids.astype("int64"))
        for ids in (inputs["source_ids"], inputs["target_input_ids"], trained_targets(batch))
    )


def check_right_padded(batches) -> None:
    """The twin packs the sources and runs padded target steps freely: ids must be
    right-padded, every row non-empty."""
    for inputs, _ in batches:
        for name in ("source_ids", "target_input_ids"):
            real = inputs[name] != 0  # (B, T)
            if not (real[:, 0].all() and (real[:, 1:] <= real[:, :-1]).all()):
                raise ValueError(
                    f"`{name}` must be right-padded with 0 and have a real first id in every "
                    "row; received a batch with padding before a real id or an empty row."
                )


def relative_difference(reference, other) -> float:
    """max |other - reference| / max |reference|."""
    reference, other = np.asarray(reference, "float64"), np.asarray(other, "float64")
    return float(np.max(np.abs(reference - other)) / max(np.max(np.abs(reference)), 1e-300))


def differences(translator, twin: TorchTranslator, batch) -> dict[str, float]:
    """Relative differences (kerattn the reference) on `batch` of the loss, of the compiled
    Translator's loss, of the logits at the real target positions and of every gradient (by
    torch parameter name)."""
    inputs, _ = batch
    targets = trained_targets(batch)
    variables = {variable.path: variable for variable in translator.backbone.trainable_variables}
    with tf.GradientTape() as tape:
        logits = translator(inputs, training=True)
        loss = tensorflow_loss(logits, tf.constant(targets))
    gradients = dict(zip(variables, tape.gradient(loss, list(variables.values()))))
    compiled_loss = float(translator.compute_loss(inputs, batch[1], logits))

    source_ids, target_input_ids, target_ids = torch_batch(batch)
    twin.zero_grad(set_to_none=True)
    twin_logits = twin(source_ids, target_input_ids)
    twin_loss = torch_loss(twin_logits, target_ids)
    twin_loss.backward()

    real = inputs["target_input_ids"] != 0  # (B, T)
    results = {
        "loss": relative_difference(float(loss), twin_loss.item()),
        "compiled loss": relative_difference(float(loss), compiled_loss),
        "logits": relative_difference(np.asarray(logits)[real], twin_logits.detach().numpy()[real]),
    }
    parameters = dict(twin.named_parameters())
    for name, (path, layout) in twin.keras_names().items():
        results[name] = relative_difference(
            layout(np.asarray(tf.convert_to_tensor(gradients[path]))),
            parameters[name].grad.numpy(),
        )
    print(
        f"  {np.dtype(translator.compute_dtype).name}: loss kerattn {float(loss):.9f}, torch "
        f"{twin_loss.item():.9f}, compiled Translator {compiled_loss:.9f}"
    )
    return results


def report(results: dict[str, float], twin: TorchTranslator) -> str:
    """One line: the largest relative differences, the worst gradients named."""
    gradients = {name: value for name, value in results.items() if name in twin.keras_names()}
    worst = sorted(gradients, key=gradients.get, reverse=True)[:2]
    named = ", ".join(f"{gradients[name]:.1e} {twin.keras_names()[name][0]}" for name in worst)
    return (
        f"loss {results['loss']:.1e}, compiled loss {results['compiled loss']:.1e}, logits "
        f"{results['logits']:.1e}, {len(gradients)} gradients: largest {named}"
    )


def numerics(translator, build_translator, batch) -> float:
    """Compares kerattn and the twin on `batch` in float32 (the timed models) and in float64
    (the same weights in a float64 copy built by `build_translator`, where rounding cannot hide
    a difference in the function). Prints both; returns the largest float64 difference, or
    the float32 one of loss or logits if larger."""
    print(f"{translator.attention}: numerics on one batch (relative differences)")
    twin = TorchTranslator.from_translator(translator)
    single = differences(translator, twin, batch)
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float64")
    try:
        double_translator = build_translator()
    finally:
        keras.config.set_dtype_policy(policy)
    values = {v.path: v.numpy() for v in translator.backbone.trainable_variables}
    for variable in double_translator.backbone.trainable_variables:
        variable.assign(values[variable.path].astype("float64"))
    double_translator.compile()
    double_twin = TorchTranslator.from_translator(double_translator, dtype=torch.float64)
    double = differences(double_translator, double_twin, batch)
    print(f"    float32: {report(single, twin)}")
    print(f"    float64: {report(double, double_twin)}")
    return max(max(double.values()), single["loss"], single["compiled loss"], single["logits"])


def busy_machine_note(torch_threads: int) -> None:
    """Says so when the machine was busier than its cores during the timing."""
    load, cores = float(open("/proc/loadavg").read().split()[0]), os.cpu_count() or 1
    if load > cores and torch_threads > 1:
        print(
            f"  note: load {load:.1f} on {cores} cores; PyTorch's {torch_threads} OpenMP threads "
            "then wait for each other at every op, so torch/kerattn overstates kerattn's "
            "speed-up: rerun on a quiet machine, or compare with --torch-threads 1"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attention", nargs="+", choices=STYLES, default=list(STYLES))
    parser.add_argument("--vocabulary", type=int, default=8000)
    parser.add_argument("--embedding", type=int, default=128)
    parser.add_argument("--units", type=int, default=256)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--length", type=int, default=30)
    parser.add_argument("--steps", type=int, default=12, help="timed steps per model and style")
    parser.add_argument("--torch-threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    start = time.perf_counter()
    torch.set_num_threads(args.torch_threads)
    print(f"load average before: {open('/proc/loadavg').read().split()[:3]}")
    print(
        f"TensorFlow {tf.__version__}, Keras {keras.__version__}, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads); vocabulary {args.vocabulary}, embedding "
        f"{args.embedding}, units {args.units}, batch {args.batch}, length {args.length}"
    )
    batches = synthetic_batches(4, args.batch, args.length, args.vocabulary)
    check_right_padded(batches)
    torch_batches = [torch_batch(batch) for batch in batches]
    tokens = statistics.mean(int((trained_targets(batch) > 0).sum()) for batch in batches)

    for style in args.attention:

        def build_translator(style=style):
            translator = synthetic_translator(
                args.vocabulary,
                args.length,
                embedding_dim=args.embedding,
                units=args.units,
                attention=style,
                input_feeding=False,
            )
            translator.compile()  # Adam, masked cross-entropy
            return translator

        keras.utils.set_random_seed(0)
        translator = build_translator()
        difference = numerics(translator, build_translator, batches[0])
        if difference > TOLERANCE:
            sys.exit(
                f"{style}: the twin differs from kerattn by {difference:.1e} (relative), "
                f"more than {TOLERANCE:.0e}; not timed."
            )

        twin = TorchTranslator.from_translator(translator)
        optimizer = torch.optim.Adam(
            [p for p in twin.parameters() if p.requires_grad], lr=1e-3, eps=1e-7
        )  # Keras's Adam defaults
        kerattn_steps = iter(range(10**9))  # both see the same sequence of batches
        torch_steps = iter(range(10**9))

        def kerattn_step(translator=translator, steps=kerattn_steps):
            translator.train_on_batch(*batches[next(steps) % len(batches)])

        def torch_step(twin=twin, optimizer=optimizer, steps=torch_steps):
            source_ids, target_input_ids, target_ids = torch_batches[next(steps) % len(batches)]
            optimizer.zero_grad(set_to_none=True)
            torch_loss(twin(source_ids, target_input_ids), target_ids).backward()
            optimizer.step()

        timings = paired_timings({"torch": torch_step, "kerattn": kerattn_step}, args.steps)
        rates = ", ".join(
            f"{name} {tokens / statistics.median(values) * 1000:.0f} target tokens/s"
            for name, values in timings.items()
        )
        print(f"training step {style}: {summary(timings, baseline='torch')}; {rates}")
        print(f"  load average: {open('/proc/loadavg').read().split()[:3]}")
        busy_machine_note(args.torch_threads)
    print(f"{time.perf_counter() - start:.0f} s in all")


if __name__ == "__main__":
    main()
