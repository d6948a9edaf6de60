"""How far a translator training step is from this CPU's limit: the FLOP/s one training step
achieves, as a percentage of the float32 matrix-multiply (GEMM) FLOP/s measured in the same run.

Baseline: a large square `tf.matmul` (`--gemm-size`, 2048 by default, 2·n³ FLOPs), repeated;
the best and the median rate are reported. The GEMM is measured in every round, alternating
with the models, so both share the machine's noise.

Model: the configuration of bench/translator_training.py (batch 64, source and target padded
to length 30, real lengths 20–30, vocabulary 8000, embedding 256, units 256, dropout 0) and its
batches (`synthetic_batches`), trained by kerattn's own training step (`trainer_step`: the
`ReplicaSteps` that `kerattn train` runs, its `FusedAdam`, label smoothing 0.1, clipping at 1.0).

FLOPs of one training step, counted analytically from the layer sizes (a multiply-add = 2
FLOPs). B batch, S source and T target positions (padded: the LSTMs and the decoder's scan run
over padding too), E embedding, H units (encoder: H/2 per direction, projected back to H),
U attention units (= H), V target vocabulary, LSTM(i, h) = 2·4·(i + h)·h per position:

    encoder     B·S · [2·LSTM(E, H/2) + 2·LSTM(H, H/2)·(layers - 1)]     both directions
                + B·S · 2·H·H  (annotation projection)  + B · 2·(2·H·H)  (state bridge)
    keys        B·S · 2·H·U   (additive scores: bahdanau, luong_concat; luong_general 2·H·H)
    decoder     B·T · LSTM(I, H),  I = E + H (bahdanau, none, Luong with input feeding), E
                (Luong without input feeding, the NMT tutorial's structure)
    attention   B·T · 2·H·U (query projection, additive only)
                + B·T·S · (3·U additive score: broadcast sum + vᵀ product; 2·H dot score)
                + B·T·S · 2·H (context)
    W_c         B·T · 2·(H + H)·H
    projection  N · 2·H·V      N real target positions (the trainer projects only those)
    step        3 × forward (backward ≈ 2 × forward)

Not counted: embedding lookups (and their sparse gradients), nonlinearities, softmax, masking,
the loss and the optimizer update (≈ 10 FLOPs per parameter, < 1 % here).

Usage: python bench/compute_efficiency.py [--batch 64] [--length 30] [--vocabulary 8000]
       [--embedding 256] [--units 256] [--attention bahdanau luong_concat] [--steps 8]
       [--rounds 2] [--gemm-size 2048] [--gemm-repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import keras
import tensorflow as tf
from translator_training import synthetic_batches

from kerattn.text import RESERVED_TOKENS, SymbolTokenizer
from kerattn.training.fused_adam import FusedAdam
from kerattn.training.replica_steps import ReplicaSteps
from kerattn.zoo.translator import Translator


def synthetic_translator(vocabulary: int, length: int, **model_arguments) -> Translator:
    """An untrained `Translator` over a synthetic whitespace vocabulary, set up the way
    bench/translator_training.py sets up its models (no dropout, room for `length` tokens)."""
    symbols = [f"w{i}" for i in range(vocabulary - len(RESERVED_TOKENS))]
    tokenizer = SymbolTokenizer(list(RESERVED_TOKENS) + symbols, split="whitespace")
    return Translator(
        tokenizer,
        tokenizer,
        dropout=0.0,
        max_source_length=length + 1,
        max_target_length=length + 10,
        **model_arguments,
    )


def trainer_step(model: Translator, label_smoothing: float = 0.1, clip_norm: float = 1.0):
    """kerattn's training step for `model` (what `kerattn train` runs, on the default
    strategy, Adam at 1e-3): a function of a (inputs, targets) batch of numpy arrays that
    returns when the step is done."""
    optimizer = FusedAdam(1e-3)  # the trainer's Adam
    steps = ReplicaSteps(
        tf.distribute.get_strategy(), model, optimizer, "translator", label_smoothing, clip_norm
    )
    ids = tf.TensorSpec([None, None], tf.int32)
    spec = ({"source_ids": ids, "target_input_ids": ids}, ids)
    steps.compile(spec, spec, xla=False)

    def step(batch):
        inputs, targets = batch
        inputs = {name: tf.constant(value) for name, value in inputs.items()}
        float(steps.train((inputs, tf.constant(targets)))[0])

    return step


def milliseconds_per_step(step, batches, steps: int) -> float:
    """Mean ms of `steps` calls of `step`, cycling through `batches`."""
    start = time.perf_counter()
    for index in range(steps):
        step(batches[index % len(batches)])
    return (time.perf_counter() - start) / steps * 1000


def lstm_flops(input_width: int, units: int) -> int:
    """Forward FLOPs of one LSTM step: four gates, each a product with [x; h]."""
    return 2 * 4 * (input_width + units) * units


def forward_flops(
    translator: Translator,
    batch: int,
    source_length: int,
    target_length: int,
    real_target_positions: int,
) -> dict[str, int]:
    """Forward FLOPs of `translator` on a (batch, length) padded batch with
    `real_target_positions` real targets, by component (the formula in the module docstring)."""
    embedding, units = translator.embedding_dim, translator.units
    attention_units = translator.backbone.decoder.attention_units or units
    style = translator.attention
    additive = style in ("bahdanau", "luong_concat")
    source_positions = batch * source_length
    target_positions = batch * target_length

    encoder_inputs = [embedding] + [units] * (translator.encoder_layers - 1)
    if style.startswith("luong_") and not translator.input_feeding:
        decoder_input = embedding
    else:
        decoder_input = embedding + units
    key_width = {
        "bahdanau": attention_units,
        "luong_concat": attention_units,
        "luong_general": units,
    }.get(style, 0)
    score_per_pair = 3 * attention_units if additive else (0 if style == "none" else 2 * units)
    context_per_pair = 0 if style == "none" else 2 * units
    query_projection = 2 * units * attention_units if additive else 0
    return {
        "encoder LSTMs": source_positions
        * sum(2 * lstm_flops(width, units // 2) for width in encoder_inputs),
        "encoder projections": source_positions * 2 * units * units + batch * 2 * 2 * units * units,
        "attention keys": source_positions * 2 * units * key_width,
        "decoder LSTM": target_positions * lstm_flops(decoder_input, units),
        "attention (query, score, context)": target_positions * query_projection
        + target_positions * source_length * (score_per_pair + context_per_pair),
        "W_c": target_positions * 2 * (units + units) * units,
        "output projection": real_target_positions * 2 * units * translator.target_vocabulary_size,
    }


def gemm_flops_per_second(size: int, repeats: int) -> list[float]:
    """FLOP/s of `repeats` float32 (size × size) @ (size × size) products (after one warm-up)."""
    left = tf.random.normal((size, size))
    right = tf.random.normal((size, size))
    tf.matmul(left, right).numpy()
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        tf.matmul(left, right).numpy()
        rates.append(2 * size**3 / (time.perf_counter() - start))
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--length", type=int, default=30)
    parser.add_argument("--vocabulary", type=int, default=8000)
    parser.add_argument("--embedding", type=int, default=256)
    parser.add_argument("--units", type=int, default=256)
    parser.add_argument(
        "--attention",
        nargs="+",
        default=["bahdanau", "luong_concat"],
        help="translator styles to measure; Luong styles are built without input feeding",
    )
    parser.add_argument("--steps", type=int, default=8, help="training steps per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--gemm-size", type=int, default=2048)
    parser.add_argument("--gemm-repeats", type=int, default=5, help="GEMMs per round")
    args = parser.parse_args()
    keras.utils.set_random_seed(0)

    models = {
        style: synthetic_translator(
            args.vocabulary,
            args.length,
            embedding_dim=args.embedding,
            units=args.units,
            attention=style,
            input_feeding=not style.startswith("luong_"),
        )
        for style in args.attention
    }
    batches = synthetic_batches(4, args.batch, args.length, args.vocabulary)
    real_targets = sum(int((targets > 0).sum()) for _, targets in batches) // len(batches)
    steps = {style: trainer_step(model) for style, model in models.items()}
    for step in steps.values():
        milliseconds_per_step(step, batches, 2)  # trace and warm up

    gemm_rates = []
    milliseconds = {style: [] for style in models}
    for _ in range(args.rounds):
        gemm_rates += gemm_flops_per_second(args.gemm_size, args.gemm_repeats)
        for style, step in steps.items():
            milliseconds[style].append(milliseconds_per_step(step, batches, args.steps))
    gemm_best, gemm_median = max(gemm_rates), statistics.median(gemm_rates)

    print(
        f"batch {args.batch}, length {args.length} (padded), vocabulary {args.vocabulary}, "
        f"embedding {args.embedding}, units {args.units}; {real_targets} real target "
        f"positions per batch; {args.rounds} rounds of {args.steps} steps, median; load "
        f"average {open('/proc/loadavg').read().split()[:3]}"
    )
    print(
        f"GEMM float32 {args.gemm_size}×{args.gemm_size}, {len(gemm_rates)} products: "
        f"best {gemm_best / 1e9:.1f} GFLOP/s, median {gemm_median / 1e9:.1f} GFLOP/s\n"
    )
    print(
        "| model | GFLOP/step (fwd+bwd) | ms/step | GFLOP/s | % of best GEMM | % of median GEMM |"
    )
    print("|---|---|---|---|---|---|")
    components = {}
    for style, model in models.items():
        components[style] = forward_flops(model, args.batch, args.length, args.length, real_targets)
        step_flops = 3 * sum(components[style].values())
        seconds = statistics.median(milliseconds[style]) / 1000
        achieved = step_flops / seconds
        print(
            f"| {style} | {step_flops / 1e9:.3g} | {seconds * 1000:.0f} | "
            f"{achieved / 1e9:.3g} | {100 * achieved / gemm_best:.1f} | "
            f"{100 * achieved / gemm_median:.1f} |"
        )

    print("\nForward FLOPs by component, % of the step:")
    print("| component | " + " | ".join(models) + " |")
    print("|---|" + "---|" * len(models))
    for component in next(iter(components.values())):
        shares = (100 * flops[component] / sum(flops.values()) for flops in components.values())
        print(f"| {component} | " + " | ".join(f"{share:.1f}" for share in shares) + " |")


if __name__ == "__main__":
    main()
