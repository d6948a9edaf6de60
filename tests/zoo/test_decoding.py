"""In-graph greedy and beam search against toy models whose exact answers numpy can enumerate.

The toy model is a second-order Markov "language model": the next-token log-probabilities come
from a per-sentence table indexed by the two previous tokens. The table id and the token before
the input live in the decoder state, so a beam search that tiles or reorders its state wrongly
gives wrong probabilities. Its attention depends on the hypothesis (the two previous tokens and
the step) and deliberately leaks a little mass onto padded source positions, which the searches
must zero.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import tensorflow as tf

from kerattn.zoo.decoding import (
    COVERAGE_EPSILON,
    DecodeResult,
    beam_search,
    greedy_search,
    hypothesis_scores,
)

PAD, START, END = 0, 1, 2
VOCABULARY = 6  # outputs 2 (END), 3, 4, 5; the model never emits PAD or START


class MarkovModel:
    """Second-order Markov model: log P(y_t | y_{t-2}, y_{t-1}) = tables[table, y_{t-2}, y_{t-1}].

    Args:
        tables: float32 (M, V, V, V), log-softmaxed over the last axis.
        counter: optional tf.Variable incremented once per step call.
    """

    def __init__(self, tables, counter=None):
        self.tables = tf.convert_to_tensor(tables, tf.float32)
        self.counter = counter

    @staticmethod
    def initial_state(table_ids, source_mask) -> dict:
        table_ids = tf.convert_to_tensor(table_ids, tf.int32)
        source_mask = tf.convert_to_tensor(source_mask, tf.bool)
        return {
            "table": table_ids,
            "previous": tf.fill(tf.shape(table_ids), START),
            "source_mask": source_mask,
        }

    def step(self, tokens, state, step):
        if self.counter is not None:
            self.counter.assign_add(1)
        indices = tf.stack([state["table"], state["previous"], tokens], axis=-1)  # (N, 3)
        log_probs = tf.gather_nd(self.tables, indices)  # (N, V)
        source_length = tf.reduce_sum(tf.cast(state["source_mask"], tf.int32), axis=1)
        width = tf.shape(state["source_mask"])[1]
        attention = synthetic_attention(tokens, state["previous"], step, source_length, width)
        return log_probs, dict(state, previous=tokens), attention


def synthetic_attention(token, previous, step, source_length, width):
    """0.8 on position (3·token + previous + step) mod source_length, 0.2 spread over all S."""
    if isinstance(token, tf.Tensor):
        position = (3 * token + previous + step) % tf.maximum(source_length, 1)
        return 0.8 * tf.one_hot(position, width) + 0.2 / tf.cast(width, tf.float32)
    position = (3 * token + previous + step) % max(source_length, 1)
    return 0.8 * np.eye(width)[position] + 0.2 / width


def random_tables(rng, count, end_bonus=1.0, sharpness=2.0) -> np.ndarray:
    """Random log-softmaxed tables (count, V, V, V); PAD and START are impossible outputs."""
    logits = sharpness * rng.standard_normal((count, VOCABULARY, VOCABULARY, VOCABULARY))
    logits[..., END] += end_bonus
    logits[..., [PAD, START]] = -np.inf
    return (logits - np.logaddexp.reduce(logits, axis=-1, keepdims=True)).astype("float32")


def mask_from_lengths(source_lengths, width=None) -> np.ndarray:
    width = width or max(source_lengths)
    return np.arange(width)[None, :] < np.asarray(source_lengths)[:, None]


# ---------------------------------------------------------------- numpy reference


def numpy_score(log_prob, length, coverage, source_length, alpha, beta) -> float:
    covered = np.log(np.clip(coverage[:source_length], COVERAGE_EPSILON, 1.0)).sum()
    return log_prob / ((5.0 + length) / 6.0) ** alpha + beta * covered


def all_hypotheses(tables, table, source_length, width, max_length):
    """Every complete hypothesis: (tokens, log-prob, attention rows (n, S) with padding zeroed)."""
    mask = np.arange(width) < source_length
    results = []

    def extend(prefix, token, previous, log_prob, rows):
        if len(prefix) == max_length:
            results.append((prefix, log_prob, rows))
            return
        log_probs = tables[table, previous, token].astype("float64")
        row = synthetic_attention(token, previous, len(prefix), source_length, width) * mask
        for next_token in range(VOCABULARY):
            if not np.isfinite(log_probs[next_token]):
                continue
            arguments = (prefix + [next_token], log_prob + log_probs[next_token], rows + [row])
            if next_token == END:
                results.append(arguments)
            else:
                extend(arguments[0], next_token, token, *arguments[1:])

    extend([], START, START, 0.0, [])
    return results


def brute_force_best(tables, table, source_length, width, max_length, alpha, beta):
    """(best tokens, its score, gap to the runner-up) over all hypotheses."""
    scored = sorted(
        (
            numpy_score(
                log_prob,
                len(tokens),
                np.sum(rows, axis=0) if rows else np.zeros(width),
                source_length,
                alpha,
                beta,
            ),
            tokens,
        )
        for tokens, log_prob, rows in all_hypotheses(
            tables, table, source_length, width, max_length
        )
    )
    gap = scored[-1][0] - scored[-2][0] if len(scored) > 1 else np.inf
    return scored[-1][1], scored[-1][0], gap


def numpy_log_prob_and_attention(tables, table, source_length, width, tokens):
    """Log-probability and attention rows the model gives to a given token sequence."""
    mask = np.arange(width) < source_length
    token, previous, log_prob, rows = START, START, 0.0, []
    for step, next_token in enumerate(tokens):
        log_prob += tables[table, previous, token, next_token]
        rows.append(synthetic_attention(token, previous, step, source_length, width) * mask)
        token, previous = next_token, token
    return log_prob, np.array(rows).reshape(len(tokens), width)


# ---------------------------------------------------------------- traced decoders

SIGNATURE = [
    tf.TensorSpec([None, None, None, None], tf.float32),  # tables
    tf.TensorSpec([None], tf.int32),  # table id per sentence
    tf.TensorSpec([None, None], tf.bool),  # source mask
    tf.TensorSpec([None], tf.int32),  # max lengths
]


@functools.cache
def decoder(search: str, **options):
    """One traced decoder per search and option set (unknown B, S, M), shared by the tests."""
    search_function = {"greedy": greedy_search, "beam": beam_search}[search]

    @tf.function(input_signature=SIGNATURE)
    def decode(tables, table_ids, source_mask, max_lengths):
        model = MarkovModel(tables)
        return search_function(
            model.step,
            model.initial_state(table_ids, source_mask),
            START,
            END,
            max_lengths,
            source_mask,
            **options,
        )

    return decode


def run(search, tables, table_ids, source_mask, max_lengths, **options) -> DecodeResult:
    result = decoder(search, **options)(
        tables, np.asarray(table_ids, "int32"), source_mask, np.asarray(max_lengths, "int32")
    )
    return DecodeResult(*(np.asarray(field) for field in result))


def assert_same_result(actual: DecodeResult, expected: DecodeResult):
    for name in DecodeResult._fields:
        np.testing.assert_array_equal(getattr(actual, name), getattr(expected, name), err_msg=name)


def rows(result: DecodeResult, index: int) -> DecodeResult:
    """One sentence of a result, trimmed to its own length."""
    length = result.lengths[index]
    return DecodeResult(
        result.tokens[index, :length],
        result.lengths[index],
        result.scores[index],
        result.log_probs[index],
        result.attention[index, :length],
    )


@pytest.fixture(scope="module")
def batch():
    """Four sentences with their own tables, source lengths (padded to 5) and max lengths."""
    rng = np.random.default_rng(9)  # tables on which greedy misses the optimum of every test
    return {
        "tables": random_tables(rng, 4, end_bonus=-1.0),
        "table_ids": [2, 0, 3, 1],
        "source_mask": mask_from_lengths([3, 5, 1, 4]),
        "max_lengths": [4, 3, 2, 4],
    }


# ---------------------------------------------------------------- tests


def test_greedy_follows_the_argmax_path(batch):
    result = run("greedy", **batch)
    for index, table in enumerate(batch["table_ids"]):
        token, previous, expected = START, START, []
        while len(expected) < batch["max_lengths"][index]:
            next_token = int(np.argmax(batch["tables"][table, previous, token]))
            expected.append(next_token)
            if next_token == END:
                break
            token, previous = next_token, token
        np.testing.assert_array_equal(rows(result, index).tokens, expected)
    np.testing.assert_array_equal(result.scores, result.log_probs)  # α = β = 0: raw log-prob


def test_beam_size_one_equals_greedy_exactly(batch):
    for options in ({}, {"length_penalty": 0.6, "coverage_penalty": 0.3}):
        greedy = run("greedy", **batch, **options)
        beam = run(
            "beam",
            **batch,
            beam_size=1,
            length_penalty=options.get("length_penalty", 0.0),
            coverage_penalty=options.get("coverage_penalty", 0.0),
        )
        assert_same_result(beam, greedy)


@pytest.mark.parametrize("alpha, beta", [(0.0, 0.0), (0.7, 0.0), (1.0, 0.4)])
def test_exhaustive_beam_finds_the_brute_force_optimum(batch, alpha, beta):
    # 128 ≥ the 121 hypotheses of length ≤ 4 over 4 outputs: nothing is ever pruned, so the
    # search must return the best complete hypothesis under the full score.
    result = run("beam", **batch, beam_size=128, length_penalty=alpha, coverage_penalty=beta)
    greedy = run("greedy", **batch, length_penalty=alpha, coverage_penalty=beta)
    assert np.any(greedy.scores < result.scores - 1e-3)  # the optimum is not just greedy's
    source_lengths = batch["source_mask"].sum(axis=1)
    width = batch["source_mask"].shape[1]
    for index, table in enumerate(batch["table_ids"]):
        tokens, score, gap = brute_force_best(
            batch["tables"],
            table,
            source_lengths[index],
            width,
            batch["max_lengths"][index],
            alpha,
            beta,
        )
        np.testing.assert_allclose(result.scores[index], score, rtol=1e-5, atol=1e-5)
        if gap > 1e-4:  # a near-tie may legitimately flip in float32
            np.testing.assert_array_equal(rows(result, index).tokens, tokens)


def assert_consistent_with_model(
    result, tables, table_ids, source_mask, max_lengths, length_penalty, coverage_penalty
):
    """Log-probs, attention and scores recomputed from the returned tokens; padding after the end.

    A beam search that reorders its state or backtracks its attention wrongly fails here: the
    recomputation follows the returned tokens only.
    """
    source_lengths = source_mask.sum(axis=1)
    width = source_mask.shape[1]
    assert result.tokens.dtype == np.int32 and result.lengths.dtype == np.int32
    assert result.scores.dtype == result.log_probs.dtype == result.attention.dtype == np.float32
    assert result.attention.shape == result.tokens.shape + (width,)
    assert result.tokens.shape[1] == result.lengths.max()
    for index, table in enumerate(table_ids):
        length = result.lengths[index]
        tokens = result.tokens[index, :length]
        assert 1 <= length <= max_lengths[index]
        assert END not in tokens[:-1]
        assert tokens[-1] == END or length == max_lengths[index]
        assert not result.tokens[index, length:].any()
        assert not result.attention[index, length:].any()
        log_prob, attention = numpy_log_prob_and_attention(
            tables, table, source_lengths[index], width, tokens
        )
        np.testing.assert_allclose(result.log_probs[index], log_prob, rtol=1e-5)
        np.testing.assert_allclose(result.attention[index, :length], attention, atol=1e-7)
        assert not result.attention[index, :, source_lengths[index] :].any()
        score = numpy_score(
            log_prob,
            length,
            attention.sum(axis=0),
            source_lengths[index],
            length_penalty,
            coverage_penalty,
        )
        np.testing.assert_allclose(result.scores[index], score, rtol=1e-5)


def test_returned_fields_are_consistent_with_the_model(batch):
    greedy = run("greedy", **batch)
    assert_consistent_with_model(greedy, **batch, length_penalty=0.0, coverage_penalty=0.0)
    beam = run("beam", **batch, beam_size=3, coverage_penalty=0.2)  # default α = 0.6
    assert_consistent_with_model(beam, **batch, length_penalty=0.6, coverage_penalty=0.2)


def test_beam_never_scores_below_greedy_on_random_tables():
    rng = np.random.default_rng(3)
    sentences = 32
    tables = random_tables(rng, sentences, end_bonus=0.0, sharpness=1.0)
    source_mask = mask_from_lengths(rng.integers(1, 7, sentences))
    max_lengths = rng.integers(1, 9, sentences)
    arguments = (tables, np.arange(sentences), source_mask, max_lengths)
    options = {"length_penalty": 0.6, "coverage_penalty": 0.2}
    greedy = run("greedy", *arguments, **options)
    better = 0
    for beam_size in (2, 3):
        beam = run("beam", *arguments, beam_size=beam_size, **options)
        assert np.all(beam.scores >= greedy.scores)
        assert_consistent_with_model(beam, *arguments, **options)
        better += int(np.sum(beam.scores > greedy.scores))
    assert better > 0  # the comparison is not vacuous: beam search often does strictly better


def first_order_tables(transitions: dict[int, dict[int, float]]) -> np.ndarray:
    """(1, V, V, V) tables of a first-order chain given as {input token: {next token: prob}}."""
    tables = np.full((1, VOCABULARY, VOCABULARY, VOCABULARY), -np.inf, "float32")
    for token in range(VOCABULARY):
        probabilities = transitions.get(token, {END: 1.0})
        for next_token, probability in probabilities.items():
            tables[0, :, token, next_token] = np.log(probability)
    return tables


def test_greedy_anchor_keeps_a_better_greedy_hypothesis():
    # Greedy: START→3 (0.4), 3→END (0.3): [3, END], probability 0.12, ended at step 2.
    # Beam of 2 at step 2: [4, 3] and [4, 5] (0.35·0.5 = 0.175 each) outrank [3, END] (0.12)
    # and plain beam search would drop it; both then end at ≤ 0.175·0.4 = 0.07 < 0.12.
    tables = first_order_tables(
        {
            START: {3: 0.4, 4: 0.35, 5: 0.25},
            3: {END: 0.3, 3: 0.24, 4: 0.23, 5: 0.23},
            4: {3: 0.5, 5: 0.5},
            5: {END: 0.4, 3: 0.3, 4: 0.3},
        }
    )
    arguments = (tables, [0], mask_from_lengths([2]), [3])
    greedy = run("greedy", *arguments)
    beam = run("beam", *arguments, beam_size=2, length_penalty=0.0)
    np.testing.assert_array_equal(greedy.tokens, [[3, END]])
    np.testing.assert_allclose(greedy.log_probs, [np.log(0.12)], rtol=1e-6)
    assert_same_result(beam, greedy)


def test_length_penalty_changes_the_ranking_as_the_formula_says():
    # [END]: log 0.5 = -0.6931 (length 1, lp = 1). [3, END]: log(0.45·0.9) = -0.9039.
    # α = 0: [END] wins. α = 2: lp([3, END]) = (7/6)² = 1.3611 → -0.6641 > -0.6931: [3, END].
    tables = first_order_tables({START: {END: 0.5, 3: 0.45, 4: 0.05}, 3: {END: 0.9, 4: 0.1}})
    arguments = (tables, [0], mask_from_lengths([1]), [3])
    plain = run("beam", *arguments, beam_size=2, length_penalty=0.0)
    normalized = run("beam", *arguments, beam_size=2, length_penalty=2.0)
    np.testing.assert_array_equal(plain.tokens, [[END]])
    np.testing.assert_allclose(plain.scores, [np.log(0.5)], rtol=1e-6)
    np.testing.assert_array_equal(normalized.tokens, [[3, END]])
    np.testing.assert_allclose(normalized.scores, [np.log(0.405) / (7 / 6) ** 2], rtol=1e-6)
    np.testing.assert_allclose(normalized.log_probs, [np.log(0.405)], rtol=1e-6)


def step_attention_model(tables):
    """The chain `tables` with attention [0.9, 0.1, 0] at step 0 and [0.1, 0.9, 0.3] afterwards."""
    model = MarkovModel(tables)

    def step(tokens, state, step):
        log_probs, state, _ = model.step(tokens, state, step)
        # The third position is padding: the 0.3 leaked onto it must be zeroed, not counted.
        row = tf.where(step == 0, tf.constant([0.9, 0.1, 0.0]), tf.constant([0.1, 0.9, 0.3]))
        return log_probs, state, tf.tile(row[None, :], [tf.shape(tokens)[0], 1])

    return step


def test_coverage_penalty_changes_the_ranking_as_the_formula_says():
    # [END]: coverage [0.9, 0.1], cp = β (log 0.9 + log 0.1) = β · -2.4079; log-prob log 0.5.
    # [3, END]: coverage [1.0, 1.0], cp = 0; log-prob log 0.405 = -0.9039.
    # β = 0: [END] (-0.6931). β = 0.2: [END] scores -0.6931 - 0.4816 = -1.1747 < -0.9039.
    tables = first_order_tables({START: {END: 0.5, 3: 0.45, 4: 0.05}, 3: {END: 0.9, 4: 0.1}})
    source_mask = np.array([[True, True, False]])
    state = MarkovModel.initial_state([0], source_mask)
    step = step_attention_model(tables)
    results = {
        beta: beam_search(
            step,
            state,
            START,
            END,
            [3],
            source_mask,
            beam_size=2,
            length_penalty=0.0,
            coverage_penalty=beta,
        )
        for beta in (0.0, 0.2)
    }
    np.testing.assert_array_equal(results[0.0].tokens, [[END]])
    np.testing.assert_allclose(results[0.0].scores, [np.log(0.5)], rtol=1e-6)
    np.testing.assert_array_equal(results[0.2].tokens, [[3, END]])
    np.testing.assert_allclose(results[0.2].scores, [np.log(0.405)], rtol=1e-6)
    np.testing.assert_allclose(results[0.2].attention, [[[0.9, 0.1, 0.0], [0.1, 0.9, 0.0]]])
    # The same formula from hypothesis_scores, for the losing hypothesis.
    losing = hypothesis_scores(
        tf.constant([np.log(0.5)], tf.float32),
        tf.constant([1]),
        tf.constant([[0.9, 0.1, 0.0]]),
        tf.constant(source_mask),
        coverage_penalty=0.2,
    )
    np.testing.assert_allclose(losing, [np.log(0.5) + 0.2 * np.log(0.09)], rtol=1e-6)


def test_max_lengths_are_respected_per_sentence():
    tables = first_order_tables({token: {3: 0.6, 4: 0.4} for token in range(VOCABULARY)})
    source_mask = mask_from_lengths([2, 3, 1, 2])
    max_lengths = [3, 5, 0, 1]
    for search, options in [("greedy", {}), ("beam", {"beam_size": 3})]:
        result = run(search, tables, [0, 0, 0, 0], source_mask, max_lengths, **options)
        np.testing.assert_array_equal(result.lengths, max_lengths)  # END never possible
        assert result.tokens.shape == (4, 5)
        assert not result.tokens[2].any() and result.log_probs[2] == 0.0
        for index, length in enumerate(max_lengths):
            assert np.all(result.tokens[index, :length] > START)
            assert not result.tokens[index, length:].any()
    nothing = run("beam", tables, [0, 0], source_mask[:2], [0, 0], beam_size=2)
    assert nothing.tokens.shape == (2, 0) and nothing.attention.shape == (2, 0, 3)
    np.testing.assert_array_equal(nothing.lengths, [0, 0])


@pytest.mark.parametrize("search, options", [("greedy", {}), ("beam", {"beam_size": 4})])
def test_stops_as_soon_as_every_hypothesis_has_ended(search, options):
    # Every continuation of a 2-token prefix is END, so all hypotheses end at step 3 of 20.
    tables = np.full((1, VOCABULARY, VOCABULARY, VOCABULARY), np.log(0.25), "float32")
    tables[..., [PAD, START]] = -np.inf
    tables[:, 3:, 3:, :] = -np.inf
    tables[:, 3:, 3:, END] = 0.0
    tables[:, START, START, END] = -np.inf  # START→ 3, 4, 5 only
    tables[:, START, 3:, END] = -np.inf
    counter = tf.Variable(0)
    model = MarkovModel(tables, counter)
    search_function = {"greedy": greedy_search, "beam": beam_search}[search]

    @tf.function
    def decode(max_lengths, source_mask):
        return search_function(
            model.step,
            model.initial_state([0, 0], source_mask),
            START,
            END,
            max_lengths,
            source_mask,
            **options,
        )

    result = decode(tf.constant([20, 20]), tf.constant(mask_from_lengths([2, 3])))
    assert counter.numpy() == 3
    np.testing.assert_array_equal(result.lengths, [3, 3])
    assert result.tokens.shape == (2, 3)


def test_batch_composition_does_not_change_a_sentence(batch):
    for search, options in [("greedy", {}), ("beam", {"beam_size": 3, "coverage_penalty": 0.2})]:
        together = run(search, **batch, **options)
        for index in range(4):
            # Alone: no batch mates with other tables, source lengths and max lengths. (Same
            # padded width: the toy attention's uniform part depends on it.)
            alone = run(
                search,
                batch["tables"],
                batch["table_ids"][index : index + 1],
                batch["source_mask"][index : index + 1],
                batch["max_lengths"][index : index + 1],
                **options,
            )
            expected = rows(together, index)
            actual = rows(alone, 0)
            for name in ("tokens", "lengths", "log_probs"):
                np.testing.assert_array_equal(getattr(actual, name), getattr(expected, name))
            np.testing.assert_allclose(actual.scores, expected.scores, rtol=1e-6)
            np.testing.assert_array_equal(actual.attention, expected.attention)


def test_bad_arguments_raise_one_clear_error():
    tables = first_order_tables({})
    model = MarkovModel(tables)
    mask = mask_from_lengths([2])
    state = model.initial_state([0], mask)
    with pytest.raises(ValueError, match="beam_size must be a Python int ≥ 1, received 0"):
        beam_search(model.step, state, START, END, [3], mask, beam_size=0)
    with pytest.raises(ValueError, match="length_penalty must be a Python float ≥ 0"):
        beam_search(model.step, state, START, END, [3], mask, length_penalty=-0.5)
    with pytest.raises(ValueError, match="coverage_penalty must be a Python float ≥ 0"):
        greedy_search(model.step, state, START, END, [3], mask, coverage_penalty=float("nan"))
    with pytest.raises(ValueError, match="end_id must differ from the padding id 0"):
        greedy_search(model.step, state, START, 0, [3], mask)
    with pytest.raises(ValueError, match=r"source_mask must be a matrix \(B, S\)"):
        greedy_search(model.step, state, START, END, [3], mask[0])


def test_runs_eagerly_with_a_float16_model(batch):
    # Eager mode runs the same loop in Python; float16 outputs are cast to float32.
    model = MarkovModel(batch["tables"])

    def half_precision_step(tokens, state, step):
        log_probs, state, attention = model.step(tokens, state, step)
        return tf.cast(log_probs, tf.float16), state, tf.cast(attention, tf.float16)

    state = model.initial_state(batch["table_ids"], batch["source_mask"])
    result = beam_search(
        half_precision_step,
        state,
        START,
        END,
        batch["max_lengths"],
        batch["source_mask"],
        beam_size=2,
    )
    assert result.scores.dtype == result.attention.dtype == tf.float32
    assert np.all(np.isfinite(result.scores.numpy()))


class Translator(tf.Module):
    """A toy serving module: strings in, decoded ids out, everything in the graph."""

    def __init__(self, tables):
        super().__init__()
        self.tables = tf.Variable(tables, trainable=False)
        self.step_calls = 0  # Python calls, i.e. traces of the loop body

    def step(self, tokens, state, step):
        self.step_calls += 1
        return MarkovModel(self.tables).step(tokens, state, step)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def translate(self, sentences):
        words = tf.strings.split(sentences)  # ragged (B, None)
        source_mask = tf.sequence_mask(words.row_lengths())  # (B, S)
        table_ids = tf.strings.to_hash_bucket_fast(sentences, self.tables.shape[0])
        state = MarkovModel.initial_state(tf.cast(table_ids, tf.int32), source_mask)
        max_lengths = tf.minimum(2 * tf.cast(words.row_lengths(), tf.int32) + 1, 6)
        beam = beam_search(
            self.step,
            state,
            START,
            END,
            max_lengths,
            source_mask,
            beam_size=3,
            coverage_penalty=0.2,
        )
        greedy = greedy_search(self.step, state, START, END, max_lengths, source_mask)
        return {
            **{f"beam_{name}": value for name, value in beam._asdict().items()},
            **{f"greedy_{name}": value for name, value in greedy._asdict().items()},
        }


def test_exports_to_a_saved_model_with_core_ops_and_identical_outputs(tmp_path):
    from kerattn.export.op_audit import disallowed_ops, saved_model_op_types

    module = Translator(random_tables(np.random.default_rng(11), 5))
    sentences = tf.constant(["a b c", "one", "", "the cat sat on the mat"])
    expected = module.translate(sentences)
    assert module.step_calls == 2  # one trace of each loop body: no Python per step
    # The empty sentence may produce one token (max length 2·0 + 1) and attends nowhere.
    assert expected["beam_lengths"][2] == expected["greedy_lengths"][2] == 1
    assert not expected["beam_attention"][2].numpy().any()
    tf.saved_model.save(module, str(tmp_path), signatures={"serving_default": module.translate})
    op_types = saved_model_op_types(tmp_path)
    assert "TopKV2" in op_types and op_types & {"While", "StatelessWhile"}
    assert disallowed_ops(tmp_path) == []
    reloaded = tf.saved_model.load(str(tmp_path))
    for function in (reloaded.translate, reloaded.signatures["serving_default"]):
        for batch_of in (sentences, sentences[:1]):
            outputs = (
                function(batch_of)
                if function is reloaded.translate
                else function(sentences=batch_of)
            )
            reference = module.translate(batch_of)
            for name, value in reference.items():
                np.testing.assert_array_equal(outputs[name].numpy(), value.numpy(), err_msg=name)
    assert set(expected) == {
        f"{search}_{name}" for search in ("beam", "greedy") for name in DecodeResult._fields
    }
