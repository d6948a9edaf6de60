"""The translator's training step of kerattn's own trainer against the same step at commit
5b7905a (issue 17's baseline: before the fused LSTM, the hand-written Bahdanau backward pass
and the real-position loss), in one run.

The baseline's code is taken from git (`git archive 5b7905a kerattn bench` into a temporary
folder), so each side runs its own library, unmodified. Each side is a worker process that
imports its own `kerattn` and bench helpers, builds `synthetic_translator(8000, 30,
embedding_dim=128, units=256, attention=STYLE)` (the translator_en_es preset's sizes, dropout
0) with seed 0, and compiles its trainer's distributed train step (today:
`kerattn.training.replica_steps.ReplicaSteps`, with the batch in the slices `kerattn train`
uses, `distribution.batch_parts("auto", 64)` and their share of the cores; at 5b7905a: the trainer's own
`_train_step`): the library's Adam at 1e-3 (`FusedAdam` where it exists, else Keras's), label
smoothing 0.1 and global-norm clipping at 1.0, as the translator_en_es recipe. Both get the same batches (bench/translator_training.py's
`synthetic_batches`: batch 64, real lengths 20–30 padded to 30). The parent tells the workers
in turn to run one step and reads back its milliseconds, so neighbouring steps share the
machine's load; it reports median and best ms per step, target tokens/s and the median of
the ratios of neighbouring steps (5b7905a / today: > 1, today is faster). The first loss of
each side is printed: same model, same batch, the two must agree.

Usage: python bench/training_step.py [--styles bahdanau luong_concat] [--steps 20]
       [--baseline 5b7905a]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
BATCH, LENGTH, VOCABULARY = 64, 30, 8000


def worker(root: str, style: str) -> None:
    """Builds the model and train step of the library under `root`, then runs one step per
    line read from standard input, answering with its milliseconds."""
    sys.path[:0] = [root, str(Path(root) / "bench")]
    import keras
    import tensorflow as tf
    from compute_efficiency import synthetic_translator
    from translator_training import synthetic_batches

    import kerattn

    try:  # the trainer's batch slices side by side, each with its share of the cores
        from kerattn.training.distribution import batch_parts, share_cores
    except ImportError:  # before commit "batch slices": one batch, every core per op
        parts = 1
    else:
        parts = batch_parts("auto", BATCH)
        if parts > 1:
            share_cores(parts)
    keras.utils.set_random_seed(0)
    model = synthetic_translator(VOCABULARY, LENGTH, embedding_dim=128, units=256, attention=style)
    batches = [
        ({k: tf.constant(v) for k, v in inputs.items()}, tf.constant(targets))
        for inputs, targets in synthetic_batches(4, BATCH, LENGTH, VOCABULARY)
    ]
    model(batches[0][0])
    try:  # the trainer's own Adam
        from kerattn.training.fused_adam import FusedAdam as Adam
    except ImportError:  # before commit "FusedAdam": Keras's
        Adam = keras.optimizers.Adam
    optimizer = Adam(1e-3)
    optimizer.build(model.trainable_variables)
    strategy = tf.distribute.get_strategy()
    try:
        from kerattn.training.replica_steps import ReplicaSteps
    except ImportError:  # 5b7905a: the step is a method of the trainer
        from types import SimpleNamespace

        from kerattn.training.trainer import _Trainer

        trainer = _Trainer.__new__(_Trainer)
        trainer.model, trainer.optimizer, trainer.strategy = model, optimizer, strategy
        trainer.family, trainer.mixed_precision, trainer.replicas = "translator", False, 1
        trainer.recipe = SimpleNamespace(optimizer={"label_smoothing": 0.1, "clip_norm": 1.0})
        step = tf.function(trainer._train_step)
    else:
        steps = ReplicaSteps(strategy, model, optimizer, "translator", 0.1, 1.0, parts=parts)
        spec = (
            {
                "source_ids": tf.TensorSpec([None, None], tf.int32),
                "target_input_ids": tf.TensorSpec([None, None], tf.int32),
            },
            tf.TensorSpec([None, None], tf.int32),
        )
        steps.compile(spec, spec, xla=False)
        step = steps.train
    (
        loss_sum,
        *_,
    ) = step(batches[0])
    tokens = float(sum(int(tf.reduce_sum(tf.cast(y > 0, tf.int32))) for _, y in batches)) / 4
    print(f"ready {kerattn.__file__} {float(loss_sum):.4f} {tokens}", flush=True)
    for index, _ in enumerate(sys.stdin):
        start = time.perf_counter()
        results = step(batches[index % len(batches)])
        float(results[0])  # wait for the step
        print(f"{1000 * (time.perf_counter() - start):.3f}", flush=True)


def start_worker(root: Path, style: str) -> tuple[subprocess.Popen, list[str]]:
    process = subprocess.Popen(
        [sys.executable, __file__, "--worker", str(root), "--styles", style],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=root,
    )
    ready = process.stdout.readline().split()
    if not ready or ready[0] != "ready":
        raise SystemExit(f"the worker for {root} did not start (run it with --worker to see why)")
    return process, ready[1:]


def compare(style: str, baseline_root: Path, steps: int, baseline: str) -> None:
    workers = {
        baseline: start_worker(baseline_root, style),
        "today": start_worker(REPOSITORY, style),
    }
    for name, (_, (module, loss, _)) in workers.items():
        print(
            f"{style} {name}: kerattn from {Path(module).parents[1].name or module}, "
            f"first step's loss sum {loss}"
        )
    timings = {name: [] for name in workers}
    for _ in range(steps + 1):  # the first step of each side is a second warm-up
        for name, (process, _) in workers.items():
            process.stdin.write("step\n")
            process.stdin.flush()
            timings[name].append(float(process.stdout.readline()))
    for process, _ in workers.values():
        process.stdin.close()
        process.wait()
    tokens = float(workers["today"][1][2])
    for name, values in timings.items():
        values = values[1:]
        median = statistics.median(values)
        print(
            f"{style} {name}: median {median:.0f} ms/step (best {min(values):.0f}), "
            f"{tokens / median * 1000:,.0f} target tokens/s"
        )
    paired = statistics.median(
        old / new for old, new in zip(timings[baseline][1:], timings["today"][1:])
    )
    print(f"{style}: {baseline} / today {paired:.2f}x (paired median of {steps} steps)")
    print(f"  load average: {open('/proc/loadavg').read().split()[:3]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--styles", nargs="+", default=["bahdanau", "luong_concat"])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--baseline", default="5b7905a")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.worker:
        worker(arguments.worker, arguments.styles[0])
        return
    print(f"load average before: {open('/proc/loadavg').read().split()[:3]}")
    with tempfile.TemporaryDirectory() as folder:
        archive = subprocess.run(
            ["git", "-C", str(REPOSITORY), "archive", arguments.baseline, "kerattn", "bench"],
            check=True,
            capture_output=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
        for style in arguments.styles:
            compare(style, Path(folder), arguments.steps, arguments.baseline)


if __name__ == "__main__":
    main()
