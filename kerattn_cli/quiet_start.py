"""Starts TensorFlow without its start-up log lines (shown again with `kerattn --verbose`).

TensorFlow's C++ runtime writes 8-10 lines to the standard error of every process that imports
it (absl's "before InitializeLog" notice, the CUDA stub and CPU-feature lines, and a `cuInit`
error on every machine without a GPU). They are written before TF_CPP_MIN_LOG_LEVEL takes effect,
so the only way to hide them is to point file descriptor 2 elsewhere while TensorFlow loads and
looks for devices. Python's own errors raised meanwhile are re-raised after stderr is restored.

Later lines of the C++ runtime are hidden too (TF_CPP_MIN_LOG_LEVEL 3), ERROR lines included: on a
CPU without AVX-512 the first int64 op logs "oneDNN supports DT_INT64 only on platforms with
AVX-512" at ERROR level, a notice about TensorFlow's own kernels that the user can do nothing
about. Errors that concern the user reach them as Python exceptions, which the command reports.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def _stderr_discarded() -> Iterator[None]:
    sys.stderr.flush()
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def quiet_tensorflow_start() -> None:
    """Imports TensorFlow and finds its devices with the start-up noise discarded."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with _stderr_discarded():
        import tensorflow as tf

        tf.config.list_physical_devices()
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.ERROR)
