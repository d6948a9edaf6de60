"""Ctrl-C during training: the first one stops the run at the end of the current step, which
is then checkpointed; a second one stops at once, keeping the last complete checkpoint (none is
written in the middle of a step, whose variables may be half updated). Either way the run ends
with `TrainingInterrupted`, whose message names the command that continues it.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from kerattn.errors import KerattnError
from kerattn.training import run_folder


class TrainingInterrupted(KerattnError):
    """Ctrl-C stopped training; the message says how to continue. `kerattn train` exits 130."""

    exit_code = 130


class StopRequest:
    """Whether Ctrl-C asked the training loop to stop after its current step.

    Args:
        warn: where the notice that the run will stop goes.
    """

    def __init__(self, warn: Callable[[str], None]):
        self.warn = warn
        self.requested = False

    @contextlib.contextmanager
    def on_ctrl_c(self) -> Iterator[None]:
        """While inside: SIGINT sets `requested`; a second one raises KeyboardInterrupt. Signal
        handlers exist in the main thread only; elsewhere Ctrl-C is left as it is."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def request_stop(signum, frame):
            if self.requested:
                raise KeyboardInterrupt
            self.requested = True
            self.warn(
                "Ctrl-C: stopping after this step and saving a checkpoint "
                "(Ctrl-C again stops at once, keeping the last checkpoint)"
            )

        previous = signal.signal(signal.SIGINT, request_stop)
        try:
            yield
        finally:
            signal.signal(
                signal.SIGINT, previous if previous is not None else signal.default_int_handler
            )


def how_to_continue(
    recipe_path: Path | None, run_dir: Path, step: int | None, *, resuming: bool, chief: bool
) -> str:
    """The `TrainingInterrupted` sentence: where the run stands and the command to go on.

    Args:
        recipe_path: the recipe's file (None: a recipe made in memory, shown as RECIPE).
        run_dir: the run folder.
        step: the step of the last complete checkpoint; None if there is none.
        resuming: whether the run was resuming (then its checkpoints are as they were).
        chief: whether this process writes the run folder (and so can tell its progress).
    """
    recipe = shlex.quote(os.fspath(recipe_path)) if recipe_path else "RECIPE"
    command = f"kerattn train {recipe} --run-dir {shlex.quote(os.fspath(run_dir))}"
    if step is not None:
        return f"training interrupted at step {step}; continue with: {command} --resume"
    if resuming:  # interrupted while restoring: the checkpoints are as they were
        return f"training interrupted before it resumed; continue with: {command} --resume"
    again = " --overwrite" if chief and run_folder.progress(run_dir) else ""
    return f"training interrupted before its first checkpoint; start again with: {command}{again}"
