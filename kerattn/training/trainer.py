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

The parts, each in its module: the loss (`loss`), the replica steps and their gradient
arithmetic (`replica_steps`), mixed-precision loss scaling (`loss_scaling`), the checkpointed
state (`training_state`; the files: `checkpoints`), the dropout seed states (`random_states`),
the validation (`validation`), the run log metrics.json (`run_log`), Ctrl-C (`interruption`)
and the run folder's rules (`run_folder`). This module sets a run up and runs the loop.

Resume: the checkpoint holds the model, the optimizer (slots, iterations; the learning-rate
schedule is a function of the step), the dropout seed states, the step, the epoch and the number
of batches already taken from that epoch. Each epoch's batch order is a pure function of the
seed and the epoch (`kerattn.data.input_pipeline`), so the resumed run skips exactly the
batches it trained on and sees the same batches as an uninterrupted run: on one CPU device the
resumed run is bitwise identical to an uninterrupted one (tested with tolerance 1e-6, measured
0.0). Evaluation restores the dropout seeds afterwards, so the evaluation cadence does not change
training either. Checkpoints are written atomically and durably, and a resume falls back past
unreadable ones.

Distribution: `distribution.choose_strategy` picks the default strategy on one device,
MirroredStrategy over several visible devices (or when asked), MultiWorkerMirroredStrategy
when TF_CONFIG names a cluster. Batch sizes are rounded up to a multiple of the replica count;
evaluation, probes and saving run in cross-replica context; only the chief writes files.

Mixed precision: the mixed_float16 policy is set while the model is built (and put back
afterwards); logits are cast to float32 for the loss; a `LossScaleOptimizer` scales the loss,
and skips steps whose gradients are not finite.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import sys
import tempfile
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from kerattn.atomic_files import atomic_write_text, atomic_write_with
from kerattn.data import input_pipeline
from kerattn.errors import UsageError
from kerattn.training import checkpoints, distribution, model_factory, run_folder
from kerattn.training.fused_adam import FusedAdam
from kerattn.training.interruption import StopRequest, TrainingInterrupted, how_to_continue
from kerattn.training.learning_rate_schedule import WarmupSchedule
from kerattn.training.loss_scaling import wrap_optimizer
from kerattn.training.random_states import restored_afterwards
from kerattn.training.recipe import Recipe, RecipeError, load_recipe, with_seed
from kerattn.training.replica_steps import ReplicaSteps
from kerattn.training.run_log import RunLog, TrainResult
from kerattn.training.training_state import TrainingState
from kerattn.training.validation import Validation

__all__ = ["TrainResult", "TrainingInterrupted", "train"]


class _Throughput:
    """The step results summed since the last progress line, and the run's timed tokens.

    Throughput counts the tokens per second of fetching batches and training, evaluations and
    saving excluded, and the first step (which traces the function) too.
    """

    def __init__(self, first_step: int):
        self.first_step = first_step
        self.sums = np.zeros(5)  # loss sum, correct, weight, tokens, gradient norm sum
        self.steps = 0
        self.seconds = 0.0
        self.tokens = 0.0
        self.total_seconds = 0.0
        self.total_tokens = 0.0

    def add(self, step: int, values: list[float], seconds: float) -> None:
        """Adds step `step`'s results, which took `seconds` with the batch's fetching."""
        self.sums += np.array(values)
        self.steps += 1
        if step - 1 != self.first_step:
            self.seconds += seconds
            self.tokens += values[3]

    def close_window(self) -> None:
        """Counts the window's tokens and seconds into the run's, and starts a new window."""
        self.total_tokens += self.tokens
        self.total_seconds += self.seconds
        self.sums[:] = 0
        self.steps, self.seconds, self.tokens = 0, 0.0, 0.0


