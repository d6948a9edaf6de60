"""Constructor argument checks shared by kerattn's layers: one sentence naming the argument,
what it must be, and what was received."""

from __future__ import annotations


def check_positive_int(name: str, value, optional: bool = False) -> None:
    """Raises ValueError unless `value` is an int > 0 (or None when `optional`)."""
    if optional and value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"`{name}` must be a positive int; received {name}={value!r}.")


def check_rate(name: str, value) -> None:
    """Raises ValueError unless `value` is a float in [0, 1), like a dropout rate."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 <= value < 1.0:
        raise ValueError(f"`{name}` must be a float in [0, 1); received {name}={value!r}.")


def check_use_cudnn(value) -> None:
    """Raises ValueError unless `value` is one of Keras's LSTM `use_cudnn` settings."""
    if value not in ("auto", True, False):
        raise ValueError(
            f"`use_cudnn` must be 'auto', True or False; received use_cudnn={value!r}."
        )


def check_bool(name: str, value) -> None:
    """Raises ValueError unless `value` is a bool."""
    if not isinstance(value, bool):
        raise ValueError(f"`{name}` must be True or False; received {name}={value!r}.")
