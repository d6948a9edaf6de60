"""The run log `metrics.json`: every evaluation, every progress record, the last checkpoint and,
once the run ends, its `TrainResult`.

    {"family", "recipe",
     "evaluations": [{"step", "loss", ...}, ...],   # one per evaluation
     "training": [{"step", "loss", ...}, ...],      # one per progress line
     "checkpoint": {"step", "run_seconds"},         # the last checkpoint and the run's time then
     "summary": {...}}                              # the TrainResult, when the run has ended

It is rewritten (atomically and durably) at every checkpoint and at the end. A resumed run keeps
the records up to the checkpoint it starts from: an interrupted run may have evaluated or logged
past its last checkpoint, and those steps are trained again. The whole run's time is the sum of
its segments, each counted up to its last checkpoint; it is unknown (None) when a resumed run
folder does not record it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kerattn.atomic_files import atomic_write_text


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


class RunLog:
    """The records of one run and their file.

    Args:
        path: the `metrics.json` file.
        family: "translator" or "classifier".
        recipe_path: the recipe's file (None for a recipe made in memory).
        settings: written into the summary besides the result (replicas, mixed_precision, xla).
        writes: whether this process writes the file (the chief does; other workers only keep
            the records).
        warn: where the warning about an unreadable file goes.
    """

    def __init__(
        self,
        path: Path,
        family: str,
        recipe_path: Path | None,
        settings: dict,
        *,
        writes: bool,
        warn: Callable[[str], None],
    ):
        self.path = path
        self.family = family
        self.recipe_path = recipe_path
        self.settings = settings
        self.writes = writes
        self.warn = warn
        self.evaluations: list[dict] = []
        self.training: list[dict] = []
        self.checkpoint: dict | None = None
        # Wall time of the earlier segments up to the checkpoint this run starts from.
        self.earlier_seconds: float | None = 0.0
        self.segment_start = time.perf_counter()

    def resume_at(self, step: int) -> None:
        """Takes over the file's records up to `step`, the checkpoint a resumed run starts from,
        and the run's time up to it (None if the file does not record it for that step)."""
        previous = self._read()
        self.evaluations = [r for r in previous.get("evaluations", []) if r["step"] <= step]
        self.training = [r for r in previous.get("training", []) if r["step"] <= step]
        record = previous.get("checkpoint") or {}
        self.earlier_seconds = record.get("run_seconds") if record.get("step") == step else None
        # Kept in metrics.json even if this segment writes no checkpoint of its own.
        self.checkpoint = {"step": step, "run_seconds": self.earlier_seconds}

    def run_seconds(self, segment_seconds: float) -> float | None:
        """The whole run's time once this segment has run `segment_seconds`."""
        return None if self.earlier_seconds is None else self.earlier_seconds + segment_seconds

    def record_checkpoint(self, step: int) -> None:
        """Notes checkpoint `step` and the run's time at it, and rewrites the file."""
        segment_seconds = time.perf_counter() - self.segment_start
        self.checkpoint = {"step": step, "run_seconds": self.run_seconds(segment_seconds)}
        self.write()

    def write(self, result: TrainResult | None = None) -> None:
        """Rewrites the file (only where `writes`), with the summary of `result` if given."""
        if not self.writes:
            return
        content = {
            "family": self.family,
            "recipe": str(self.recipe_path) if self.recipe_path else None,
            "evaluations": self.evaluations,
            "training": self.training,
            "checkpoint": self.checkpoint,
        }
        if result is not None:
            content["summary"] = {
                "step": result.step,
                "stop_reason": result.stop_reason,
                "best_step": result.best_step,
                "best_valid_loss": result.best_valid_loss,
                "seconds": result.seconds,
                "steps_per_second": result.steps_per_second,
                "tokens_per_second": result.tokens_per_second,
                "run_seconds": result.run_seconds,
                **self.settings,
            }
        atomic_write_text(self.path, json.dumps(content, indent=1, default=float))

    def _read(self) -> dict:
        if not self.path.is_file():
            return {}
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except (ValueError, OSError) as error:  # JSONDecodeError and UnicodeDecodeError too
            self.warn(
                f"{self.path} is unreadable ({error}); the resumed run's history starts "
                "at its checkpoint"
            )
            return {}