class _Trainer:
    """One run's state; `train()` is the public entry point.

    The phases, in order (`train`): `check_run_folder` (before anything is read or learned:
    writability, the lock, progress against resume/overwrite), `setup` (in memory only: data,
    vocabulary, model, optimizer, restore), `prepare_run_folder` (the first writes) and `run`.
    A recipe, data or option mistake therefore fails before anything is created on disk.
    """

    def __init__(
        self,
        recipe: Recipe,
        run_dir: Path,
        *,
        resume: bool,
        overwrite: bool,
        logdir: Path | None,
        mixed_precision: bool,
        xla: bool,
        max_steps: int | None,
        strategy: str,
        parts: int | str = 1,
        print_function,
        warn_function,
    ):
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
        # Before the strategy: the cores' share is set before TensorFlow's runtime starts.
        self.parts = distribution.batch_parts(parts, recipe.training["batch_size"])
        if self.parts > 1 and not distribution.share_cores(self.parts) and parts == "auto":
            self.parts = 1  # the runtime started with every core per op: one slice
        self.strategy = distribution.choose_strategy(strategy)
        self.chief = distribution.is_chief(self.strategy)
        self.replicas = self.strategy.num_replicas_in_sync
        self.training = recipe.training
        self.evaluation = recipe.evaluation
        self.accuracy_name = "token_accuracy" if self.family == "translator" else "accuracy"
        self.lock = run_folder.RunFolderLock(run_dir)
        self.owned = False  # whether this process holds the run folder's lock
        self.last_checkpoint_step: int | None = None
        self.stop_request = StopRequest(self.warn)
        self.train_writer = self.valid_writer = None

    # -- run folder -------------------------------------------------------------------------

    def check_run_folder(self) -> None:
        """Refuses, before minutes are spent, a run folder that cannot be written, that another
        trainer uses, or whose progress does not fit resume/overwrite."""
        if not self.chief:  # only the chief writes the run folder
            if self.resume and not checkpoints.checkpoint_numbers(self.checkpoint_dir):
                raise run_folder.RunFolderConflict(
                    f"Run folder {self.run_dir} has no checkpoint to resume from."
                )
            return
        run_folder.check_writable(
            self.run_dir, "Run folder", "--run-dir", subfolders=("checkpoints", "vocabulary")
        )
        run_folder.check_writable(
            self.logdir, "TensorBoard folder", "--logdir", subfolders=run_folder.LOG_SPLITS
        )
        if self.run_dir.is_dir():
            self.owned = self.lock.acquire()
        run_folder.check_progress(self.run_dir, resume=self.resume, overwrite=self.overwrite)

    def prepare_run_folder(self) -> None:
        """The first writes: the run folder, its stale temporaries removed, the run's old files
        removed (overwrite), the recipe and vocabulary (new runs), the TensorBoard writers (and
        the validation, which writes to one)."""
        if self.chief:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            if not self.owned and self.lock.descriptor is None:
                # The folder is new, or locking is unavailable; check again under the lock.
                self.owned = self.lock.acquire()
                run_folder.check_progress(
                    self.run_dir, resume=self.resume, overwrite=self.overwrite
                )
            self._remove_leftovers()
            if not self.resume:
                atomic_write_text(self.run_dir / "recipe.toml", self.recipe.text)
            vocabulary_dir = self.run_dir / "vocabulary"
            if not self.resume or not all(
                (vocabulary_dir / f"{side}.txt").is_file() for side in self.vocabulary
            ):
                model_factory.write_vocabularies(self.vocabulary, vocabulary_dir)
        writer_dir = self.logdir if self.chief else Path(tempfile.mkdtemp(prefix="kerattn-logs-"))
        self.train_writer = tf.summary.create_file_writer(str(writer_dir / "train"))
        self.valid_writer = tf.summary.create_file_writer(str(writer_dir / "valid"))
        self.validation = Validation(
            self.model,
            self.family,
            self.valid_dataset,
            self.steps.evaluate,
            self.valid_texts,
            self.valid_targets,
            self.evaluation,
            self.valid_writer,
        )

    def _remove_leftovers(self) -> None:
        """Stale temporaries of interrupted runs, and with `overwrite` the earlier run's files."""
        removed = run_folder.remove_stale_temporaries(self.run_dir, owned=self.owned)
        if removed:
            self.warn(
                f"removed {len(removed)} temporary file(s) an interrupted run left: "
                + ", ".join(os.fspath(path.relative_to(self.run_dir)) for path in removed)
            )
        if self.overwrite:
            removed = run_folder.remove_run_files(self.run_dir, self.logdir)
            if removed:
                self.warn(
                    f"--overwrite: removed the earlier run's {len(removed)} file(s) "
                    f"from {self.run_dir}"
                )

    def release(self) -> None:
        for writer in (self.train_writer, self.valid_writer):
            if writer is not None:
                with contextlib.suppress(Exception):
                    writer.close()
        self.lock.release()

    # -- setup (in memory) ------------------------------------------------------------------

    def setup(self) -> None:
        """Reads the data, learns (or reads) the vocabulary, builds the model, optimizer and
        steps, and restores the checkpoint when resuming; writes nothing."""
        keras.utils.set_random_seed(self.training["seed"])
        keras.config.set_dtype_policy("mixed_float16" if self.mixed_precision else "float32")
        with self.strategy.scope():
            self.initial_model = model_factory.load_initial_model(self.recipe)
        labels = self._read_data()
        with self.strategy.scope():
            self._build_model(labels)
            self._build_optimizer()
        self.state = TrainingState(self.strategy, self.model, self.optimizer)
        self.run_log = RunLog(
            self.run_dir / "metrics.json",
            self.family,
            self.recipe.path,
            {"replicas": self.replicas, "mixed_precision": self.mixed_precision, "xla": self.xla},
            writes=self.chief,
            warn=self.warn,
        )
        if self.resume:
            self._restore()
        self._compile_steps()

    def _read_data(self) -> list[str] | None:
        """The splits' rows and the vocabulary; returns the classifier's labels (None for a
        translator): the recipe's order, or the training split's, sorted."""
        recipe = self.recipe
        labels = None
        if self.family == "classifier":
            train_labels = {label for _, label in input_pipeline.read_pairs(recipe.data["train"])}
            if self.initial_model is not None:  # fine-tuning keeps the preset's classes
                labels = list(self.initial_model.labels)
                unknown = sorted(train_labels - set(labels))
                if unknown:
                    raise RecipeError(
                        f"[data] train has labels {', '.join(map(repr, unknown))} that the "
                        f"init_from model does not have; it has {', '.join(map(repr, labels))}."
                    )
            else:
                labels = list(recipe.model.get("labels") or sorted(train_labels))
        splits = {}
        for split in ("train", "valid"):
            splits[split] = input_pipeline.read_examples(recipe.data[split], self.family, labels)
            if not splits[split][0]:
                raise RecipeError(f"[data] {split} file {recipe.data[split]} has no rows.")
        self.train_texts, self.train_targets = splits["train"]
        self.valid_texts, self.valid_targets = splits["valid"]
        if self.initial_model is not None:
            self.vocabulary = model_factory.vocabularies_of(self.initial_model)
        else:
            self.vocabulary = model_factory.vocabularies(
                recipe,
                self.train_texts,
                self.train_targets,
                self.run_dir / "vocabulary",
                reuse=self.resume,
                say=self.print,
            )
        return labels

    def _build_model(self, labels: list[str] | None) -> None:
        if self.initial_model is not None:
            self.model = self.initial_model
            return
        try:
            self.model = model_factory.build_model(self.recipe, self.vocabulary, labels)
        except (ValueError, TypeError) as error:  # what the recipe checks could not see
            reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise RecipeError(
                f"The recipe's [model] settings do not make a {self.family} ({reason.rstrip('.')})."
            ) from None

    def _build_optimizer(self) -> None:
        """Adam (`FusedAdam`: Keras's Adam, one fused kernel per variable) on the warm-up schedule
        over the run's length (the recipe's steps, or its epochs of batches), loss-scaled for
        mixed precision."""
        settings = self.recipe.optimizer
        self.batches_per_epoch = input_pipeline.count_batches(self._train_dataset(0, 0))
        if self.training["steps"] is not None:
            self.total_steps = self.training["steps"]
        else:
            self.total_steps = self.training["epochs"] * self.batches_per_epoch
        self.schedule = WarmupSchedule(
            settings["learning_rate"],
            settings["schedule"],
            settings["warmup_steps"],
            self.total_steps,
        )
        self.optimizer = wrap_optimizer(FusedAdam(self.schedule), self.mixed_precision)
        self.optimizer.build(self.model.trainable_variables)

    def _restore(self) -> None:
        """Restores the newest readable checkpoint and the run log up to its step."""
        copy = self.run_dir / "recipe.toml"
        if copy.is_file() and copy.read_text(encoding="utf-8") != self.recipe.text:
            self.warn(
                f"the recipe differs from the run folder's copy {copy}; resuming with "
                "the recipe given"
            )
        number, unreadable = self.state.restore(self.checkpoint_dir)
        step, epoch, batch_in_epoch = self.state.position()
        self.last_checkpoint_step = step
        if unreadable:
            names = " and ".join(f"ckpt-{item.number}" for item in unreadable)
            reasons = "; ".join(item.reason for item in unreadable)
            verb = "is" if len(unreadable) == 1 else "are"
            self.warn(
                f"checkpoint {names} {verb} unreadable ({reasons}); resuming from "
                f"ckpt-{number} at step {step}"
            )
        self.run_log.resume_at(step)
        self.print(
            f"resumed from step {step} (epoch {epoch + 1}, {batch_in_epoch} batches into it)"
        )

    def _compile_steps(self) -> None:
        self.steps = ReplicaSteps(
            self.strategy,
            self.model,
            self.optimizer,
            self.family,
            label_smoothing=self.recipe.optimizer["label_smoothing"],
            clip_norm=self.recipe.optimizer["clip_norm"],
            parts=self.parts,
        )
        self.valid_dataset = self.strategy.experimental_distribute_dataset(
            self._dataset(self.valid_texts, self.valid_targets, None, 0)
        )
        # One trace for every bucket shape: batch and length dimensions are None in the spec.
        train_spec = self.strategy.experimental_distribute_dataset(
            self._train_dataset(0, 0)
        ).element_spec
        self.steps.compile(train_spec, self.valid_dataset.element_spec, xla=self.xla)

    def _dataset(self, texts, targets, seed, skip):
        return input_pipeline.make_dataset(
            self.model,
            self.family,
            texts,
            targets,
            batch_size=self.training["batch_size"],
            batch_tokens=self.training["batch_tokens"],
            shuffle_seed=seed,
            skip_batches=skip,
            replicas=self.replicas,
        )

    def _train_dataset(self, epoch: int, skip: int):
        return self._dataset(
            self.train_texts, self.train_targets, self.training["seed"] + epoch, skip
        )

    # -- loop -------------------------------------------------------------------------------

    def run(self) -> TrainResult:
        """The training loop; Ctrl-C stops it after the current step with a checkpoint (a
        second Ctrl-C at once, keeping the last checkpoint) and raises `TrainingInterrupted`."""
        with self.stop_request.on_ctrl_c():
            try:
                return self._run()
            except KeyboardInterrupt:
                # Anywhere, even inside a step: the variables may be half a step on, so no
                # checkpoint is written now; the last one is complete.
                with contextlib.suppress(Exception):
                    self._flush()
                raise TrainingInterrupted(self.how_to_continue(self.last_checkpoint_step)) from None

    def how_to_continue(self, step: int | None) -> str:
        """The TrainingInterrupted sentence for a run stopped after checkpoint `step`."""
        return how_to_continue(
            self.recipe.path, self.run_dir, step, resuming=self.resume, chief=self.chief
        )

    def _run(self) -> TrainResult:
        self.step, self.epoch, self.batch_in_epoch = self.state.position()
        self.start_step = self.evaluated_at = self.step
        self.last_step = (
            self.total_steps if self.max_steps is None else min(self.total_steps, self.max_steps)
        )
        self.throughput = _Throughput(first_step=self.step)
        self.start = self.run_log.segment_start = time.perf_counter()
        self.print(
            f"training {self.family} for {self.last_step} steps ({self.batches_per_epoch} "
            f"batches per epoch) on {self.replicas} replica(s) "
            f"[{type(self.strategy).__name__}]"
        )
        stop_reason = None
        while stop_reason is None:
            stop_reason = self._reason_to_stop() or self._train_epoch()
        self.throughput.close_window()
        return self._finish(stop_reason)

    def _reason_to_stop(self) -> str | None:
        """Why the run ends before the next epoch starts: its length or --max-steps reached."""
        if self.step >= self.last_step:
            if self.step < self.total_steps:
                return "max_steps"
            return "steps" if self.training["epochs"] is None else "epochs"
        if self.training["epochs"] is not None and self.epoch >= self.training["epochs"]:
            return "epochs"
        return None

    def _train_epoch(self) -> str | None:
        """Trains on the rest of the current epoch, or up to the last step; returns
        "early_stopping" if an evaluation ended the run."""
        dataset = self.strategy.experimental_distribute_dataset(
            self._train_dataset(self.epoch, self.batch_in_epoch)
        )
        batch_start = time.perf_counter()
        for batch in dataset:
            values = [float(value) for value in self.steps.train(batch)]
            self.step += 1
            self.batch_in_epoch += 1
            self.throughput.add(self.step, values, time.perf_counter() - batch_start)
            stop_reason = self._after_step()
            if stop_reason or self.step >= self.last_step:
                return stop_reason
            batch_start = time.perf_counter()
        self.epoch += 1
        self.batch_in_epoch = 0
        return None

    def _after_step(self) -> str | None:
        """What a step is followed by at its cadence: the progress line, an evaluation (returns
        "early_stopping" if it ends the run), a checkpoint; and a requested stop."""
        stop_reason = None
        if self.step % self.training["log_every"] == 0 or self.step == self.last_step:
            self._log_progress()
        if self.step % self.evaluation["every"] == 0:
            self.evaluated_at = self.step
            if self._evaluate():
                stop_reason = "early_stopping"
        if self.step % self.training["checkpoint_every"] == 0:
            self._save_checkpoint()
        if self.stop_request.requested:
            # A clean point: the step is complete and recorded.
            if self.last_checkpoint_step != self.step:
                self._save_checkpoint()
            self._flush()
            raise TrainingInterrupted(self.how_to_continue(self.step))
        return stop_reason

    def _log_progress(self) -> None:
        """The window's averages as a record in the run log, TensorBoard scalars and a line."""
        window = self.throughput
        step, sums = self.step, window.sums
        record = {
            "step": step,
            "loss": sums[0] / max(sums[2], 1.0),
            self.accuracy_name: sums[1] / max(sums[2], 1.0),
            "learning_rate": float(self.schedule(step - 1)),
            "gradient_norm": sums[4] / window.steps,
            "tokens_per_second": window.tokens / max(window.seconds, 1e-9),
        }
        window.close_window()
        self.run_log.training.append(record)
        with self.train_writer.as_default(step=step):
            for name, value in record.items():
                if name != "step":
                    tf.summary.scalar(name, value)
        rate = (step - self.start_step) / max(time.perf_counter() - self.start, 1e-9)
        eta = datetime.timedelta(seconds=round((self.last_step - step) / max(rate, 1e-9)))
        self.print(
            f"step {step}/{self.last_step}  epoch {self.epoch + 1}  loss {record['loss']:.4f}  "
            f"{self.accuracy_name} {record[self.accuracy_name]:.3f}  "
            f"lr {record['learning_rate']:.2e}  gnorm {record['gradient_norm']:.3f}  "
            f"{record['tokens_per_second']:.0f} tok/s  ETA {eta}"
        )

    def _evaluate(self) -> bool:
        """Validates at the current step, keeps best.keras; True = stop early (patience)."""
        # Keras's LSTM advances its dropout seed even when not training: put the seeds back.
        with restored_afterwards(self.state.random_states):
            record = self.validation.run(self.step)
            self.run_log.evaluations.append(record)
            improved = self.state.record_evaluation(record["loss"], self.step)
            if improved and self.chief:
                self._save_model(self.run_dir / "best.keras")
            self.print(
                f"eval step {self.step}: "
                + "  ".join(
                    f"{name} {value:.4f}" for name, value in record.items() if name != "step"
                )
                + ("  (best)" if improved else "")
            )
            return self.state.patience_exhausted(self.evaluation["patience"])

    def _save_checkpoint(self) -> None:
        """Checkpoint `ckpt-<step>` (atomic and durable, `checkpoints`), then metrics.json."""
        self.state.save(
            self.checkpoint_dir,
            self.step,
            self.epoch,
            self.batch_in_epoch,
            keep=self.training["keep_checkpoints"],
            chief=self.chief,
        )
        self.last_checkpoint_step = self.step
        self.run_log.record_checkpoint(self.step)

    def _save_model(self, path: Path) -> None:
        """Writes a `.keras` file atomically and durably (never a half-written best model)."""
        atomic_write_with(path, lambda temporary: self.model.save(temporary))

    def _flush(self) -> None:
        self.train_writer.flush()
        self.valid_writer.flush()

    def _finish(self, stop_reason: str) -> TrainResult:
        """The last step's evaluation and checkpoint if its cadence missed them, final.keras,
        the result (in metrics.json too) and the closing line."""
        step = self.step
        if self.evaluated_at != step:
            self._evaluate()
        if self.last_checkpoint_step != step:
            self._save_checkpoint()
        seconds = time.perf_counter() - self.start
        if self.chief:
            self._save_model(self.run_dir / "final.keras")
        trained = step - self.start_step
        result = TrainResult(
            run_dir=self.run_dir,
            step=step,
            stop_reason=stop_reason,
            best_step=self.state.best_step,
            best_valid_loss=self.state.best_valid_loss,
            seconds=seconds,
            steps_per_second=trained / max(seconds, 1e-9),
            tokens_per_second=self.throughput.total_tokens
            / max(self.throughput.total_seconds, 1e-9),
            run_seconds=self.run_log.run_seconds(seconds),
            history=self.run_log.evaluations,
        )
        self.run_log.write(result)
        self._flush()
        best = (
            "none"
            if result.best_step is None
            else f"{result.best_valid_loss:.4f} at step {result.best_step}"
        )
        self.print(
            f"done: step {step} ({stop_reason}); {trained} steps in {seconds:.1f} s "
            f"({result.steps_per_second:.2f} steps/s, {result.tokens_per_second:.0f} tok/s"
            + (
                f"; whole run {result.run_seconds:.1f} s"
                if self.resume and result.run_seconds
                else ""
            )
            + "); "
            f"best valid loss {best}; "
            + (f"run folder {self.run_dir}" if self.chief else "the chief wrote the run folder")
        )
        return result


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
    seed: int | None = None,
    parts: int | str = "auto",
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
        seed: train with this `[training] seed` instead of the recipe's (`recipe.with_seed`:
            the run folder's recipe copy says so); e.g. the members of an ensemble.
        parts: slices each batch is computed in side by side, one share of the cores each
            (`distribution.batch_parts`; "auto": one per core on a CPU, with at least 32
            sentences each). The loss and gradients are the same up to float rounding.
        print_function: where progress lines and warnings go (default: progress to standard
            output, warnings to standard error).

    Raises:
        RecipeError: a bad recipe value, data file or model setting (a UsageError).
        run_folder.RunFolderConflict: the run folder's progress does not fit resume/overwrite
            (a UsageError), UsageError: resume with overwrite, or a bad max_steps.
        run_folder.RunFolderError: a folder cannot be written, or another trainer uses it;
            run_folder.RunFolderPathError (a UsageError) if it is a file or lies under one.
        checkpoints.CheckpointError: resume found no readable checkpoint (nothing is deleted).
        TrainingInterrupted: Ctrl-C; the message gives the command that continues the run.
    """
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe)
    if seed is not None:
        recipe = with_seed(recipe, seed)
    _check_options(resume, overwrite, max_steps)
    if run_dir is None:
        stem = recipe.path.stem if recipe.path else "run"
        run_dir = Path("runs") / stem
    print_function, warn_function = _output_functions(print_function)
    trainer = _Trainer(
        recipe,
        Path(run_dir),
        resume=resume,
        overwrite=overwrite,
        logdir=Path(logdir) if logdir else None,
        mixed_precision=mixed_precision,
        xla=xla,
        max_steps=max_steps,
        strategy=strategy,
        parts=parts,
        print_function=print_function,
        warn_function=warn_function,
    )
    previous_policy = keras.config.dtype_policy()
    try:
        trainer.check_run_folder()
        try:
            trainer.setup()
            trainer.prepare_run_folder()
        except KeyboardInterrupt:
            raise TrainingInterrupted(trainer.how_to_continue(None)) from None
        return trainer.run()
    finally:
        keras.config.set_dtype_policy(previous_policy)
        trainer.release()


def _check_options(resume: bool, overwrite: bool, max_steps: int | None) -> None:
    if resume and overwrite:
        raise UsageError(
            "--resume and --overwrite cannot be combined: --resume continues the "
            "run folder's training, --overwrite starts it again; pass one of them."
        )
    if max_steps is not None and (
        isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1
    ):
        raise UsageError(f"max_steps must be a positive int; received {max_steps!r}.")


def _output_functions(print_function):
    """(progress, warning) printers: standard output and error, or both to `print_function`."""
    if print_function is None:
        return print, _warn_on_standard_error

    def warn_function(message: str) -> None:
        print_function(f"warning: {message}")

    return print_function, warn_function


def _warn_on_standard_error(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)
