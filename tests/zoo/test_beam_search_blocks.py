"""`beam_search` ranks the vocabulary in blocks and leaves unchanged state entries alone; it
must return exactly what the straightforward search over all K·V candidates returned
(`beam_search_reference`): the same hypotheses in the same order, bit-identical scores,
log-probabilities and attention, ties included."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from kerattn.zoo import decoding
from kerattn.zoo.decoding import Constraints, DecodeResult, beam_search
from tests.zoo.beam_search_reference import reference_beam_search

PAD, START = 0, 1


class TableModel:
    """First-order model: log P(y_t | y_{t-1}) = tables[sentence table, y_{t-1}]; the state
    also carries a running sum that changes every step (reordered by the search) and the
    table ids and source mask that never change (passed through as they are)."""

    def __init__(self, tables):
        self.tables = tf.constant(tables, tf.float32)

    def initial_state(self, table_ids, source_mask):
        return {
            "table": tf.constant(table_ids, tf.int32),
            "mask": tf.constant(source_mask),
            "sum": tf.zeros([len(table_ids)], tf.int32),
        }

    def step(self, tokens, state, step):
        indices = tf.stack([state["table"], tokens], axis=-1)
        log_probs = tf.gather_nd(self.tables, indices)  # (N, V)
        width = tf.shape(state["mask"])[1]
        position = (3 * tokens + state["sum"] + step) % width
        attention = 0.7 * tf.one_hot(position, width) + 0.3 / tf.cast(width, tf.float32)
        return log_probs, dict(state, sum=state["sum"] + tokens), attention


def tables(seed: int, vocabulary: int, end_id: int, ties: bool) -> np.ndarray:
    """Three log-softmaxed tables (3, V, V); with `ties`, logits on a coarse grid, so that
    many candidates tie exactly."""
    rng = np.random.default_rng(seed)
    logits = 2.0 * rng.standard_normal((3, vocabulary, vocabulary))
    if ties:
        logits = np.round(logits)
    logits[..., end_id] += 0.5
    logits[..., [PAD, START]] = -np.inf
    return (logits - np.logaddexp.reduce(logits, axis=-1, keepdims=True)).astype("float32")


def assert_same_results(new: DecodeResult, old: DecodeResult) -> None:
    for name in DecodeResult._fields:
        np.testing.assert_array_equal(
            np.asarray(getattr(new, name)), np.asarray(getattr(old, name)), err_msg=name
        )


def both(model_tables, end_id, block_width, monkeypatch, prefix=None, **options):
    model = TableModel(model_tables)
    table_ids = [0, 2, 1, 0]
    source_mask = np.arange(5)[None, :] < np.array([[3], [5], [1], [4]])
    max_lengths = np.array([6, 4, 0, 7], "int32")
    arguments = (model.step, model.initial_state(table_ids, source_mask), START, end_id)

    def constraints():
        if "constraints" not in options:
            return None
        return Constraints(**options["constraints"], prefix_ids=prefix)

    settings = {key: value for key, value in options.items() if key != "constraints"}
    monkeypatch.setattr(decoding, "BLOCK_WIDTH", block_width)
    new = beam_search(*arguments, max_lengths, source_mask, constraints=constraints(), **settings)
    old = reference_beam_search(
        *arguments, max_lengths, source_mask, constraints=constraints(), **settings
    )
    assert_same_results(new, old)
    return new


@pytest.mark.parametrize(
    "vocabulary, end_id, block_width",
    [
        (6, 2, 64),
        (6, 2, 2),
        (6, 2, 4),
        (6, 5, 4),
        (12, 2, 4),
        (12, 11, 3),
        (30, 17, 5),
        (37, 2, 64),
        (37, 5, 8),
        (37, 36, 8),
        (13, 2, 4),
        (30, 29, 4),
        (40, 39, 8),
    ],
)
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize(
    "beam_size, length_penalty, coverage_penalty, num_hypotheses",
    [(1, 0.0, 0.0, None), (3, 0.6, 0.0, None), (4, 0.0, 0.2, 4), (8, 0.6, 0.2, 5)],
)
def test_same_hypotheses_and_scores_as_the_full_candidate_search(
    monkeypatch,
    vocabulary,
    end_id,
    block_width,
    ties,
    beam_size,
    length_penalty,
    coverage_penalty,
    num_hypotheses,
):
    both(
        tables(vocabulary + end_id, vocabulary, end_id, ties),
        end_id,
        block_width,
        monkeypatch,
        beam_size=beam_size,
        length_penalty=length_penalty,
        coverage_penalty=coverage_penalty,
        num_hypotheses=num_hypotheses,
    )


@pytest.mark.parametrize("block_width", [3, 5, 64])
def test_same_results_under_constraints_and_prefixes(monkeypatch, block_width):
    prefix = tf.constant([[4, 5], [0, 0], [3, 0], [7, 8]], tf.int32)
    result = both(
        tables(5, 12, 2, ties=True),
        2,
        block_width,
        monkeypatch,
        prefix=prefix,
        beam_size=4,
        length_penalty=0.6,
        coverage_penalty=0.2,
        num_hypotheses=4,
        constraints={"min_length": 2, "no_repeat_ngram_size": 2, "avoid": ((3,), (4, 6))},
    )
    np.testing.assert_array_equal(np.asarray(result.tokens)[0, 0, :2], [4, 5])


def test_block_layout_fills_the_last_block_where_the_width_does_not_divide_the_vocabulary(
    monkeypatch,
):
    assert decoding._block_layout(8000) == (64, False)
    assert decoding._block_layout(9993) == (64, True)  # 3 × 3331: no divisor near 64
    assert decoding._block_layout(6) == (6, False)
    assert decoding._block_layout(None) == (64, True)
    monkeypatch.setattr(decoding, "BLOCK_WIDTH", 8)
    assert decoding._block_layout(37) == (8, True)
    assert decoding._block_layout(40) == (8, False)


@pytest.mark.parametrize("vocabulary, end_id", [(37, 36), (70, 2)])
def test_same_results_when_the_vocabulary_size_is_unknown_when_traced(vocabulary, end_id):
    model = TableModel(tables(vocabulary, vocabulary, end_id, ties=True))
    source_mask = np.arange(5)[None, :] < np.array([[3], [5], [1], [4]])
    initial_state = model.initial_state([0, 2, 1, 0], source_mask)
    max_lengths = np.array([6, 4, 0, 7], "int32")

    def unknown_width(tokens, state, step):
        log_probs, state, attention = model.step(tokens, state, step)
        return tf.compat.v1.placeholder_with_default(log_probs, [None, None]), state, attention

    settings = {"beam_size": 8, "length_penalty": 0.6, "num_hypotheses": 5}
    new = tf.function(
        lambda: beam_search(
            unknown_width, initial_state, START, end_id, max_lengths, source_mask, **settings
        )
    )()
    old = reference_beam_search(
        model.step, initial_state, START, end_id, max_lengths, source_mask, **settings
    )
    assert_same_results(new, old)
