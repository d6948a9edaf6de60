"""`train`: runs a recipe: tf.function steps under a tf.distribute strategy, checkpoints,
resume, early stopping, TensorBoard summaries.

Loop structure (one Python iteration per batch; the step itself is one `tf.function`)::

    for each epoch e (dataset shuffled with seed + e, skipping batches already trained on):
        for each batch:
            train_step(batch)                       # strategy.run(replica step), in graph
            every log_every steps: progress line + train scalars
            every evaluation.every steps: valid loss/accuracy, BLEU/chrF (+ WER/PER for symbol
                targets) or accuracy/F1 on a sample, probe heatmaps + diagnostics, sample
                outputs; best.keras if the valid loss improved;
                early stopping after `patience` evaluations without improvement
            every checkpoint_every steps: checkpoint (model, optimizer, step, epoch, batch)

Loss: token cross-entropy on float32 logits, with label smoothing computed here, summed over
real (non-padding) target tokens and divided by the number of real tokens in the *global*
batch (all replicas), so the loss and gradients do not depend on how a batch is split over
devices. Gradients are all-reduced here, clipped by their global norm (the norm of the full
gradient, which Keras's own `global_clipnorm` would not see under a strategy: it clips per
replica before its all-reduce), then divided by the replica count because the Keras optimizer
sums gradients over replicas once more.

Resume: the checkpoint holds the model, the optimizer (slots, iterations; the learning-rate
schedule is a function of the step), the dropout seed states, the step, the epoch and the number
of batches already taken from that epoch. Each epoch's batch order is a pure function of the
seed and the epoch (`input_pipeline`), so the resumed run skips exactly the batches it trained
on and sees the same batches as an uninterrupted run: on one CPU device the resumed run is
bitwise identical to an uninterrupted one (tested with tolerance 1e-6, measured 0.0).
Evaluation restores the dropout seeds afterwards (Keras's LSTM advances them even when not
training), so the evaluation cadence does not change training either. Checkpoints are written
atomically and durably, and a resume falls back past unreadable ones (`checkpoints`); the run
folder's rules (progress, `overwrite`, the lock, stale temporaries) are in `run_folder`.

Ctrl-C: the first one stops training at the end of the current step, saves a checkpoint there
and raises `TrainingInterrupted` (exit code 130) naming the `--resume` command; a second one
stops at once, keeping the last complete checkpoint (none is written in the middle of a step,
whose variables may be half updated).

Distribution: `distribution.choose_strategy` picks the default strategy on one device,
MirroredStrategy over several visible devices (or when asked), MultiWorkerMirroredStrategy
when TF_CONFIG names a cluster. Batch sizes are rounded up to a multiple of the replica count;
evaluation, probes and saving run in cross-replica context; only the chief writes files.

Mixed precision: the mixed_float16 policy is set while the model is built (and put back
afterwards); logits are cast to float32 for the loss; a `LossScaleOptimizer` scales the loss,
the gradients are unscaled here for the norm and clipping, re-scaled, and the optimizer skips
steps whose gradients are not finite and adapts the scale.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import shlex
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from kerattn import compat
from kerattn.atomic_files import atomic_write_text, atomic_write_with
from kerattn.data import input_pipeline
from kerattn.errors import KerattnError, UsageError
from kerattn.training import (
    attention_summaries,
    checkpoints,
    distribution,
    model_factory,
    run_folder,
)
from kerattn.training.learning_rate_schedule import WarmupSchedule
from kerattn.training.recipe import Recipe, RecipeError, load_recipe
from kerattn.training.sample_quality import decode_sample, sample_quality
from kerattn.training.sample_summaries import write_validation_samples

SAMPLE_ROWS = 5  # validation examples shown as text in TensorBoard


@dataclass(frozen=True)
class TrainResult:
    """What a finished run reports (also in `metrics.json`).

    run_dir: the run folder. step: the last step trained. stop_reason: "steps", "epochs",
    "max_steps" or "early_stopping". best_step/best_valid_loss: the best evaluation (None if
    none ran). seconds: wall time of the training loop (vocabulary and setup excluded,
    evaluations included); steps_per_second over that time. tokens_per_second: target tokens
    (translator) or input tokens (classifier) per second of training steps alone (evaluations,
    saving and the first, tracing, step excluded). run_seconds: wall time of the whole run,
    summed over the segments of a resumed run (the steps redone after an interruption count
    once); None when a resumed run folder does not record its earlier time. history: one dict
    per evaluation; the best model is the one with the lowest validation loss.
    """

    run_dir: Path
    step: int
    stop_reason: str
    best_step: int | None
    best_valid_loss: float | None
    seconds: float
    steps_per_second: float
    tokens_per_second: float
    run_seconds: float | None
    history: list[dict]


def token_cross_entropy(logits, targets, weights, label_smoothing: float = 0.0):
    """Per-position cross-entropy on logits, times `weights` (0 on padding).

    Label smoothing ε mixes the one-hot target with the uniform distribution over the V
    classes: loss = (1 − ε) · (−log p_y) + ε · mean_v(−log p_v).

    Args:
        logits: (..., V), any float dtype (computed in float32).
        targets: int (...).
        weights: float32 (...).
    Returns:
        float32 (...).
    """
    logits = tf.cast(logits, tf.float32)
    negative_log_likelihood = tf.nn.sparse_softmax_cross_entropy_with_logits(targets, logits)
    if label_smoothing:
        uniform = -tf.reduce_mean(tf.nn.log_softmax(logits), axis=-1)
        negative_log_likelihood = (
            (1.0 - label_smoothing) * negative_log_likelihood + label_smoothing * uniform
        )
    return negative_log_likelihood * weights


class TrainingInterrupted(KerattnError):
    """Ctrl-C stopped training; the message says how to continue. `kerattn train` exits 130."""

    exit_code = 130


class _Trainer:
    """One run's state; `train()` is the public entry point.

    The phases, in order (`train`): `check_run_folder` (before anything is read or learned:
    writability, the lock, progress against resume/overwrite), `setup` (in memory only: data,
    vocabulary, model, optimizer, restore), `prepare_run_folder` (the first writes) and `run`.
    A recipe, data or option mistake therefore fails before anything is created on disk.
    """

    def __init__(self, recipe: Recipe, run_dir: Path, *, resume: bool, overwrite: bool,
                 logdir: Path | None, mixed_precision: bool, xla: bool, max_steps: int | None,
                 strategy: str, print_function, warn_function):
        self.recipe = recipe
        self.family = recipe.family
        self.run_dir = run_dir
        self.checkpoint_dir = run_dir / "checkpoints"
        self.logdir = logdir or run_dir / "logs"
        self.resume = resume
        self.overwrite = overwrite
        self.mixed_precision = mixed_precision
        self.xla = xla
        self.max_steps = max_steps
        self.print = print_function
        self.warn = warn_function
        self.strategy = distribution.choose_strategy(strategy)
        self.chief = distribution.is_chief(self.strategy)
        self.replicas = self.strategy.num_replicas_in_sync
        self.training = recipe.training
        self.evaluation = recipe.evaluation
        self.lock = run_folder.RunFolderLock(run_dir)
        self.owned = False  # whether this process holds the run folder's lock
        self.last_checkpoint_step: int | None = None
        self.interrupt_requested = False
        self.train_writer = self.valid_writer = None

    # -- run folder -------------------------------------------------------------------------

    def check_run_folder(self) -> None:
        """Refuses, before minutes are spent, a run folder that cannot be written, that another
        trainer uses, or whose progress does not fit resume/overwrite."""
        if not self.chief:  # only the chief writes the run folder
            if self.resume and not checkpoints.checkpoint_numbers(self.checkpoint_dir):
                raise run_folder.RunFolderConflict(
                    f"Run folder {self.run_dir} has no checkpoint to resume from.")
            return
        run_folder.check_writable(self.run_dir, "Run folder", "--run-dir",
                                  subfolders=("checkpoints", "vocabulary"))
        run_folder.check_writable(self.logdir, "TensorBoard folder", "--logdir",
                                  subfolders=run_folder.LOG_SPLITS)
        if self.run_dir.is_dir():
            self.owned = self.lock.acquire()
        self._check_progress()

    def _check_progress(self) -> None:
        found = run_folder.progress(self.run_dir)
        if self.resume:
            if not checkpoints.checkpoint_numbers(self.checkpoint_dir):
                advice = ("pass --overwrite instead to start it again" if found
                          else "train without --resume to start it")
                raise run_folder.RunFolderConflict(
                    f"Run folder {self.run_dir} has no checkpoint to resume from; {advice}.")
        elif found and not self.overwrite:
            raise run_folder.RunFolderConflict(
                f"Run folder {self.run_dir} already has a run's progress ({', '.join(found)}); "
                "pass --resume to continue it, or --overwrite to start it again (replacing the "
                "run's own files only), or choose another --run-dir."
            )

    def prepare_run_folder(self) -> None:
        """The first writes: the run folder, its stale temporaries removed, the run's old files
        removed (overwrite), the recipe and vocabulary (new runs), the TensorBoard writers."""
        if self.chief:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            if not self.owned and self.lock.descriptor is None:
                # The folder is new, or locking is unavailable; check again under the lock.
                self.owned = self.lock.acquire()
                self._check_progress()
            removed = run_folder.remove_stale_temporaries(self.run_dir, owned=self.owned)
            if removed:
                self.warn(f"removed {len(removed)} temporary file(s) an interrupted run left: "
                          + ", ".join(os.fspath(path.relative_to(self.run_dir))
                                      for path in removed))
            if self.overwrite:
                removed = run_folder.remove_run_files(self.run_dir, self.logdir)
                if removed:
                    self.warn(f"--overwrite: removed the earlier run's {len(removed)} file(s) "
                              f"from {self.run_dir}")
            if not self.resume:
                atomic_write_text(self.run_dir / "recipe.toml", self.recipe.text)
            vocabulary_dir = self.run_dir / "vocabulary"
            if not self.resume or not all((vocabulary_dir / f"{side}.txt").is_file()
                                          for side in self.vocabulary):
                model_factory.write_vocabularies(self.vocabulary, vocabulary_dir)
        writer_dir = self.logdir if self.chief else Path(tempfile.mkdtemp(prefix="kerattn-logs-"))
        self.train_writer = tf.summary.create_file_writer(str(writer_dir / "train"))
        self.valid_writer = tf.summary.create_file_writer(str(writer_dir / "valid"))

    def release(self) -> None:
        for writer in (self.train_writer, self.valid_writer):
            if writer is not None:
                with contextlib.suppress(Exception):
                    writer.close()
        self.lock.release()

    # -- setup (in memory) ------------------------------------------------------------------

    def setup(self) -> None:
        recipe = self.recipe
        keras.utils.set_random_seed(self.training["seed"])
        keras.config.set_dtype_policy("mixed_float16" if self.mixed_precision else "float32")

        labels = None
        if self.family == "classifier":  # the recipe's label order, or the training split's
            train_labels = {label for _, label in input_pipeline.read_pairs(recipe.data["train"])}
            labels = list(recipe.model.get("labels") or sorted(train_labels))
        splits = {}
        for split in ("train", "valid"):
            splits[split] = input_pipeline.read_examples(recipe.data[split], self.family, labels)
            if not splits[split][0]:
                raise RecipeError(f"[data] {split} file {recipe.data[split]} has no rows.")
        self.train_texts, self.train_targets = splits["train"]
        self.valid_texts, self.valid_targets = splits["valid"]
        self.vocabulary = model_factory.vocabularies(
            recipe, self.train_texts, self.train_targets, self.run_dir / "vocabulary",
            reuse=self.resume)

        with self.strategy.scope():
            try:
                self.model = model_factory.build_model(recipe, self.vocabulary, labels)
            except (ValueError, TypeError) as error:  # what the recipe checks could not see
                reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
                raise RecipeError(f"The recipe's [model] settings do not make a {self.family} "
                                  f"({reason.rstrip('.')}).") from None
            optimizer_settings = recipe.optimizer
            self.batches_per_epoch = input_pipeline.count_batches(self._train_dataset(0, 0))
            if self.training["steps"] is not None:
                self.total_steps = self.training["steps"]
            else:
                self.total_steps = self.training["epochs"] * self.batches_per_epoch
            self.schedule = WarmupSchedule(
                optimizer_settings["learning_rate"], optimizer_settings["schedule"],
                optimizer_settings["warmup_steps"], self.total_steps,
            )
            self.optimizer = keras.optimizers.Adam(self.schedule)
            if self.mixed_precision:
                self.optimizer = keras.optimizers.LossScaleOptimizer(self.optimizer)
            self.optimizer.build(self.model.trainable_variables)
            self.state = {
                name: tf.Variable(value, trainable=False, name=name, dtype=dtype)
                for name, value, dtype in (
                    ("step", 0, tf.int64), ("epoch", 0, tf.int64),
                    ("batch_in_epoch", 0, tf.int64),
                    ("best_valid_loss", np.inf, tf.float32), ("best_step", -1, tf.int64),
                    ("evaluations_without_improvement", 0, tf.int64),
                )
            }
        # Dropout seed states are variables of the model but not weights, and the model's
        # checkpoint dependencies miss them: list them so a resumed run draws the same masks.
        weight_ids = {id(weight) for weight in self.model.weights}
        random_states = [v.value for v in self.model.variables if id(v) not in weight_ids]
        self.random_states = random_states
        self.checkpoint = tf.train.Checkpoint(model=self.model, optimizer=self.optimizer,
                                              random_states=random_states, **self.state)
        self.history: list[dict] = []
        self.train_log: list[dict] = []
        # Wall time of the earlier segments up to the checkpoint this run starts from.
        self.earlier_seconds: float | None = 0.0
        self.segment_start = time.perf_counter()
        self.checkpoint_record: dict | None = None
        if self.resume:
            self._restore()

        self.valid_dataset = self.strategy.experimental_distribute_dataset(
            self._dataset(self.valid_texts, self.valid_targets, None, 0))
        # One trace for every bucket shape: batch and length dimensions are None in the spec.
        train_spec = self.strategy.experimental_distribute_dataset(
            self._train_dataset(0, 0)).element_spec
        self.train_function = tf.function(
            self._train_step, input_signature=[train_spec], jit_compile=self.xla or None)
        self.eval_function = tf.function(
            self._eval_step, input_signature=[self.valid_dataset.element_spec])

    def _restore(self) -> None:
        """Restores the newest readable checkpoint and the history up to its step."""
        copy = self.run_dir / "recipe.toml"
        if copy.is_file() and copy.read_text(encoding="utf-8") != self.recipe.text:
            self.warn(f"the recipe differs from the run folder's copy {copy}; resuming with "
                      "the recipe given")
        number, unreadable = checkpoints.restore_newest_readable(
            self.checkpoint, self.checkpoint_dir)
        step = int(self.state["step"].numpy())
        self.last_checkpoint_step = step
        if unreadable:
            names = " and ".join(f"ckpt-{item.number}" for item in unreadable)
            reasons = "; ".join(item.reason for item in unreadable)
            verb = "is" if len(unreadable) == 1 else "are"
            self.warn(f"checkpoint {names} {verb} unreadable ({reasons}); resuming from "
                      f"ckpt-{number} at step {step}")
        previous = self._read_metrics()
        # A run may have evaluated/logged past its last checkpoint before it stopped.
        self.history = [r for r in previous.get("evaluations", []) if r["step"] <= step]
        self.train_log = [r for r in previous.get("training", []) if r["step"] <= step]
        record = previous.get("checkpoint") or {}
        self.earlier_seconds = record.get("run_seconds") if record.get("step") == step else None
        # Kept in metrics.json even if this segment writes no checkpoint of its own.
        self.checkpoint_record = {"step": step, "run_seconds": self.earlier_seconds}
        self.print(f"resumed from step {step} (epoch {int(self.state['epoch'].numpy()) + 1}, "
                   f"{int(self.state['batch_in_epoch'].numpy())} batches into it)")

    def _dataset(self, texts, targets, seed, skip):
        return input_pipeline.make_dataset(
            self.model, self.family, texts, targets,
            batch_size=self.training["batch_size"], batch_tokens=self.training["batch_tokens"],
            shuffle_seed=seed, skip_batches=skip, replicas=self.replicas,
        )

    def _train_dataset(self, epoch: int, skip: int):
        return self._dataset(self.train_texts, self.train_targets,
                             self.training["seed"] + epoch, skip)

    # -- steps (in graph) -------------------------------------------------------------------

    def _weights_and_tokens(self, inputs, targets):
        """Loss weights (1 per real target token, or per example) and throughput tokens."""
        if self.family == "translator":
            weights = tf.cast(tf.not_equal(targets, 0), tf.float32)  # (B, T)
            return weights, tf.reduce_sum(weights)
        weights = tf.ones_like(targets, tf.float32)  # (B,)
        return weights, tf.reduce_sum(tf.cast(tf.not_equal(inputs, 0), tf.float32))

    def _replica_train_step(self, inputs, targets):
        context = tf.distribute.get_replica_context()
        weights, tokens = self._weights_and_tokens(inputs, targets)
        global_weight = context.all_reduce(tf.distribute.ReduceOp.SUM, tf.reduce_sum(weights))
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            logits = self.model(inputs, training=True)
            losses = token_cross_entropy(logits, targets, weights,
                                         self.recipe.optimizer["label_smoothing"])
            loss_sum = tf.reduce_sum(losses)
            loss = loss_sum / tf.maximum(global_weight, 1.0)
            scaled_loss = self.optimizer.scale_loss(loss) if self.mixed_precision else loss
        # Dense gradients (embeddings give IndexedSlices): all-reduce, norm and scaling below.
        # A variable the loss does not reach (the encoder's annotation projection when
        # attention="none") gets a zero gradient, so every replica all-reduces the same list.
        gradients = [
            tf.zeros_like(variable) if gradient is None else tf.convert_to_tensor(gradient)
            for gradient, variable in zip(tape.gradient(scaled_loss, variables), variables)
        ]
        gradients = context.all_reduce(tf.distribute.ReduceOp.SUM, gradients)  # full gradient
        if self.mixed_precision:
            scale = tf.cast(self.optimizer.dynamic_scale, tf.float32)
            gradients = [gradient / scale for gradient in gradients]
        gradient_norm = tf.linalg.global_norm(gradients)
        clip_norm = self.recipe.optimizer["clip_norm"]
        if clip_norm:
            gradients, _ = tf.clip_by_global_norm(gradients, clip_norm, use_norm=gradient_norm)
        if self.mixed_precision:
            # LossScaleOptimizer unscales (and skips non-finite steps) itself.
            gradients = [gradient * scale for gradient in gradients]
        # The Keras optimizer sums over replicas again: hand it each replica's share.
        gradients = [gradient / self.replicas for gradient in gradients]
        self.optimizer.apply(gradients, variables)
        correct = self._correct(logits, targets, weights)
        return loss_sum, correct, tf.reduce_sum(weights), tokens, gradient_norm

    def _correct(self, logits, targets, weights):
        predictions = tf.argmax(logits, axis=-1, output_type=targets.dtype)
        return tf.reduce_sum(tf.cast(tf.equal(predictions, targets), tf.float32) * weights)

    def _train_step(self, batch):
        results = self.strategy.run(self._replica_train_step, args=batch)
        loss_sum, correct, weight, tokens, norm = (
            self.strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)
            for value in results
        )
        return loss_sum, correct, weight, tokens, norm / self.replicas

    def _replica_eval_step(self, inputs, targets):
        weights, _ = self._weights_and_tokens(inputs, targets)
        logits = self.model(inputs, training=False)
        losses = token_cross_entropy(logits, targets, weights,
                                     self.recipe.optimizer["label_smoothing"])
        correct = self._correct(logits, targets, weights)
        return tf.reduce_sum(losses), correct, tf.reduce_sum(weights)

    def _eval_step(self, batch):
        results = self.strategy.run(self._replica_eval_step, args=batch)
        return tuple(self.strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)
                     for value in results)

    # -- loop -------------------------------------------------------------------------------

    def run(self) -> TrainResult:
        """The training loop; Ctrl-C stops it after the current step with a checkpoint (a
        second Ctrl-C at once, keeping the last checkpoint) and raises `TrainingInterrupted`."""
        with self._ctrl_c_stops_after_the_step():
            try:
                return self._run()
            except KeyboardInterrupt:
                # Anywhere, even inside a step: the variables may be half a step on, so no
                # checkpoint is written now; the last one is complete.
                with contextlib.suppress(Exception):
                    self.train_writer.flush()
                    self.valid_writer.flush()
                raise TrainingInterrupted(self._how_to_continue(self.last_checkpoint_step)) \
                    from None

    @contextlib.contextmanager
    def _ctrl_c_stops_after_the_step(self):
        """SIGINT sets `interrupt_requested` (the loop stops at the end of the step); a second
        one raises KeyboardInterrupt. Signal handlers exist in the main thread only."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def request_stop(signum, frame):
            if self.interrupt_requested:
                raise KeyboardInterrupt
            self.interrupt_requested = True
            self.warn("Ctrl-C: stopping after this step and saving a checkpoint "
                      "(Ctrl-C again stops at once, keeping the last checkpoint)")

        previous = signal.signal(signal.SIGINT, request_stop)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT,
                          previous if previous is not None else signal.default_int_handler)

    def _how_to_continue(self, step: int | None) -> str:
        """The TrainingInterrupted sentence: where the run stands and the command to go on."""
        recipe = shlex.quote(os.fspath(self.recipe.path)) if self.recipe.path else "RECIPE"
        command = f"kerattn train {recipe} --run-dir {shlex.quote(os.fspath(self.run_dir))}"
        if step is not None:
            return f"training interrupted at step {step}; continue with: {command} --resume"
        if self.resume:  # interrupted while restoring: the checkpoints are as they were
            return f"training interrupted before it resumed; continue with: {command} --resume"
        again = " --overwrite" if self.chief and run_folder.progress(self.run_dir) else ""
        return ("training interrupted before its first checkpoint; start again with: "
                f"{command}{again}")

    def _run(self) -> TrainResult:
        state = self.state
        step = int(state["step"].numpy())
        epoch = int(state["epoch"].numpy())
        batch_in_epoch = int(state["batch_in_epoch"].numpy())
        last_step = self.total_steps if self.max_steps is None else min(self.total_steps,
                                                                       self.max_steps)
        accuracy_name = "token_accuracy" if self.family == "translator" else "accuracy"
        log_every, eval_every = self.training["log_every"], self.evaluation["every"]
        checkpoint_every = self.training["checkpoint_every"]
        window = np.zeros(5)  # loss sum, correct, weight, tokens, gradient norm sum
        # Throughput: tokens per second of fetching batches and training, evaluations and
        # saving excluded, and the first step (which traces the function) too.
        timed_tokens, first_step = 0.0, step
        window_steps, window_seconds, batch_start = 0, 0.0, time.perf_counter()
        start, start_step, total_tokens, train_seconds = time.perf_counter(), step, 0.0, 0.0
        self.segment_start = start
        stop_reason = None
        evaluated_at = step
        self.print(f"training {self.family} for {last_step} steps ({self.batches_per_epoch} "
                   f"batches per epoch) on {self.replicas} replica(s) "
                   f"[{type(self.strategy).__name__}]")
        while stop_reason is None:
            if step >= last_step:
                if step < self.total_steps:
                    stop_reason = "max_steps"
                else:
                    stop_reason = "steps" if self.training["epochs"] is None else "epochs"
                break
            if self.training["epochs"] is not None and epoch >= self.training["epochs"]:
                stop_reason = "epochs"
                break
            dataset = self.strategy.experimental_distribute_dataset(
                self._train_dataset(epoch, batch_in_epoch))
            batch_start = time.perf_counter()
            for batch in dataset:
                values = self._run_train_function(batch)
                step += 1
                batch_in_epoch += 1
                window += np.array([float(value) for value in values])
                window_steps += 1
                if step - 1 != first_step:
                    window_seconds += time.perf_counter() - batch_start
                    timed_tokens += float(values[3])
                if step % log_every == 0 or step == last_step:
                    total_tokens += timed_tokens
                    train_seconds += window_seconds
                    record = {
                        "step": step,
                        "loss": window[0] / max(window[2], 1.0),
                        accuracy_name: window[1] / max(window[2], 1.0),
                        "learning_rate": float(self.schedule(step - 1)),
                        "gradient_norm": window[4] / window_steps,
                        "tokens_per_second": timed_tokens / max(window_seconds, 1e-9),
                    }
                    self.train_log.append(record)
                    with self.train_writer.as_default(step=step):
                        for name, value in record.items():
                            if name != "step":
                                tf.summary.scalar(name, value)
                    rate = (step - start_step) / max(time.perf_counter() - start, 1e-9)
                    eta = datetime.timedelta(seconds=round((last_step - step) / max(rate, 1e-9)))
                    self.print(
                        f"step {step}/{last_step}  epoch {epoch + 1}  loss {record['loss']:.4f}  "
                        f"{accuracy_name} {record[accuracy_name]:.3f}  "
                        f"lr {record['learning_rate']:.2e}  gnorm {record['gradient_norm']:.3f}  "
                        f"{record['tokens_per_second']:.0f} tok/s  ETA {eta}"
                    )
                    window[:] = 0
                    window_steps, window_seconds, timed_tokens = 0, 0.0, 0.0
                if step % eval_every == 0:
                    evaluated_at = step
                    if self._evaluate(step):
                        stop_reason = "early_stopping"
                if step % checkpoint_every == 0:
                    self._save_checkpoint(step, epoch, batch_in_epoch)
                if self.interrupt_requested:
                    # A clean point: the step is complete and recorded.
                    if self.last_checkpoint_step != step:
                        self._save_checkpoint(step, epoch, batch_in_epoch)
                    self.train_writer.flush()
                    self.valid_writer.flush()
                    raise TrainingInterrupted(self._how_to_continue(step))
                if stop_reason or step >= last_step:
                    break
                batch_start = time.perf_counter()
            else:
                epoch += 1
                batch_in_epoch = 0
        total_tokens += timed_tokens
        train_seconds += window_seconds
        if evaluated_at != step:
            self._evaluate(step)
        if self.last_checkpoint_step != step:
            self._save_checkpoint(step, epoch, batch_in_epoch)
        seconds = time.perf_counter() - start
        if self.chief:
            self._save_model(self.run_dir / "final.keras")
        trained = step - start_step
        best_step = int(state["best_step"].numpy())
        result = TrainResult(
            run_dir=self.run_dir,
            step=step,
            stop_reason=stop_reason,
            best_step=best_step if best_step >= 0 else None,
            best_valid_loss=float(state["best_valid_loss"].numpy()) if best_step >= 0 else None,
            seconds=seconds,
            steps_per_second=trained / max(seconds, 1e-9),
            tokens_per_second=total_tokens / max(train_seconds, 1e-9),
            run_seconds=None if self.earlier_seconds is None else self.earlier_seconds + seconds,
            history=self.history,
        )
        self._write_metrics(result)
        self.train_writer.flush()
        self.valid_writer.flush()
        best = "none" if best_step < 0 else f"{result.best_valid_loss:.4f} at step {best_step}"
        self.print(
            f"done: step {step} ({stop_reason}); {trained} steps in {seconds:.1f} s "
            f"({result.steps_per_second:.2f} steps/s, {result.tokens_per_second:.0f} tok/s"
            + (f"; whole run {result.run_seconds:.1f} s" if self.resume and result.run_seconds
               else "") + "); "
            f"best valid loss {best}; "
            + (f"run folder {self.run_dir}" if self.chief else "the chief wrote the run folder")
        )
        return result

    def _run_train_function(self, batch):
        if not self.xla:
            return self.train_function(batch)
        try:
            return self.train_function(batch)
        except tf.errors.InvalidArgumentError as error:
            if not compat.is_xla_compilation_error(error):
                raise
            raise RuntimeError(
                "--xla: XLA could not compile this model's train step (on TF 2.21 the "
                "decoder's keras.ops.scan over a variable-length target has no fixed loop "
                "size, which XLA's gradient requires); train without --xla."
            ) from error

    def _evaluate(self, step: int) -> bool:
        """Validation loss/accuracy, sample quality, probe summaries; True = stop early."""
        # Keras's LSTM advances its dropout seed even when not training: put the seeds back
        # afterwards, so training does not depend on when (or whether) evaluations ran.
        seeds = [state.numpy() for state in self.random_states]
        try:
            return self._evaluate_with_seeds_restored_after(step)
        finally:
            for state, value in zip(self.random_states, seeds):
                state.assign(value)

    def _evaluate_with_seeds_restored_after(self, step: int) -> bool:
        totals = np.zeros(3)
        for batch in self.valid_dataset:
            totals += np.array([float(value) for value in self.eval_function(batch)])
        accuracy_name = "token_accuracy" if self.family == "translator" else "accuracy"
        record = {"step": step, "loss": totals[0] / max(totals[2], 1.0),
                  accuracy_name: totals[1] / max(totals[2], 1.0)}
        size = self.evaluation["sample_size"]
        # Decoded once: the quality scalars and the sample table share the outputs.
        sample_texts = self.valid_texts[:max(size, SAMPLE_ROWS)]
        outputs = decode_sample(self.model, self.family, sample_texts)
        quality = sample_quality(self.model, self.family, sample_texts[:size], outputs[:size],
                                 self.valid_targets[:size])
        record.update({f"sample_{name}": value for name, value in quality.items()})
        with self.valid_writer.as_default(step=step):
            for name, value in record.items():
                if name != "step":
                    tf.summary.scalar(name, value)
            diagnostics = attention_summaries.write_probe_summaries(
                self.model, self.family, self.evaluation["probes"], step)
            write_validation_samples(self.model, self.family, sample_texts, outputs,
                                     self.valid_targets, step, count=SAMPLE_ROWS)
        record.update({f"attention_{name}": value for name, value in diagnostics.items()})
        self.valid_writer.flush()
        self.history.append(record)
        state = self.state
        improved = record["loss"] < float(state["best_valid_loss"].numpy())
        if improved:
            state["best_valid_loss"].assign(record["loss"])
            state["best_step"].assign(step)
            state["evaluations_without_improvement"].assign(0)
            if self.chief:
                self._save_model(self.run_dir / "best.keras")
        else:
            state["evaluations_without_improvement"].assign_add(1)
        self.print(
            f"eval step {step}: " + "  ".join(
                f"{name} {value:.4f}" for name, value in record.items() if name != "step")
            + ("  (best)" if improved else "")
        )
        patience = self.evaluation["patience"]
        return bool(patience) and int(state["evaluations_without_improvement"].numpy()) >= patience

    def _save_checkpoint(self, step: int, epoch: int, batch_in_epoch: int) -> None:
        """Checkpoint `ckpt-<step>` (atomic and durable, `checkpoints`), then metrics.json."""
        self.state["step"].assign(step)
        self.state["epoch"].assign(epoch)
        self.state["batch_in_epoch"].assign(batch_in_epoch)
        if self.chief:
            checkpoints.write_checkpoint(self.checkpoint, self.checkpoint_dir, step,
                                         keep=self.training["keep_checkpoints"])
        else:  # every worker takes part in saving; only the chief's copy is kept
            checkpoints.write_checkpoint_elsewhere(self.checkpoint)
        self.last_checkpoint_step = step
        run_seconds = None
        if self.earlier_seconds is not None:
            run_seconds = self.earlier_seconds + time.perf_counter() - self.segment_start
        self.checkpoint_record = {"step": step, "run_seconds": run_seconds}
        if self.chief:
            self._write_metrics(None)

    def _save_model(self, path: Path) -> None:
        """Writes a `.keras` file atomically and durably (never a half-written best model)."""
        atomic_write_with(path, lambda temporary: self.model.save(temporary))

    def _read_metrics(self) -> dict:
        path = self.run_dir / "metrics.json"
        if not path.is_file():
            return {}
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, OSError) as error:  # JSONDecodeError and UnicodeDecodeError too
            self.warn(f"{path} is unreadable ({error}); the resumed run's history starts at "
                      "its checkpoint")
            return {}

    def _write_metrics(self, result: TrainResult | None) -> None:
        if not self.chief:
            return
        content = {
            "family": self.family,
            "recipe": str(self.recipe.path) if self.recipe.path else None,
            "evaluations": self.history,
            "training": self.train_log,
            "checkpoint": self.checkpoint_record,
        }
        if result is not None:
            content["summary"] = {
                "step": result.step, "stop_reason": result.stop_reason,
                "best_step": result.best_step, "best_valid_loss": result.best_valid_loss,
                "seconds": result.seconds, "steps_per_second": result.steps_per_second,
                "tokens_per_second": result.tokens_per_second,
                "run_seconds": result.run_seconds,
                "replicas": self.replicas, "mixed_precision": self.mixed_precision,
                "xla": self.xla,
            }
        atomic_write_text(self.run_dir / "metrics.json",
                          json.dumps(content, indent=1, default=float))


