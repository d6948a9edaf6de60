"""Choosing the `tf.distribute` strategy a training run uses."""

from __future__ import annotations

import json
import os

import tensorflow as tf

STRATEGIES = ("auto", "default", "mirrored", "multi_worker")
# A batch slice of fewer sentences than this is not worth a core of its own (`batch_parts`).
SMALLEST_PART = 32


def cpu_cores() -> int:
    """The CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def batch_parts(parts: int | str, batch_size: int | None) -> int:
    """The slices `ReplicaSteps` computes each batch in: `parts` itself, or for "auto" one per
    CPU core on a machine without GPUs as long as each keeps `SMALLEST_PART` sentences (2 for
    the recipes' batches of 64 on 2 or more cores), and 1 with a GPU or batches by token count
    (`batch_size` None)."""
    if parts == "auto":
        if batch_size is None or tf.config.list_physical_devices("GPU"):
            return 1
        return max(1, min(cpu_cores(), batch_size // SMALLEST_PART))
    if isinstance(parts, bool) or not isinstance(parts, int) or parts < 1:
        raise ValueError(f'parts must be "auto" or an int of at least 1, received {parts!r}.')
    return parts


def share_cores(parts: int) -> bool:
    """Gives each of `parts` batch slices an equal share of the cores: intra-op threads =
    cores // parts (at least 1), so that the slices run side by side rather than each op on
    every core in turn. Only possible before TensorFlow's runtime starts; returns whether the
    setting is in force (False, and nothing changed, once the runtime runs with another)."""
    threads = max(1, cpu_cores() // parts)
    if tf.config.threading.get_intra_op_parallelism_threads() == threads:
        return True
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
    except RuntimeError:  # the runtime has started (e.g. a second run in one process)
        return False
    return True


def choose_strategy(name: str = "auto") -> tf.distribute.Strategy:
    """Returns the strategy for `name`.

    "auto": MultiWorkerMirroredStrategy when TF_CONFIG names a cluster, MirroredStrategy when
    several devices of one kind are visible (GPUs, or logical CPUs), otherwise the default
    strategy (one device, no wrapping).
    """
    if name not in STRATEGIES:
        raise ValueError(
            f"strategy must be one of {', '.join(map(repr, STRATEGIES))}; received {name!r}."
        )
    if name == "auto":
        if os.environ.get("TF_CONFIG") and json.loads(os.environ["TF_CONFIG"]).get("cluster"):
            name = "multi_worker"
        else:
            gpus = tf.config.list_logical_devices("GPU")
            cpus = tf.config.list_logical_devices("CPU")
            name = "mirrored" if len(gpus) > 1 or (not gpus and len(cpus) > 1) else "default"
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
        return tf.distribute.MirroredStrategy(devices)
    return tf.distribute.get_strategy()


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True on the worker that writes files (the only worker outside multi-worker training)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    return resolver.task_type == "chief" or (
        resolver.task_type == "worker"
        and resolver.task_id == 0
        and "chief" not in resolver.cluster_spec().as_dict()
    )
