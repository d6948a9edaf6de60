"""A frozen copy of the beam search that `kerattn.zoo.decoding.beam_search` must agree with
exactly: the straightforward search over all K·V candidates of every step."""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from kerattn.zoo.decoding import (
    PADDING_ID,
    Constraints,
    DecodeResult,
    StepFunction,
    _backtrack,
    _call_step,
    _check_arguments,
    _coverage_log_sum,
    _has_ended,
    _prepare_lengths_and_mask,
    _shape_invariants,
    _token_id,
    _trimmed,
    hypothesis_scores,
)


def reference_beam_search(
    step_fn: StepFunction,
    initial_state: Any,
    start_id: int | tf.Tensor,
    end_id: int | tf.Tensor,
    max_lengths: tf.Tensor,
    source_mask: tf.Tensor,
    beam_size: int = 4,
    length_penalty: float = 0.6,
    coverage_penalty: float = 0.0,
    num_hypotheses: int | None = None,
    constraints: Constraints | None = None,
) -> DecodeResult:
    """`kerattn.zoo.decoding.beam_search` as it was before it ranked the vocabulary in blocks
    (commit 4ee70b5): every step scores the whole (B, K, V) candidate matrix, takes its top K,
    and gathers every state entry. Same arguments and results."""
    _check_arguments(end_id, beam_size, length_penalty, coverage_penalty)
    if num_hypotheses is not None and (
        isinstance(num_hypotheses, bool)
        or not isinstance(num_hypotheses, int)
        or not 1 <= num_hypotheses <= beam_size
    ):
        raise ValueError(
            f"num_hypotheses must be a Python int from 1 to beam_size={beam_size}, received "
            f"{num_hypotheses!r}."
        )
    start_id, end_id = _token_id(start_id), _token_id(end_id)
    max_lengths, source_mask, real_source = _prepare_lengths_and_mask(max_lengths, source_mask)
    beam = beam_size
    batch_size = tf.shape(max_lengths)[0]
    source_length = tf.shape(source_mask)[1]
    constraints = constraints or Constraints()
    max_lengths = constraints.lengths_with_prefix(max_lengths)
    max_steps = tf.maximum(tf.reduce_max(max_lengths), 0)
    prefix = constraints.prefix_rows(beam)
    history = constraints.empty_history(batch_size * beam, max_steps)
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
        history,
        tokens,
        parents,
        attention,
    ):
        log_probs, state, attention_rows = _call_step(step_fn, inputs, state, step)
        log_probs = constraints.apply(log_probs, step, end_id, history, prefix)
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
            parent_finished,
            token,
            end_id,
            lengths,
            max_lengths[:, None],
            log_prob_sums,
            constraints.may_end_on_inf(step, beam),
        )
        rows = tf.reshape(parent + sentence_offsets, [-1])  # (B·K,), parent row of each row
        state = tf.nest.map_structure(lambda tensor: tf.gather(tensor, rows), state)
        if constraints.needs_history:
            history = constraints.extend_history(
                tf.gather(history, rows), step, tf.reshape(token, [-1])
            )
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
            history,
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
        history,
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
    if num_hypotheses is None:
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
    # top_k puts equal scores lower index first, as argmax does, so hypothesis 0 is the best.
    best = tf.math.top_k(final_scores, k=num_hypotheses).indices  # (B, H)
    slots = _backtrack(parent_array.stack(), best, steps)  # (T + 1, B, H)
    tokens = tf.gather(token_array.stack(), slots, batch_dims=2)[1:]  # (T, B, H)
    attention = tf.gather(attention_array.stack(), slots, batch_dims=2)[1:]  # (T, B, H, S)
    return _trimmed(
        DecodeResult(
            tokens=tf.transpose(tokens, [1, 2, 0]),  # (B, H, T)
            lengths=tf.gather(lengths, best, batch_dims=1),
            scores=tf.gather(final_scores, best, batch_dims=1),
            log_probs=tf.gather(log_prob_sums, best, batch_dims=1),
            attention=tf.transpose(attention, [1, 2, 0, 3]),  # (B, H, T, S)
        )
    )