def train(
    recipe: str | os.PathLike | Recipe,
    run_dir: str | os.PathLike | None = None,
    *,
    resume: bool = False,
    overwrite: bool = False,
    logdir: str | os.PathLike | None = None,
    mixed_precision: bool = False,
    xla: bool = False,
    max_steps: int | None = None,
    strategy: str = "auto",
    print_function=None,
) -> TrainResult:
    """Trains the model a recipe describes and returns a `TrainResult`.

    The run folder (default `runs/<recipe name>`) receives `recipe.toml`, `vocabulary/`,
    `checkpoints/`, `best.keras` (lowest validation loss), `final.keras`, `metrics.json` and
    the TensorBoard logs (`logs/train`, `logs/valid`, or under `logdir`); see `run_folder`.
    The recipe, the data and the model settings are checked, and the vocabulary and model built,
    before anything is written, so a mistake leaves no half-made run folder behind.

    Args:
        recipe: a TOML recipe path or a loaded `Recipe`.
        run_dir: the run folder.
        resume: continue from the newest readable checkpoint in the run folder (same step,
            optimizer state, schedule and data position); unreadable newer ones are reported
            and skipped.
        overwrite: start again in a run folder that has progress (checkpoints, best.keras,
            final.keras or metrics.json), deleting the run's own files first and nothing else.
            Without `resume` or `overwrite` such a folder is refused; with both, too.
        logdir: TensorBoard folder (default `run_dir/logs`).
        mixed_precision: mixed_float16 policy with dynamic loss scaling.
        xla: compile the train step with XLA (`jit_compile=True`).
        max_steps: stop at this step even if the recipe asks for more (the schedule still
            follows the recipe's length, so a later `resume` continues it unchanged).
        strategy: "auto", "default", "mirrored" or "multi_worker" (`distribution`).
        print_function: where progress lines and warnings go (default: progress to standard
            output, warnings to standard error).

    Raises:
        RecipeError: a bad recipe value, data file or model setting (a UsageError).
        run_folder.RunFolderConflict: the run folder's progress does not fit resume/overwrite
            (a UsageError), UsageError: resume with overwrite, or a bad max_steps.
        run_folder.RunFolderError: a folder cannot be written, or another trainer uses it.
        checkpoints.CheckpointError: resume found no readable checkpoint (nothing is deleted).
        TrainingInterrupted: Ctrl-C; the message gives the command that continues the run.
    """
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe)
    if resume and overwrite:
        raise UsageError("--resume and --overwrite cannot be combined: --resume continues the "
                         "run folder's training, --overwrite starts it again; pass one of them.")
    if max_steps is not None and (isinstance(max_steps, bool) or not isinstance(max_steps, int)
                                  or max_steps < 1):
        raise UsageError(f"max_steps must be a positive int; received {max_steps!r}.")
    if run_dir is None:
        stem = recipe.path.stem if recipe.path else "run"
        run_dir = Path("runs") / stem
    if print_function is None:
        print_function, warn_function = print, _warn_on_standard_error
    else:
        def warn_function(message: str, show=print_function) -> None:
            show(f"warning: {message}")
    trainer = _Trainer(
        recipe, Path(run_dir), resume=resume, overwrite=overwrite,
        logdir=Path(logdir) if logdir else None, mixed_precision=mixed_precision, xla=xla,
        max_steps=max_steps, strategy=strategy, print_function=print_function,
        warn_function=warn_function,
    )
    previous_policy = keras.config.dtype_policy()
    try:
        trainer.check_run_folder()
        try:
            trainer.setup()
            trainer.prepare_run_folder()
        except KeyboardInterrupt:
            raise TrainingInterrupted(trainer._how_to_continue(None)) from None
        return trainer.run()
    finally:
        keras.config.set_dtype_policy(previous_policy)
        trainer.release()


def _warn_on_standard_error(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)
