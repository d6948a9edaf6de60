"""How the time of a translator training step grows with sentence length and with batch size.

Model and batches: the configuration of bench/translator_training.py (vocabulary 8000,
embedding 256, units 256, dropout 0, Adam, its `synthetic_batches`: real lengths 2/3·L to L,
padded to L, source and target alike), default `Translator` (Bahdanau attention, decoder run
step by step); `--attention` picks another style (Luong styles without input feeding).

Two series on one model: length L in `--lengths` (8 16 32 64) at batch `--batch` (32), and
batch B in `--batches` (8 32 128) at length `--length` (32). Each point gets one warm-up step,
then `--steps` timed `train_on_batch` calls; the median is reported, as ms/step, µs per padded
target position (B·L: the LSTMs and the attention run over padding too) and analytic GFLOP/s
(`compute_efficiency.forward_flops`, ×3 for forward + backward).

Is the cost linear in length? The script fits ms/step = a + b·L by least squares over the
length series and prints R², the fitted fixed cost a, and time(2L)/time(L) for each doubling
(2.0 = linear; below 2 a fixed per-step cost is being amortized; above 2 something grows
faster than linear, such as the T·S attention scores).

Usage: python bench/scaling.py [--lengths 8 16 32 64] [--batch 32] [--batches 8 32 128]
       [--length 32] [--vocabulary 8000] [--embedding 256] [--units 256]
       [--attention bahdanau] [--steps 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import keras
import numpy as np
from compute_efficiency import forward_flops, synthetic_translator
from translator_training import synthetic_batches


def step_milliseconds(model, batch: int, length: int, vocabulary: int, steps: int) -> float:
    """Median ms of `steps` training steps on (batch, length) batches, after one warm-up step."""
    batches = synthetic_batches(steps + 1, batch, length, vocabulary, seed=length * 1000 + batch)
    times = []
    for inputs, targets in batches:
        start = time.perf_counter()
        model.train_on_batch(inputs, targets)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times[1:])


def linear_fit(lengths: list[int], milliseconds: list[float]) -> tuple[float, float, float]:
    """Least-squares ms = a + b·L; returns (a, b, R²)."""
    slope, intercept = np.polyfit(lengths, milliseconds, 1)
    predicted = intercept + slope * np.asarray(lengths)
    residual = np.sum((np.asarray(milliseconds) - predicted) ** 2)
    total = np.sum((np.asarray(milliseconds) - np.mean(milliseconds)) ** 2)
    return intercept, slope, 1 - residual / total if total else 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[8, 16, 32, 64])
    parser.add_argument("--batch", type=int, default=32, help="batch of the length series")
    parser.add_argument("--batches", type=int, nargs="+", default=[8, 32, 128])
    parser.add_argument("--length", type=int, default=32, help="length of the batch series")
    parser.add_argument("--vocabulary", type=int, default=8000)
    parser.add_argument("--embedding", type=int, default=256)
    parser.add_argument("--units", type=int, default=256)
    parser.add_argument("--attention", default="bahdanau")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per point")
    args = parser.parse_args()
    keras.utils.set_random_seed(0)

    model = synthetic_translator(
        args.vocabulary,
        max(args.lengths + [args.length]),
        embedding_dim=args.embedding,
        units=args.units,
        attention=args.attention,
        input_feeding=not args.attention.startswith("luong_"),
    )
    model.compile(optimizer="adam")
    points = [("length", args.batch, length) for length in args.lengths]
    points += [("batch", batch, args.length) for batch in args.batches]
    milliseconds = [
        step_milliseconds(model, batch, length, args.vocabulary, args.steps)
        for _, batch, length in points
    ]

    print(
        f"{args.attention}, vocabulary {args.vocabulary}, embedding {args.embedding}, "
        f"units {args.units}; median of {args.steps} train_on_batch steps per point\n"
    )
    print(
        "| series | batch | length | ms/step | µs per position | GFLOP/s | "
        "per-position cost vs first of series |"
    )
    print("|---|---|---|---|---|---|---|")
    first_cost = {}
    for (series, batch, length), ms in zip(points, milliseconds):
        cost = 1000 * ms / (batch * length)
        first_cost.setdefault(series, cost)
        # train_on_batch (Keras's fit step) projects every position, padded ones included
        flops = forward_flops(model, batch, length, length, real_target_positions=batch * length)
        step_flops = 3 * sum(flops.values())
        print(
            f"| {series} | {batch} | {length} | {ms:.1f} | {cost:.2f} | "
            f"{step_flops / ms / 1e6:.3g} | {cost / first_cost[series]:.2f} |"
        )

    length_ms = milliseconds[: len(args.lengths)]
    intercept, slope, r_squared = linear_fit(args.lengths, length_ms)
    print(
        f"\nLength series (batch {args.batch}): ms/step ≈ {intercept:.1f} + {slope:.2f}·L, "
        f"R² = {r_squared:.4f}"
    )
    by_length = dict(zip(args.lengths, length_ms))
    for length in args.lengths:
        if 2 * length in by_length:
            print(
                f"time({2 * length}) / time({length}) = "
                f"{by_length[2 * length] / by_length[length]:.2f}  (linear: 2.00)"
            )
    batch_ms = milliseconds[len(args.lengths) :]
    print(
        f"Batch series (length {args.length}): time({args.batches[-1]}) / "
        f"time({args.batches[0]}) = {batch_ms[-1] / batch_ms[0]:.2f} for "
        f"{args.batches[-1] / args.batches[0]:.0f}× the batch"
    )


if __name__ == "__main__":
    main()
