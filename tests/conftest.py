"""Shared test helpers: backend-independent gradients and a fresh-process runner."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile

import keras
import numpy as np
import pytest

# Tests never read or fill the user's cache (downloads, learned vocabularies); processes they
# start inherit this.
os.environ["KERATTN_CACHE"] = tempfile.mkdtemp(prefix="kerattn-test-cache-")


@pytest.fixture(autouse=True)
def _seed_and_policy():
    keras.utils.set_random_seed(1234)
    yield
    keras.config.set_dtype_policy("float32")


def gradients(fn, *arrays):
    """Gradients of the scalar `fn(*arrays)` with respect to every array, on any backend."""
    arrays = [np.asarray(a, dtype="float32") for a in arrays]
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tensors = [tf.constant(a) for a in arrays]
        with tf.GradientTape() as tape:
            tape.watch(tensors)
            value = fn(*tensors)
        grads = tape.gradient(value, tensors, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return [np.asarray(g) for g in grads]
    if keras.backend.backend() == "jax":
        import jax

        grads = jax.grad(fn, argnums=tuple(range(len(arrays))))(*arrays)
        return [np.asarray(g) for g in grads]
    raise NotImplementedError(
        "tests.conftest.gradients supports the tensorflow and jax backends (the two kerattn is "
        f"tested on); KERAS_BACKEND is {keras.backend.backend()!r}."
    )


def run_fresh_python(code: str, timeout: int = 300) -> str:
    """Runs `code` in a new interpreter (same environment and backend) and returns stdout."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=env
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
