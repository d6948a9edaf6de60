"""Training throughput of kerattn's Translator against the same architecture built from Keras
built-ins (the TensorFlow NMT tutorial's structure), and decode latency, in one run.

The tutorial's decoder runs an LSTM over the whole target and attends from its outputs with
`keras.layers.AdditiveAttention`, then combines context and state through a tanh layer. In
kerattn terms that is `Translator(attention="luong_concat", input_feeding=False)`: the additive
score vᵀ tanh(W [q; k]) = vᵀ tanh(W_q q + W_k k) — so the built-in model below is given exactly
kerattn's layers and sizes (BiLSTM encoder with projections and state bridge, LSTM decoder,
two Dense projections + AdditiveAttention, tanh combination, output projection); the script
prints both parameter counts to show they match.

Both models train with `fit` on the same batches (masked cross-entropy), alternating measured
blocks to share the machine's noise; the ratio is kerattn / built-in target tokens per second.
The default translator (Bahdanau style, attention before each LSTM step) has no built-in
equivalent and is reported alone. Decode latency of `translate_batch` (greedy and beam 4) at
batch 1 and 32 is reported for an untrained model, so every sentence runs to its length limit:
a worst case.

Usage: python bench/translator_training.py [--batch 64] [--length 30] [--vocabulary 8000]
       [--units 256] [--embedding 256] [--steps 8] [--rounds 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import keras
import numpy as np
import tensorflow as tf

from kerattn.text import RESERVED_TOKENS, SymbolTokenizer
from kerattn.zoo.translator import Translator


def builtin_translator(vocabulary: int, embedding: int, units: int) -> keras.Model:
    """The NMT tutorial's structure with kerattn's sizes, from keras.layers only."""
    source = keras.Input((None,), dtype="int32", name="source_ids")
    previous = keras.Input((None,), dtype="int32", name="target_input_ids")
    embedded = keras.layers.Embedding(vocabulary, embedding, mask_zero=True)(source)
    sequence, forward_h, forward_c, backward_h, backward_c = keras.layers.Bidirectional(
        keras.layers.LSTM(units // 2, return_sequences=True, return_state=True)
    )(embedded)
    memory = keras.layers.Dense(units, use_bias=False)(sequence)
    state_h = keras.layers.Dense(units, activation="tanh")(
        keras.layers.Concatenate()([forward_h, backward_h])
    )
    state_c = keras.layers.Dense(units)(keras.layers.Concatenate()([forward_c, backward_c]))
    target = keras.layers.Embedding(vocabulary, embedding, mask_zero=True)(previous)
    decoded = keras.layers.LSTM(units, return_sequences=True)(
        target, initial_state=[state_h, state_c]
    )
    query = keras.layers.Dense(units, use_bias=False)(decoded)
    key = keras.layers.Dense(units, use_bias=False)(memory)
    context = keras.layers.AdditiveAttention(use_scale=True)([query, memory, key])
    attentional = keras.layers.Dense(units, activation="tanh", use_bias=False)(
        keras.layers.Concatenate()([context, decoded])
    )
    logits = keras.layers.Dense(vocabulary)(attentional)
    return keras.Model({"source_ids": source, "target_input_ids": previous}, logits)


@keras.saving.register_keras_serializable(package="bench")
class TutorialStepTranslator(keras.Model):
    """The same layers, run the way TensorFlow's NMT tutorial (the AdditiveAttention version)
    trains: the decoder is called once per target step, and its attention layer projects the
    encoder outputs (W2 h) again at every step."""

    def __init__(self, vocabulary: int, embedding: int, units: int, **kwargs):
        super().__init__(**kwargs)
        self.source_embedding = keras.layers.Embedding(vocabulary, embedding, mask_zero=True)
        self.target_embedding = keras.layers.Embedding(vocabulary, embedding, mask_zero=True)
        self.encoder = keras.layers.Bidirectional(
            keras.layers.LSTM(units // 2, return_sequences=True, return_state=True)
        )
        self.memory_projection = keras.layers.Dense(units, use_bias=False)
        self.state_h_projection = keras.layers.Dense(units, activation="tanh")
        self.state_c_projection = keras.layers.Dense(units)
        self.cell = keras.layers.LSTMCell(units)
        self.query_projection = keras.layers.Dense(units, use_bias=False)  # W1
        self.key_projection = keras.layers.Dense(units, use_bias=False)  # W2
        self.attention = keras.layers.AdditiveAttention(use_scale=True)
        self.combine = keras.layers.Dense(units, activation="tanh", use_bias=False)  # Wc
        self.projection = keras.layers.Dense(vocabulary)

    def call(self, inputs, training=None):
        source, previous = inputs["source_ids"], inputs["target_input_ids"]
        source_mask = tf.not_equal(source, 0)
        sequence, fh, fc, bh, bc = self.encoder(self.source_embedding(source), mask=source_mask)
        memory = self.memory_projection(sequence)
        states = [
            self.state_h_projection(tf.concat([fh, bh], -1)),
            self.state_c_projection(tf.concat([fc, bc], -1)),
        ]
        embedded = self.target_embedding(previous)
        steps = tf.shape(previous)[1]

        def decoder_step(t, state_h, state_c, logits):  # the tutorial's loop over target steps
            output, (state_h, state_c) = self.cell(embedded[:, t], [state_h, state_c])
            context = self.attention(
                [self.query_projection(output)[:, None], memory, self.key_projection(memory)],
                mask=[None, source_mask],
            )[:, 0]
            step_logits = self.projection(self.combine(tf.concat([context, output], -1)))
            return t + 1, state_h, state_c, logits.write(t, step_logits)

        _, _, _, logits = tf.while_loop(
            lambda t, *_: t < steps,
            decoder_step,
            (0, states[0], states[1], tf.TensorArray(self.compute_dtype, size=steps)),
        )
        return tf.transpose(logits.stack(), (1, 0, 2))  # (B, T, V)


def synthetic_batches(count, batch, length, vocabulary, seed=0):
    rng = np.random.default_rng(seed)

    def ids():
        lengths = rng.integers(2 * length // 3, length + 1, size=batch)
        values = rng.integers(4, vocabulary, size=(batch, length)).astype("int32")
        return values * (np.arange(length)[None, :] < lengths[:, None])

    return [({"source_ids": ids(), "target_input_ids": ids()}, ids()) for _ in range(count)]


def tokens_per_second(model, batches, steps):
    dataset = tf.data.Dataset.from_generator(
        lambda: iter(batches * (steps // len(batches) + 1)),
        output_signature=(
            {
                "source_ids": tf.TensorSpec([None, None], tf.int32),
                "target_input_ids": tf.TensorSpec([None, None], tf.int32),
            },
            tf.TensorSpec([None, None], tf.int32),
        ),
    )
    start = time.perf_counter()
    model.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0)
    seconds = time.perf_counter() - start
    target_tokens = sum(int((y > 0).sum()) for _, y in (batches * steps)[:steps])
    return target_tokens / seconds, seconds / steps * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--length", type=int, default=30)
    parser.add_argument("--vocabulary", type=int, default=8000)
    parser.add_argument("--units", type=int, default=256)
    parser.add_argument("--embedding", type=int, default=256)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    keras.utils.set_random_seed(0)

    symbols = [f"w{i}" for i in range(args.vocabulary - len(RESERVED_TOKENS))]
    tokenizer = SymbolTokenizer(list(RESERVED_TOKENS) + symbols, split="whitespace")
    sizes = dict(
        embedding_dim=args.embedding,
        units=args.units,
        dropout=0.0,
        max_source_length=args.length + 1,
        max_target_length=args.length + 10,
    )
    models = {
        "kerattn luong_concat, no input feeding": Translator(
            tokenizer, tokenizer, attention="luong_concat", input_feeding=False, **sizes
        ),
        "built-in, NMT tutorial (per-step decoder)": TutorialStepTranslator(
            args.vocabulary, args.embedding, args.units
        ),
        "built-in, parallel decoder": builtin_translator(
            args.vocabulary, args.embedding, args.units
        ),
        "kerattn bahdanau (default)": Translator(tokenizer, tokenizer, **sizes),
    }
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0)
    batches = synthetic_batches(4, args.batch, args.length, args.vocabulary)
    for model in models.values():
        model.compile(optimizer="adam", loss=loss)
        tokens_per_second(model, batches, 2)  # trace and warm up
    print(
        f"batch {args.batch}, length ≤ {args.length}, vocabulary {args.vocabulary}, "
        f"embedding {args.embedding}, units {args.units}; {args.rounds} alternating rounds "
        f"of {args.steps} steps; median"
    )
    measured = {name: [] for name in models}
    for _ in range(args.rounds):
        for name, model in models.items():
            measured[name].append(tokens_per_second(model, batches, args.steps))
    print("| model | parameters | ms/step | target tokens/s |")
    print("|---|---|---|---|")
    rates = {}
    for name, model in models.items():
        rate = statistics.median(r for r, _ in measured[name])
        ms = statistics.median(m for _, m in measured[name])
        rates[name] = rate
        print(f"| {name} | {model.count_params():,} | {ms:.0f} | {rate:,.0f} |")
    names = list(models)
    for baseline in names[1:3]:
        print(f"ratio kerattn / {baseline}: {rates[names[0]] / rates[baseline]:.2f}")

    translator = models[names[3]]
    print("\nDecode latency, untrained kerattn bahdanau (runs to the length limit), median of 5:")
    print("| search | batch | ms/batch | output tokens |")
    print("|---|---|---|---|")
    rng = np.random.default_rng(1)
    for beam_size in (1, 4):
        function = tf.function(
            lambda texts, beam_size=beam_size: translator.translate_batch(texts, beam_size),
            input_signature=[tf.TensorSpec([None], tf.string)],
        )
        for batch in (1, 32):
            texts = tf.constant([" ".join(rng.choice(symbols, size=20)) for _ in range(batch)])
            function(texts)
            times = []
            for _ in range(5):
                start = time.perf_counter()
                outputs = function(texts)
                times.append((time.perf_counter() - start) * 1000)
            print(
                f"| {'greedy' if beam_size == 1 else f'beam {beam_size}'} | {batch} | "
                f"{statistics.median(times):.0f} | {outputs['target_ids'].shape[1]} |"
            )


if __name__ == "__main__":
    main()
