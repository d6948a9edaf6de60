"""Every private or unstable API that kerattn relies on, in one place.

Each function here wraps one thing that TensorFlow, Keras or TensorFlow Text does not promise to
keep: a private attribute, an internal module, the wording of an error. `tests/test_compat.py`
pins the versions each was checked against, so an upgrade that changes one fails there, by name,
rather than somewhere far away.
"""

from __future__ import annotations

from typing import Any


def is_xla_compilation_error(error: BaseException) -> bool:
    """Whether `error` (raised by a `jit_compile=True` function) is XLA refusing to compile.

    TensorFlow raises a plain `InvalidArgumentError` for it; only the message says XLA (checked
    on TensorFlow 2.21: "... XLA compilation requires a fixed tensor list size ...").
    """
    import tensorflow as tf

    return isinstance(error, tf.errors.InvalidArgumentError) and "XLA" in str(error)


def nested_layers(model: Any) -> list[Any]:
    """Every layer inside `model`, at any depth, `model` itself excluded.

    Keras's public `model.layers` lists only the direct children; the recursive walk is the private
    `Layer._flatten_layers(include_self=False, recursive=True)` (checked on Keras 3.15.1, the version
    `tests/test_compat.py` pins).
    """
    return list(model._flatten_layers(include_self=False, recursive=True))
