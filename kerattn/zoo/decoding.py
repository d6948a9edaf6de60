"""Batched greedy and beam search that run entirely inside the TensorFlow graph.

Both searches are one `tf.while_loop` whose body calls a model's step function once for all
hypotheses of all sentences; per-step outputs go to `TensorArray`s. No Python runs per step when
they are traced in a `tf.function`, and they use core TensorFlow ops only, so a serving function
such as `tf.function(input_signature=[tf.TensorSpec([None], tf.string)])` that tokenizes, encodes
and decodes exports to a SavedModel that stock TensorFlow Serving runs. (Called eagerly they
work too, with a Python loop.)

The step function (the model side) is

    step_fn(tokens, state, step) -> (log_probs, new_state, attention)

- tokens: int32 (N,), the previous output token of each hypothesis (`start_id` at step 0,
  the padding id 0 for hypotheses that have ended);
- state: any `tf.nest` structure of tensors whose leading dimension is N (encoder memory, its
  mask, decoder LSTM states, ...);
- step: int32 scalar, the index of the token being produced (0 for the first);
- log_probs: float (N, V), log-softmaxed next-token distribution;
- new_state: the same structure as `state`;
- attention: float (N, S), the attention weights that produced this step's output.

N = B for greedy search and N = B·K for beam search with beam size K: the initial state (leading
dimension B) is tiled batch-major, row b·K + k is hypothesis k of sentence b, and after every step
the state rows are gathered from their parent hypotheses.

Scoring (Wu et al., 2016, "Google's Neural Machine Translation System", eq. 14):

    score(Y, X) = log P(Y | X) / lp(Y) + cp(X; Y)
    lp(Y)       = ((5 + |Y|) / 6) ** α                       α = length_penalty
    cp(X; Y)    = β · Σ_j log(max(min(Σ_i a_ij, 1), ε))      β = coverage_penalty, ε = 1e-10

|Y| counts END when it was produced; the coverage sum runs over the attention rows a_i of all
|Y| output tokens (END's row included) and over real source positions j only (`source_mask`).
α = 0 makes lp = 1 and β = 0 makes cp = 0 exactly, so the score is then the plain log-probability.

Ended hypotheses stay ended: after END (or on reaching their sentence's `max_lengths`) they emit
only padding, their log-probability, length and coverage no longer change, and their attention
rows are zeros. Decoding stops as soon as every hypothesis of every sentence has ended.

Attention rows are multiplied by `source_mask` before they are stored or counted in the coverage,
so weight a model puts on padded source positions (it should put none) is dropped, never scored.
The padding id 0 is assumed to be an id the model never emits; if it does, the token is kept and
counted in `lengths` like any other.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import tensorflow as tf

PADDING_ID = 0
COVERAGE_EPSILON = 1e-10

StepFunction = Callable[[tf.Tensor, Any, tf.Tensor], tuple[tf.Tensor, Any, tf.Tensor]]


class DecodeResult(NamedTuple):
    """The decoded hypothesis of every sentence, batch-major.

    Attributes:
        tokens: int32 (B, T), output ids, END included when it was produced, padding (0) after
            the end. T = the longest returned hypothesis, at most `max(max_lengths)`.
        lengths: int32 (B,), number of real tokens in each row of `tokens` (END counted).
        scores: float32 (B,), the GNMT score of the returned hypothesis (module docstring).
        log_probs: float32 (B,), sum of the model's log-probabilities of the returned tokens.
        attention: float32 (B, T, S), the attention row of each returned token, zero on padded
            source positions and after the end.
    """

    tokens: tf.Tensor
    lengths: tf.Tensor
    scores: tf.Tensor
    log_probs: tf.Tensor
    attention: tf.Tensor


def hypothesis_scores(
    log_probs: tf.Tensor,
    lengths: tf.Tensor,
    coverage: tf.Tensor | None,
    source_mask: tf.Tensor | None,
    length_penalty: float = 0.0,
    coverage_penalty: float = 0.0,
) -> tf.Tensor:
    """GNMT scores log P / lp + cp of hypotheses (formula in the module docstring).

    Args:
        log_probs: float32 (...), log-probability of each hypothesis, e.g. (B,) or (B, K).
        lengths: int32, same shape, number of tokens (END counted).
        coverage: float32 (..., S), Σ over the hypothesis's tokens of their attention rows;
            may be None when `coverage_penalty` is 0.
        source_mask: bool, broadcastable to `coverage`, True for real source positions; None
            counts every position.
        length_penalty: α ≥ 0; 0 disables the length normalization.
        coverage_penalty: β ≥ 0; 0 disables the coverage penalty.

    Returns:
        float32 tensor shaped like `log_probs`.
    """
    scores = log_probs
    if length_penalty:
        lengths = tf.cast(lengths, tf.float32)
        scores = scores / tf.pow((5.0 + lengths) / 6.0, length_penalty)
    if coverage_penalty:
        scores = scores + coverage_penalty * _coverage_log_sum(coverage, source_mask)
    return scores


def greedy_search(
    step_fn: StepFunction,
    initial_state: Any,
    start_id: int | tf.Tensor,
    end_id: int | tf.Tensor,
    max_lengths: tf.Tensor,
    source_mask: tf.Tensor,
    length_penalty: float = 0.0,
    coverage_penalty: float = 0.0,
) -> DecodeResult:
    """Batched greedy decoding: each sentence takes the most probable token at every step.

    Args:
        step_fn: the model's step function (module docstring), called with N = B.
        initial_state: `tf.nest` structure of tensors with leading dimension B.
        start_id: int or int32 scalar, the first input token.
        end_id: int or int32 scalar, the token that ends a hypothesis (not 0, the padding id).
        max_lengths: int32 (B,), the most tokens each sentence may produce; a hypothesis that
            reaches it without END ends there (no END appended).
        source_mask: bool (B, S), True for real source positions.
        length_penalty: α of the returned `scores` only; the search itself ignores it.
        coverage_penalty: β of the returned `scores` only. With the defaults (0, 0) `scores`
            equals `log_probs` exactly; pass the beam search's values to compare the two.

    Returns:
        `DecodeResult`; ties between tokens go to the lowest id.
    """
    _check_arguments(end_id, 1, length_penalty, coverage_penalty)
    start_id, end_id = _token_id(start_id), _token_id(end_id)
    max_lengths, source_mask, real_source = _prepare_lengths_and_mask(max_lengths, source_mask)
    initial_state = tf.nest.map_structure(tf.convert_to_tensor, initial_state)
    batch_size = tf.shape(max_lengths)[0]
    source_length = tf.shape(source_mask)[1]
    max_steps = tf.maximum(tf.reduce_max(max_lengths), 0)

    # Index 0 of each TensorArray holds a dummy so that stacking never meets an empty array
    # (whose element shape TensorFlow cannot infer); it is dropped after the loop.
    token_array = tf.TensorArray(tf.int32, size=0, dynamic_size=True)
    token_array = token_array.write(0, tf.zeros([batch_size], tf.int32))
    attention_array = tf.TensorArray(tf.float32, size=0, dynamic_size=True)
    attention_array = attention_array.write(0, tf.zeros([batch_size, source_length]))

    def condition(step, inputs, state, finished, *unused):
        return tf.logical_and(step < max_steps, tf.logical_not(tf.reduce_all(finished)))

    def body(step, inputs, state, finished, lengths, log_prob_sums, coverage, tokens, attention):
        log_probs, state, attention_row = _call_step(step_fn, inputs, state, step)
        best = tf.argmax(log_probs, axis=-1, output_type=tf.int32)  # (B,)
        active = tf.logical_not(finished)
        token = tf.where(active, best, PADDING_ID)
        log_prob_sums = tf.where(
            active, log_prob_sums + tf.gather(log_probs, best, batch_dims=1), log_prob_sums
        )
        attention_row = tf.where(active[:, None], attention_row * real_source, 0.0)
        coverage += attention_row
        lengths += tf.cast(active, tf.int32)
        finished = _has_ended(finished, token, end_id, lengths, max_lengths, log_prob_sums)
        tokens = tokens.write(step + 1, token)
        attention = attention.write(step + 1, attention_row)
        return (
            step + 1,
            token,
            state,
            finished,
            lengths,
            log_prob_sums,
            coverage,
            tokens,
            attention,
        )

    loop_variables = (
        tf.constant(0),
        tf.fill([batch_size], start_id),
        initial_state,
        max_lengths <= 0,
        tf.zeros([batch_size], tf.int32),
        tf.zeros([batch_size], tf.float32),
        tf.zeros([batch_size, source_length], tf.float32),
        token_array,
        attention_array,
    )
    (_, _, _, _, lengths, log_prob_sums, coverage, token_array, attention_array) = tf.while_loop(
        condition,
        body,
        loop_variables,
        shape_invariants=_shape_invariants(loop_variables, state_index=2),
    )
    tokens = tf.transpose(token_array.stack()[1:])  # (B, T)
    attention = tf.transpose(attention_array.stack()[1:], [1, 0, 2])  # (B, T, S)
    scores = hypothesis_scores(
        log_prob_sums, lengths, coverage, source_mask, length_penalty, coverage_penalty
    )
    return _trimmed(DecodeResult(tokens, lengths, scores, log_prob_sums, attention))


def beam_search(
    step_fn: StepFunction,
    initial_state: Any,
    start_id: int | tf.Tensor,
    end_id: int | tf.Tensor,
    max_lengths: tf.Tensor,
    source_mask: tf.Tensor,
    beam_size: int = 4,
    length_penalty: float = 0.6,
    coverage_penalty: float = 0.0,
) -> DecodeResult:
    """Batched beam search with GNMT scoring that never returns less than greedy search's score.

    Each sentence keeps `beam_size` hypotheses. At every step each alive hypothesis is extended
    by every token and each ended one by padding alone (at no cost), and the `beam_size`
    best-scoring candidates survive. Candidates are ranked by log P / lp, plus cp for those that
    have ended: an alive hypothesis is not charged for source words it has yet to cover
    (cp ≤ 0, so this is optimistic; the same choice as `tfa.seq2seq.BeamSearchDecoder`). The
    returned hypothesis is the ended one with the best full score.

    Greedy anchor: plain beam search can lose the greedy path and then return something worse
    than greedy search. Here the slot holding the greedy path is tracked, and when the greedy
    continuation (its argmax token, or padding once it has ended) is not among the best
    `beam_size` candidates it replaces the last of them. The greedy hypothesis therefore is in the
    final beam and the returned score is ≥ the score `greedy_search` reports with the same α, β.
    It costs no extra step calls; the price is that, while the greedy path would otherwise have
    been pruned, it holds one of the K slots. With `beam_size=1` the slot always holds the greedy
    path, so the result equals `greedy_search` exactly. (The step function runs on B·K rows here
    and on B rows in `greedy_search`; a real model may round differently for different batch
    sizes, which can change the last bits and, rarely, the greedy path itself.)

    A hypothesis whose log-probability becomes -inf (only possible when fewer than K continuations
    have a finite probability, e.g. at step 0 when K > V) counts as ended; it can never be chosen
    over a finite one.

    Args:
        step_fn: the model's step function (module docstring), called with N = B·K rows.
        initial_state: `tf.nest` structure of tensors with leading dimension B; tiled to B·K
            rows, batch-major (row b·K + k).
        start_id: int or int32 scalar, the first input token.
        end_id: int or int32 scalar, the token that ends a hypothesis (not 0, the padding id).
        max_lengths: int32 (B,), the most tokens each sentence may produce; a hypothesis that
            reaches it without END ends there (no END appended).
        source_mask: bool (B, S), True for real source positions.
        beam_size: K ≥ 1, Python int.
        length_penalty: α ≥ 0 (GNMT uses 0.6–0.7); 0 ranks by raw log-probability.
        coverage_penalty: β ≥ 0 (GNMT uses 0.2); 0 turns the coverage penalty off.

    Returns:
        `DecodeResult` of the best hypothesis of each sentence.
    """
    _check_arguments(end_id, beam_size, length_penalty, coverage_penalty)
    start_id, end_id = _token_id(start_id), _token_id(end_id)
    max_lengths, source_mask, real_source = _prepare_lengths_and_mask(max_lengths, source_mask)
    beam = beam_size
    batch_size = tf.shape(max_lengths)[0]
    source_length = tf.shape(source_mask)[1]
    max_steps = tf.maximum(tf.reduce_max(max_lengths), 0)
    sentence_offsets = tf.range(batch_size)[:, None] * beam  # (B, 1), row of hypothesis 0
    source_mask = source_mask[:, None, :]  # (B, 1, S), broadcasts over the beam
    real_source = real_source[:, None, :]  # (B, 1, S)
    initial_state = tf.nest.map_structure(
        lambda tensor: tf.repeat(tf.convert_to_tensor(tensor), beam, axis=0), initial_state
    )  # each (B·K, ...)

    # Dummy index 0, as in greedy_search; dropped after backtracking.
    token_array = tf.TensorArray(tf.int32, size=0, dynamic_size=True)
    token_array = token_array.write(0, tf.zeros([batch_size, beam], tf.int32))
    parent_array = tf.TensorArray(tf.int32, size=0, dynamic_size=True)
    parent_array = parent_array.write(0, tf.zeros([batch_size, beam], tf.int32))
    attention_array = tf.TensorArray(tf.float32, size=0, dynamic_size=True)
    attention_array = attention_array.write(0, tf.zeros([batch_size, beam, source_length]))

    def condition(step, inputs, state, finished, *unused):
        return tf.logical_and(step < max_steps, tf.logical_not(tf.reduce_all(finished)))

    def body(
        step,
        inputs,
        state,
        finished,
        lengths,
        log_prob_sums,
        coverage,
        greedy_slot,
        tokens,
        parents,
        attention,
    ):
        log_probs, state, attention_rows = _call_step(step_fn, inputs, state, step)
        vocabulary_size = tf.shape(log_probs)[1]
        log_probs = tf.reshape(log_probs, [batch_size, beam, vocabulary_size])  # (B, K, V)
        attention_rows = tf.reshape(attention_rows, [batch_size, beam, source_length])
        # (B, K, S)
        attention_rows = tf.where(finished[..., None], 0.0, attention_rows * real_source)

        # An ended hypothesis has one continuation, padding, at log-probability 0.
        padding_only = tf.where(tf.range(vocabulary_size) == PADDING_ID, 0.0, float("-inf"))  # (V,)
        continuations = tf.where(finished[..., None], padding_only, log_probs)  # (B, K, V)
        candidate_log_probs = log_prob_sums[..., None] + continuations  # (B, K, V)
        candidate_lengths = lengths + tf.cast(tf.logical_not(finished), tf.int32)  # (B, K)
        candidate_coverage = coverage + attention_rows  # (B, K, S)
        candidate_scores = hypothesis_scores(
            candidate_log_probs, candidate_lengths[..., None], None, None, length_penalty
        )  # (B, K, V)
        if coverage_penalty:
            # Only candidates that end pay the coverage penalty (see the docstring).
            at_max_length = candidate_lengths >= max_lengths[:, None]  # (B, K)
            ends = tf.logical_or(
                (finished | at_max_length)[..., None], tf.range(vocabulary_size) == end_id
            )  # (B, K, V)
            penalty = coverage_penalty * _coverage_log_sum(candidate_coverage, source_mask)
            candidate_scores += tf.where(ends, penalty[..., None], 0.0)
        candidate_scores = tf.reshape(candidate_scores, [batch_size, beam * vocabulary_size])
        # (B, K·V), candidate k·V + v extends hypothesis k by token v
        _, chosen = tf.math.top_k(candidate_scores, k=beam)  # (B, K), best first

        # Greedy anchor (see the docstring): keep the greedy continuation in the beam.
        greedy_token = tf.where(
            tf.gather(finished, greedy_slot, batch_dims=1),
            PADDING_ID,
            tf.argmax(
                tf.gather(log_probs, greedy_slot, batch_dims=1), axis=-1, output_type=tf.int32
            ),
        )  # (B,)
        greedy_candidate = greedy_slot * vocabulary_size + greedy_token  # (B,)
        is_greedy = tf.equal(chosen, greedy_candidate[:, None])  # (B, K)
        greedy_kept = tf.reduce_any(is_greedy, axis=1)  # (B,)
        chosen = tf.where(
            greedy_kept[:, None],
            chosen,
            tf.concat([chosen[:, :-1], greedy_candidate[:, None]], axis=1),
        )
        greedy_slot = tf.where(
            greedy_kept,
            tf.argmax(tf.cast(is_greedy, tf.int32), axis=1, output_type=tf.int32),
            beam - 1,
        )

        parent = chosen // vocabulary_size  # (B, K)
        token = chosen % vocabulary_size  # (B, K)
        parent_finished = tf.gather(finished, parent, batch_dims=1)
        token = tf.where(parent_finished, PADDING_ID, token)
        log_prob_sums = tf.gather(
            tf.reshape(candidate_log_probs, [batch_size, beam * vocabulary_size]),
            chosen,
            batch_dims=1,
        )  # (B, K)
        lengths = tf.gather(candidate_lengths, parent, batch_dims=1)
        coverage = tf.gather(candidate_coverage, parent, batch_dims=1)  # (B, K, S)
        finished = _has_ended(
            parent_finished, token, end_id, lengths, max_lengths[:, None], log_prob_sums
        )
        rows = tf.reshape(parent + sentence_offsets, [-1])  # (B·K,), parent row of each row
        state = tf.nest.map_structure(lambda tensor: tf.gather(tensor, rows), state)
        tokens = tokens.write(step + 1, token)
        parents = parents.write(step + 1, parent)
        attention = attention.write(step + 1, tf.gather(attention_rows, parent, batch_dims=1))
        return (
            step + 1,
            tf.reshape(token, [-1]),
            state,
            finished,
            lengths,
            log_prob_sums,
            coverage,
            greedy_slot,
            tokens,
            parents,
            attention,
        )

    # Only hypothesis 0 starts alive with log-probability 0: the K copies of the start are
    # identical, and expanding all of them would fill the beam with duplicates.
    first_log_probs = tf.where(tf.range(beam) == 0, 0.0, float("-inf"))  # (K,)
    loop_variables = (
        tf.constant(0),
        tf.fill([batch_size * beam], start_id),
        initial_state,
        tf.tile((max_lengths <= 0)[:, None], [1, beam]),
        tf.zeros([batch_size, beam], tf.int32),
        tf.tile(first_log_probs[None, :], [batch_size, 1]),
        tf.zeros([batch_size, beam, source_length], tf.float32),
        tf.zeros([batch_size], tf.int32),
        token_array,
        parent_array,
        attention_array,
    )
    (
        steps,
        _,
        _,
        _,
        lengths,
        log_prob_sums,
        coverage,
        _,
        token_array,
        parent_array,
        attention_array,
    ) = tf.while_loop(
        condition,
        body,
        loop_variables,
        shape_invariants=_shape_invariants(loop_variables, state_index=2),
    )

    # Every hypothesis has ended here (END, its max length, or -inf), so all pay the full score.
    final_scores = hypothesis_scores(
        log_prob_sums, lengths, coverage, source_mask, length_penalty, coverage_penalty
    )  # (B, K)
    best = tf.argmax(final_scores, axis=1, output_type=tf.int32)  # (B,)
    slots = _backtrack(parent_array.stack(), best, steps)  # (T + 1, B)
    tokens = tf.gather(token_array.stack(), slots, batch_dims=2)[1:]  # (T, B)
    attention = tf.gather(attention_array.stack(), slots, batch_dims=2)[1:]  # (T, B, S)
    return _trimmed(
        DecodeResult(
            tokens=tf.transpose(tokens),  # (B, T)
            lengths=tf.gather(lengths, best, batch_dims=1),
            scores=tf.gather(final_scores, best, batch_dims=1),
            log_probs=tf.gather(log_prob_sums, best, batch_dims=1),
            attention=tf.transpose(attention, [1, 0, 2]),  # (B, T, S)
        )
    )


def _backtrack(parents: tf.Tensor, best: tf.Tensor, steps: tf.Tensor) -> tf.Tensor:
    """Beam slot of the returned hypothesis at every step, like `tf.gather_tree` for one beam.

    Args:
        parents: int32 (T + 1, B, K), parents[t][b, k] = slot at step t - 1 of the hypothesis in
            slot k at step t (index 0 is the dummy).
        best: int32 (B,), the chosen slot after the last step.
        steps: int32 scalar T.

    Returns:
        int32 (T + 1, B); row 0 (the dummy step) is whatever slot the walk ends on.
    """
    slots = tf.TensorArray(tf.int32, size=steps + 1)

    def body(step, slot, slots):
        slots = slots.write(step, slot)
        return step - 1, tf.gather(parents[step], slot, batch_dims=1), slots

    _, first_slot, slots = tf.while_loop(
        lambda step, slot, slots: step > 0, body, (steps, best, slots)
    )
    return slots.write(0, first_slot).stack()


def _trimmed(result: DecodeResult) -> DecodeResult:
    """Drops the trailing all-padding steps (beam search can run on after its best hypothesis)."""
    length = tf.maximum(tf.reduce_max(result.lengths), 0)
    return result._replace(tokens=result.tokens[:, :length], attention=result.attention[:, :length])


def _call_step(step_fn: StepFunction, tokens, state, step):
    """Calls the model's step, casting its outputs to float32 (a float16 model's included)."""
    log_probs, state, attention = step_fn(tokens, state, step)
    return tf.cast(log_probs, tf.float32), state, tf.cast(attention, tf.float32)


def _has_ended(was_finished, token, end_id, lengths, max_lengths, log_prob_sums) -> tf.Tensor:
    """A hypothesis ends with END, at its max length, or when its log-probability is -inf/NaN."""
    return (
        was_finished
        | tf.equal(token, end_id)
        | (lengths >= max_lengths)
        | tf.logical_not(tf.math.is_finite(log_prob_sums))
    )


def _coverage_log_sum(coverage: tf.Tensor, source_mask: tf.Tensor | None) -> tf.Tensor:
    """Σ_j over real source positions of log(max(min(coverage_j, 1), ε)); (...) from (..., S)."""
    logs = tf.math.log(tf.clip_by_value(coverage, COVERAGE_EPSILON, 1.0))
    if source_mask is not None:
        logs = tf.where(source_mask, logs, 0.0)
    return tf.reduce_sum(logs, axis=-1)


def _prepare_lengths_and_mask(max_lengths, source_mask):
    """Converts and checks the ranks; returns int32 (B,), bool (B, S) and float32 (B, S)."""
    max_lengths = tf.convert_to_tensor(max_lengths)
    source_mask = tf.convert_to_tensor(source_mask)
    if max_lengths.shape.rank not in (None, 1):
        raise ValueError(f"max_lengths must be a vector (B,), received shape {max_lengths.shape}.")
    if source_mask.shape.rank not in (None, 2):
        raise ValueError(
            f"source_mask must be a matrix (B, S), received shape {source_mask.shape}."
        )
    source_mask = tf.cast(source_mask, tf.bool)
    return tf.cast(max_lengths, tf.int32), source_mask, tf.cast(source_mask, tf.float32)


def _token_id(token_id) -> tf.Tensor:
    """An int32 scalar tensor (ids may arrive as Python ints or int64 lookups)."""
    return tf.cast(tf.convert_to_tensor(token_id), tf.int32)


def _check_arguments(end_id, beam_size, length_penalty, coverage_penalty) -> None:
    """Raises one clear ValueError for an argument a search cannot use."""
    if isinstance(beam_size, bool) or not isinstance(beam_size, int) or beam_size < 1:
        raise ValueError(f"beam_size must be a Python int ≥ 1, received {beam_size!r}.")
    for name, value in (("length_penalty", length_penalty), ("coverage_penalty", coverage_penalty)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            raise ValueError(f"{name} must be a Python float ≥ 0, received {value!r}.")
    if isinstance(end_id, int) and end_id == PADDING_ID:
        raise ValueError(
            f"end_id must differ from the padding id {PADDING_ID}, received {end_id!r}."
        )


def _shape_invariants(loop_variables: tuple, state_index: int) -> tuple:
    """Loop shapes: the state's leading dimension may change (step outputs often lose it)."""

    def relaxed(tensor):
        shape = tf.TensorShape(tensor.shape)
        return shape if shape.rank is None else tf.TensorShape([None]).concatenate(shape[1:])

    def fixed(value):
        if isinstance(value, tf.TensorArray):
            return tf.TensorShape(None)
        return tf.TensorShape(tf.convert_to_tensor(value).shape)

    return tuple(
        tf.nest.map_structure(relaxed, value) if index == state_index else fixed(value)
        for index, value in enumerate(loop_variables)
    )
