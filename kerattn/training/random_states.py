"""The model's random-number states (dropout seeds): listed for the checkpoint, and put back
after an evaluation.

Keras's seed generators keep their state in variables of the model that are not weights, and
the model's checkpoint dependencies miss them: a resumed run draws the same dropout masks only
if the checkpoint lists them. Keras's LSTM also advances its dropout seed when not training, so
an evaluation would change the masks training draws next; `restored_afterwards` puts them back,
so training does not depend on when (or whether) evaluations ran.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


def seed_states(model) -> list:
    """The model's variables that are not weights (its seed generators' states)."""
    weight_ids = {id(weight) for weight in model.weights}
    return [variable.value for variable in model.variables if id(variable) not in weight_ids]


@contextlib.contextmanager
def restored_afterwards(states: list) -> Iterator[None]:
    """Captures the values of `states` (`seed_states`) and assigns them back on exit."""
    values = [state.numpy() for state in states]
    try:
        yield
    finally:
        for state, value in zip(states, values):
            state.assign(value)
