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

import functools
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


class Constraints:
    """What a search may not emit, and what it must: applied to the next-token
    log-probabilities of every hypothesis before it chooses (banned tokens get -inf; the model's
    own log-probability of every allowed token is kept, never renormalized).

    Args:
        min_length: END is banned before this many tokens have been produced (END excluded).
        no_repeat_ngram_size: n ≥ 1 bans a token that would repeat an n-gram the hypothesis
            already holds (0: off).
        avoid: token-id phrases that must not appear: a one-token phrase is banned at every
            step, a longer one's last token is banned after the rest of it.
        prefix_ids: int32 (B, P) right-padded with 0, or None: sentence b's first tokens are
            forced to its row (up to its first 0). Forced tokens ignore the bans; their
            log-probabilities count in the score like any other token.

    `max_lengths` of a search are raised to the prefix length where they are shorter.
    """

    def __init__(
        self,
        min_length: int = 0,
        no_repeat_ngram_size: int = 0,
        avoid: tuple = (),
        prefix_ids: tf.Tensor | None = None,
    ):
        for name, value in (
            ("min_length", min_length),
            ("no_repeat_ngram_size", no_repeat_ngram_size),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a Python int ≥ 0, received {value!r}.")
        phrases = tuple(tuple(int(token) for token in phrase) for phrase in avoid)
        if any(not phrase or min(phrase) <= PADDING_ID for phrase in phrases):
            raise ValueError(
                f"avoid must hold non-empty phrases of token ids > {PADDING_ID}, received {avoid!r}."
            )
        self.min_length = min_length
        self.no_repeat_ngram_size = no_repeat_ngram_size
        self.single_tokens = sorted({phrase[0] for phrase in phrases if len(phrase) == 1})
        self.phrases = sorted({phrase for phrase in phrases if len(phrase) > 1})
        self.prefix_ids = None
        if prefix_ids is not None:
            prefix_ids = tf.cast(tf.convert_to_tensor(prefix_ids), tf.int32)
            if prefix_ids.shape.rank not in (None, 2):
                raise ValueError(
                    f"prefix_ids must be a matrix (B, P), received shape {prefix_ids.shape}."
                )
            missing = tf.maximum(1 - tf.shape(prefix_ids)[1], 0)
            self.prefix_ids = tf.pad(prefix_ids, [[0, 0], [0, missing]])  # (B, max(P, 1))
            # A prefix ends at its first padding id.
            real = tf.math.cumprod(tf.cast(self.prefix_ids != PADDING_ID, tf.int32), axis=1)
            self.prefix_lengths = tf.reduce_sum(real, axis=1)  # (B,)

    @property
    def needs_history(self) -> bool:
        return bool(self.no_repeat_ngram_size or self.phrases)

    def lengths_with_prefix(self, max_lengths: tf.Tensor) -> tf.Tensor:
        if self.prefix_ids is None:
            return max_lengths
        return tf.maximum(max_lengths, self.prefix_lengths)

    def prefix_rows(self, beam: int):
        """(prefix ids, prefix lengths) with each sentence's row repeated `beam` times."""
        if self.prefix_ids is None:
            return None
        return (
            tf.repeat(self.prefix_ids, beam, axis=0),  # (B·K, P)
            tf.repeat(self.prefix_lengths, beam, axis=0),  # (B·K,)
        )

    def may_end_on_inf(self, step: tf.Tensor, beam: int):
        """(B, K) bool: True where a -inf hypothesis counts as ended (see `beam_search`)."""
        if self.prefix_ids is None:
            return True
        return tf.tile((step >= self.prefix_lengths)[:, None], [1, beam])

    def empty_history(self, rows: tf.Tensor, max_steps: tf.Tensor) -> tf.Tensor:
        """int32 (N, T) of the tokens produced so far (N, 0 when no constraint reads them)."""
        width = max_steps if self.needs_history else 0
        return tf.zeros([rows, width], tf.int32)

    def extend_history(self, history: tf.Tensor, step: tf.Tensor, token: tf.Tensor) -> tf.Tensor:
        if not self.needs_history:
            return history
        column = tf.one_hot(step, tf.shape(history)[1], dtype=tf.int32)  # (T,)
        return history + column[None, :] * token[:, None]  # (N, T)

    def apply(self, log_probs, step, end_id, history, prefix) -> tf.Tensor:
        """log_probs (N, V) with the banned tokens at -inf and the forced ones alone."""
        if prefix is None and not (
            self.min_length or self.single_tokens or self.phrases or self.no_repeat_ngram_size
        ):
            return log_probs  # nothing to ban: no pass over the (N, V) log-probabilities
        vocabulary = tf.range(tf.shape(log_probs)[1])  # (V,)
        banned = tf.zeros_like(log_probs, tf.bool)  # (N, V)
        if self.min_length:
            banned |= (step < self.min_length) & (vocabulary == end_id)[None, :]
        if self.single_tokens:
            singles = tf.constant(self.single_tokens, tf.int32)
            banned |= tf.reduce_any(vocabulary[:, None] == singles[None, :], axis=1)[None, :]
        for phrase in self.phrases:
            follows = _history_ends_with(history, step, phrase[:-1])  # (N,)
            banned |= follows[:, None] & (vocabulary == phrase[-1])[None, :]
        constrained = tf.where(banned, float("-inf"), log_probs)
        if self.no_repeat_ngram_size:
            constrained += _repeated_ngram_penalty(
                history, step, self.no_repeat_ngram_size, tf.shape(log_probs)[1]
            )
        if prefix is None:
            return constrained
        prefix_ids, prefix_lengths = prefix
        column = tf.minimum(step, tf.shape(prefix_ids)[1] - 1)
        forced_token = prefix_ids[:, column]  # (N,)
        only_forced = tf.where(
            vocabulary[None, :] == forced_token[:, None], log_probs, float("-inf")
        )
        return tf.where((step < prefix_lengths)[:, None], only_forced, constrained)


def _history_ends_with(history: tf.Tensor, step: tf.Tensor, tokens: tuple) -> tf.Tensor:
    """bool (N,): the last len(tokens) entries of each row's history (before `step`) are them."""
    width = tf.shape(history)[1]
    count = len(tokens)
    matches = tf.fill([tf.shape(history)[0]], step >= count)
    for offset, token in enumerate(tokens):
        position = tf.clip_by_value(step - count + offset, 0, tf.maximum(width - 1, 0))
        matches &= tf.gather(history, position, axis=1) == token
    return matches


def _repeated_ngram_penalty(history, step, size: int, vocabulary_size) -> tf.Tensor:
    """float32 (N, V): -inf on each token that would complete an n-gram already in the row."""
    rows, width = tf.shape(history)[0], tf.shape(history)[1]
    last = tf.maximum(width - 1, 0)
    starts = tf.range(width)  # j: the n-gram history[j : j + n]
    matches = tf.tile((starts <= step - size)[None, :], [rows, 1])  # (N, T) complete n-grams
    for offset in range(size - 1):
        earlier = tf.gather(history, tf.minimum(starts + offset, last), axis=1)  # (N, T)
        recent = tf.gather(history, tf.clip_by_value(step - size + 1 + offset, 0, last), axis=1)
        matches &= earlier == recent[:, None]
    completing = tf.gather(history, tf.minimum(starts + size - 1, last), axis=1)  # (N, T)
    row_ids = tf.tile(tf.range(rows)[:, None], [1, width])  # (N, T)
    indices = tf.reshape(tf.stack([row_ids, completing], axis=-1), [-1, 2])  # (N·T, 2)
    updates = tf.reshape(tf.where(matches, float("-inf"), 0.0), [-1])  # (N·T,)
    return tf.tensor_scatter_nd_min(tf.zeros([rows, vocabulary_size]), indices, updates)


class Sampling:
    """Random sampling for `greedy_search`: each sentence draws its next token from the
    model's distribution, reshaped by `temperature`, then cut to the `top_k` most probable
    tokens and to the smallest set whose probability reaches `top_p` (nucleus sampling, Holtzman
    et al., 2020), in that order (Hugging Face's order).

    The draw inverts the cumulative distribution at u ~ U(0, 1), where u comes from a
    counter-based integer hash of (seed of the sentence, step): no random op and no generator
    state, so the same seed gives the same tokens in Python, in a traced function and in an
    exported SavedModel, whatever the batch it runs in (one hashed number per sentence and
    step, so it costs little more than the argmax).

    Args:
        seeds: int64 (B,), one seed per sentence (only the low 64 bits matter).
        temperature: > 0; 1 samples from the model itself, → 0 approaches greedy.
        top_k: 0 (off) or the number of most probable tokens to keep (all tokens tied with
            the k-th are kept too).
        top_p: in (0, 1]; 1 is off.
    """

    def __init__(
        self, seeds: tf.Tensor, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0
    ):
        if (
            isinstance(temperature, bool)
            or not isinstance(temperature, (int, float))
            or not temperature > 0
        ):
            raise ValueError(f"temperature must be a Python float > 0, received {temperature!r}.")
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 0:
            raise ValueError(f"top_k must be a Python int ≥ 0, received {top_k!r}.")
        if isinstance(top_p, bool) or not isinstance(top_p, (int, float)) or not 0 < top_p <= 1:
            raise ValueError(f"top_p must be a Python float in (0, 1], received {top_p!r}.")
        self.seeds = tf.cast(tf.convert_to_tensor(seeds), tf.int64)
        self.temperature = float(temperature)
        self.top_k = top_k
        self.top_p = float(top_p)

    def draw(self, log_probs: tf.Tensor, step: tf.Tensor) -> tf.Tensor:
        """int32 (B,): one token per row of log_probs (B, V)."""
        logits = log_probs if self.temperature == 1.0 else log_probs / self.temperature
        if self.top_k:
            k = tf.minimum(self.top_k, tf.shape(logits)[1])
            kth = tf.math.top_k(logits, k=k).values[:, -1:]  # (B, 1)
            logits = tf.where(logits < kth, float("-inf"), logits)
        if self.top_p < 1.0:
            ordered = tf.sort(logits, axis=-1, direction="DESCENDING")  # (B, V)
            before = tf.cumsum(tf.nn.softmax(ordered), axis=-1, exclusive=True)
            threshold = tf.reduce_min(
                tf.where(before < self.top_p, ordered, float("inf")), axis=-1, keepdims=True
            )  # (B, 1), the least probable token kept
            logits = tf.where(logits < threshold, float("-inf"), logits)
        # Inverse-CDF draw: the first token whose cumulative probability exceeds u ~ U(0, 1),
        # one hashed number per sentence and step.
        return inverse_cdf_draw(logits, hashed_uniform(self.seeds, step, 1))


DRAW_BLOCK = 64  # tokens per block of `inverse_cdf_draw`'s two-level search


def inverse_cdf_draw(logits: tf.Tensor, uniform: tf.Tensor) -> tf.Tensor:
    """int32 (B,): for each row of logits (B, V) (-inf where cut), the first token whose
    cumulative probability exceeds uniform (B, 1) · the row's total; the last token of
    non-zero probability where rounding leaves that threshold at the total; 0 for a row with
    no possible token.

    The cumulative probabilities are summed in two levels, as a prefix sum over the totals of
    blocks of `DRAW_BLOCK` tokens and then within the one block the threshold falls in: a
    cumulative sum over the whole (B, V) row is several times slower on CPU than the rest of
    a sampling step. The block sums round differently from one running sum, so a threshold
    within float32 rounding of a token boundary can pick the neighbouring token; the draw
    stays a pure function of the row and u.
    """
    probabilities = tf.nn.softmax(logits)  # (B, V); 0 where cut, NaN if nothing is possible
    rows, width = tf.shape(logits)[0], tf.shape(logits)[1]
    count = (width + DRAW_BLOCK - 1) // DRAW_BLOCK
    blocks = tf.reshape(
        tf.pad(probabilities, [[0, 0], [0, count * DRAW_BLOCK - width]]),
        [rows, count, DRAW_BLOCK],
    )  # (B, N, 64); padding has probability 0
    block_totals = tf.reduce_sum(blocks, axis=-1)  # (B, N)
    block_cumulative = tf.cumsum(block_totals, axis=-1)  # (B, N)
    total = block_cumulative[:, -1:]  # (B, 1)
    threshold = uniform * total  # (B, 1), at most the total

    def last_possible(inner):  # (B, 64) → the index of its last non-zero entry
        return DRAW_BLOCK - 1 - tf.argmax(tf.reverse(inner > 0, axis=[1]), -1, tf.int32)

    # The block whose cumulative first exceeds the threshold (it has a possible token), then
    # the token within it, capped at the block's last possible token where the finer sum
    # rounds below the threshold.
    block = tf.searchsorted(block_cumulative, threshold, side="right", out_type=tf.int32)
    block = tf.minimum(block[:, 0], count - 1)  # (B,); count where the threshold is the total
    before = tf.where(
        block > 0, tf.gather(block_cumulative, tf.maximum(block - 1, 0), batch_dims=1), 0.0
    )  # (B,)
    inner = tf.gather(blocks, block, batch_dims=1)  # (B, 64)
    cumulative = before[:, None] + tf.cumsum(inner, axis=-1)
    index = tf.searchsorted(cumulative, threshold, side="right", out_type=tf.int32)[:, 0]
    drawn = block * DRAW_BLOCK + tf.minimum(index, last_possible(inner))
    # Where rounding leaves the threshold at the total: the row's last possible token.
    last_block = count - 1 - tf.argmax(tf.reverse(block_totals > 0, axis=[1]), -1, tf.int32)
    last = last_block * DRAW_BLOCK + last_possible(tf.gather(blocks, last_block, batch_dims=1))
    at_total = tf.where(total[:, 0] > 0, last, 0)  # NaN rows (nothing possible): 0
    return tf.where(threshold[:, 0] < total[:, 0], drawn, at_total)


def _mix32(x: tf.Tensor) -> tf.Tensor:
    """A 32-bit integer hash with good avalanche (Wellons's "lowbias32"), uint32 → uint32."""
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, tf.constant(16, tf.uint32)))
    x = x * tf.constant(0x7FEB352D, tf.uint32)
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, tf.constant(15, tf.uint32)))
    x = x * tf.constant(0x846CA68B, tf.uint32)
    return tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, tf.constant(16, tf.uint32)))


def sequence_seeds(seeds: tf.Tensor, ids: tf.Tensor) -> tf.Tensor:
    """int64 (B,): each seed combined with a hash of its row of ids (B, S, padded with 0), so
    that different inputs sampled with one seed draw independent noise, and equal inputs the
    same noise however much padding their batch adds."""
    positions = _mix32(tf.cast(tf.range(tf.shape(ids)[1]), tf.uint32))  # (S,)
    mixed = _mix32(tf.bitwise.bitwise_xor(tf.cast(ids, tf.uint32), positions[None, :]))
    mixed = tf.where(ids != PADDING_ID, tf.cast(mixed, tf.int64), 0)  # padding adds nothing
    total = tf.reduce_sum(mixed, axis=1)  # (B,), < 2**32 · S
    return tf.bitwise.bitwise_xor(tf.cast(seeds, tf.int64), total)


def hashed_uniform(seeds: tf.Tensor, step: tf.Tensor, width) -> tf.Tensor:
    """float32 (B, width) in (0, 1), a pure function of (seed b, step, column): 24 random bits
    from `_mix32` chained over the seed's two halves, the step and the column."""
    seeds = tf.cast(seeds, tf.int64)
    low = tf.cast(tf.bitwise.bitwise_and(seeds, 0xFFFFFFFF), tf.uint32)
    high = tf.cast(tf.bitwise.bitwise_and(tf.bitwise.right_shift(seeds, 32), 0xFFFFFFFF), tf.uint32)
    key = _mix32(tf.bitwise.bitwise_xor(low, _mix32(high + tf.constant(0x68E31DA4, tf.uint32))))
    step = tf.cast(step, tf.uint32)
    key = _mix32(tf.bitwise.bitwise_xor(key, _mix32(step + tf.constant(0x1B873593, tf.uint32))))
    columns = _mix32(tf.cast(tf.range(width), tf.uint32) + tf.constant(0x5BD1E995, tf.uint32))
    bits = _mix32(tf.bitwise.bitwise_xor(key[:, None], columns[None, :]))  # (B, width)
    top = tf.cast(tf.bitwise.right_shift(bits, tf.constant(8, tf.uint32)), tf.float32)
    return (top + 0.5) / 16777216.0


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
    constraints: Constraints | None = None,
    sampling: Sampling | None = None,
) -> DecodeResult:
    """Batched greedy decoding: each sentence takes the most probable token at every step.

    With `sampling`, each sentence draws its token instead (`Sampling`: temperature, top-k,
    top-p, one seed per sentence); with `constraints`, the tokens they forbid or force are
    applied first (`Constraints`).

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
        constraints: optional `Constraints` (minimum length, banned n-grams and phrases, a
            forced prefix per sentence).
        sampling: optional `Sampling`; None takes the argmax.

    Returns:
        `DecodeResult`; ties between tokens go to the lowest id. `log_probs` are the model's
        own log-probabilities of the returned tokens (not those of the sampled or constrained
        distribution), so they equal what teacher forcing gives for the same output.
    """
    _check_arguments(end_id, 1, length_penalty, coverage_penalty)
    start_id, end_id = _token_id(start_id), _token_id(end_id)
    max_lengths, source_mask, real_source = _prepare_lengths_and_mask(max_lengths, source_mask)
    initial_state = tf.nest.map_structure(tf.convert_to_tensor, initial_state)
    batch_size = tf.shape(max_lengths)[0]
    source_length = tf.shape(source_mask)[1]
    constraints = constraints or Constraints()
    max_lengths = constraints.lengths_with_prefix(max_lengths)
    max_steps = tf.maximum(tf.reduce_max(max_lengths), 0)
    prefix = constraints.prefix_rows(1)
    history = constraints.empty_history(batch_size, max_steps)

    # Index 0 of each TensorArray holds a dummy so that stacking never meets an empty array
    # (whose element shape TensorFlow cannot infer); it is dropped after the loop.
    token_array = tf.TensorArray(tf.int32, size=0, dynamic_size=True)
    token_array = token_array.write(0, tf.zeros([batch_size], tf.int32))
    attention_array = tf.TensorArray(tf.float32, size=0, dynamic_size=True)
    attention_array = attention_array.write(0, tf.zeros([batch_size, source_length]))

    def condition(step, inputs, state, finished, *unused):
        return tf.logical_and(step < max_steps, tf.logical_not(tf.reduce_all(finished)))

    def body(
        step, inputs, state, finished, lengths, log_prob_sums, coverage, history, tokens, attention
    ):
        log_probs, state, attention_row = _call_step(step_fn, inputs, state, step)
        log_probs = constraints.apply(log_probs, step, end_id, history, prefix)
        if sampling is None:
            best = tf.argmax(log_probs, axis=-1, output_type=tf.int32)  # (B,)
        else:
            best = sampling.draw(log_probs, step)  # (B,)
        active = tf.logical_not(finished)
        token = tf.where(active, best, PADDING_ID)
        log_prob_sums = tf.where(
            active, log_prob_sums + tf.gather(log_probs, best, batch_dims=1), log_prob_sums
        )
        attention_row = tf.where(active[:, None], attention_row * real_source, 0.0)
        coverage += attention_row
        lengths += tf.cast(active, tf.int32)
        finished = _has_ended(finished, token, end_id, lengths, max_lengths, log_prob_sums)
        history = constraints.extend_history(history, step, token)
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
            history,
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
        history,
        token_array,
        attention_array,
    )
    (_, _, _, _, lengths, log_prob_sums, coverage, _, token_array, attention_array) = tf.while_loop(
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
    num_hypotheses: int | None = None,
    constraints: Constraints | None = None,
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
        num_hypotheses: None returns the best hypothesis; H (1 ≤ H ≤ K) returns the H
            best-scoring hypotheses of the final beam, best first (ties: lower slot first),
            with a hypothesis axis after the batch one.
        constraints: optional `Constraints`, applied to every hypothesis's next-token
            log-probabilities before the candidates are ranked. While a sentence's forced
            prefix lasts, its -inf hypotheses do not count as ended, so the beam fills again
            once the prefix is over.

    Returns:
        `DecodeResult` of the best hypothesis of each sentence: tokens (B, T), ...; with
        `num_hypotheses=H`: tokens (B, H, T), lengths, scores and log_probs (B, H), attention
        (B, H, T, S). A hypothesis whose score is -inf (fewer than H finite ones exist) is
        returned as it is; callers drop it.
    """
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
        log_probs, new_state, attention_rows = _call_step(step_fn, inputs, state, step)
        log_probs = constraints.apply(log_probs, step, end_id, history, prefix)
        vocabulary_size = tf.shape(log_probs)[1]
        width, padded = _block_layout(log_probs.shape[1])  # Python int and bool
        blocks = (vocabulary_size + width - 1) // width
        if padded:  # -inf "fake" tokens fill the last block: V..nb·w-1, never chosen
            log_probs = tf.pad(
                log_probs,
                [[0, 0], [0, blocks * width - vocabulary_size]],
                constant_values=float("-inf"),
            )  # (B·K, nb·w)
        log_probs = tf.reshape(log_probs, [batch_size, beam, blocks * width])  # (B, K, nb·w)
        attention_rows = tf.reshape(attention_rows, [batch_size, beam, source_length])
        # (B, K, S)
        attention_rows = tf.where(finished[..., None], 0.0, attention_rows * real_source)

        candidate_lengths = lengths + tf.cast(tf.logical_not(finished), tf.int32)  # (B, K)
        candidate_coverage = coverage + attention_rows  # (B, K, S)
        penalty = None
        if coverage_penalty:
            # Only candidates that end pay the coverage penalty (see the docstring).
            at_max_length = candidate_lengths >= max_lengths[:, None]  # (B, K)
            penalty = coverage_penalty * _coverage_log_sum(candidate_coverage, source_mask)

        def candidates(values, tokens, slots):
            """(log-probability, score) of the candidates extending hypotheses `slots` by
            `tokens` whose model log-probabilities are `values` (all (B, K, W)); the formula
            and the operations of the whole (B, K, V) candidate matrix, element by element."""
            row = functools.partial(tf.gather, indices=slots, batch_dims=1)
            ended = row(finished)[..., None]  # (B, K, 1)
            # An ended hypothesis has one continuation, padding, at log-probability 0.
            padding_only = tf.where(tokens == PADDING_ID, 0.0, float("-inf"))
            continuation = tf.where(ended, padding_only, values)
            log_prob = row(log_prob_sums)[..., None] + continuation
            score = hypothesis_scores(
                log_prob, row(candidate_lengths)[..., None], None, None, length_penalty
            )
            if coverage_penalty:
                ends = (row(finished | at_max_length)[..., None]) | (tokens == end_id)
                score += tf.where(ends, row(penalty)[..., None], 0.0)
            return log_prob, score

        # The K best of the K·V candidates (candidate k·V + v extends hypothesis k by token
        # v; ties to the lower index), without scoring all of them: V splits into blocks of
        # `width` tokens, and within a hypothesis the score is a non-decreasing function of
        # the token's log-probability, except for padding and END, so the best score in a
        # block is the score of its best log-probability (blocks with padding or END are
        # scored token by token). The K best candidates lie in the K best blocks (ties to the
        # lower block), and those blocks in index order keep the candidates' order. Where w
        # does not divide V, the last block is filled with fake tokens at -inf; they are
        # ranked after every real candidate, so, as the K blocks hold at least K real ones,
        # no fake token is chosen and ties among -inf candidates go as before.
        block_values = tf.reshape(log_probs, [batch_size, beam * blocks, width])  # (B, K·nb, w)
        block_maxima = tf.reshape(
            tf.reduce_max(block_values, axis=-1), [batch_size, beam, blocks]
        )  # (B, K, nb)
        slots = tf.tile(tf.range(beam)[None, :], [batch_size, 1])  # (B, K)
        _, block_scores = candidates(block_maxima, tf.constant(-1), slots)  # (B, K, nb)
        special = tf.stack([0, end_id // width])  # the blocks of padding and END
        special_values = tf.gather(
            tf.reshape(log_probs, [batch_size, beam, blocks, width]), special, axis=2
        )  # (B, K, 2, w)
        special_tokens = special[:, None] * width + tf.range(width)[None, :]  # (2, w)
        _, special_scores = candidates(
            tf.reshape(special_values, [batch_size, beam, 2 * width]),
            tf.reshape(special_tokens, [-1]),
            slots,
        )
        special_scores = tf.reduce_max(
            tf.reshape(special_scores, [batch_size, beam, 2, width]), axis=-1
        )  # (B, K, 2)
        block_ids = tf.range(blocks)
        block_scores = tf.where(block_ids == special[1], special_scores[..., 1:], block_scores)
        block_scores = tf.where(block_ids == 0, special_scores[..., :1], block_scores)
        _, best_blocks = tf.math.top_k(
            tf.reshape(block_scores, [batch_size, beam * blocks]), k=beam
        )  # (B, K)
        best_blocks = tf.sort(best_blocks, axis=1)  # index order
        block_slots = best_blocks // blocks  # (B, K), the hypothesis of each block
        block_tokens = (best_blocks % blocks)[..., None] * width + tf.range(width)  # (B, K, w)
        block_log_probs, block_scores = candidates(
            tf.gather(block_values, best_blocks, batch_dims=1), block_tokens, block_slots
        )  # (B, K, w)
        block_scores = tf.reshape(block_scores, [batch_size, beam * width])
        if padded:
            fake = tf.reshape(block_tokens >= vocabulary_size, [batch_size, beam * width])
            real_first = tf.argsort(tf.cast(fake, tf.int32), axis=1, stable=True)
            _, picked = tf.math.top_k(tf.gather(block_scores, real_first, batch_dims=1), k=beam)
            picked = tf.gather(real_first, picked, batch_dims=1)  # (B, K), best first
        else:
            _, picked = tf.math.top_k(block_scores, k=beam)  # (B, K), best first
        picked_log_probs = tf.gather(
            tf.reshape(block_log_probs, [batch_size, beam * width]), picked, batch_dims=1
        )  # (B, K)
        chosen = tf.gather(block_slots, picked // width, batch_dims=1) * vocabulary_size + (
            tf.gather(tf.reshape(block_tokens, [batch_size, beam * width]), picked, batch_dims=1)
        )  # (B, K), candidate ids k·V + v

        # Greedy anchor (see the docstring): keep the greedy continuation in the beam. Its
        # argmax (the first maximum) is in the first block holding the largest maximum.
        greedy_block = tf.argmax(
            tf.gather(block_maxima, greedy_slot, batch_dims=1), axis=-1, output_type=tf.int32
        )  # (B,)
        greedy_values = tf.gather_nd(
            tf.reshape(block_values, [batch_size, beam, blocks, width]),
            tf.stack([greedy_slot, greedy_block], axis=1),
            batch_dims=1,
        )  # (B, w)
        in_block = tf.argmax(greedy_values, axis=-1, output_type=tf.int32)  # (B,)
        greedy_token = tf.where(
            tf.gather(finished, greedy_slot, batch_dims=1),
            PADDING_ID,
            greedy_block * width + in_block,
        )  # (B,)
        greedy_candidate = greedy_slot * vocabulary_size + greedy_token  # (B,)
        is_greedy = tf.equal(chosen, greedy_candidate[:, None])  # (B, K)
        greedy_kept = tf.reduce_any(is_greedy, axis=1)  # (B,)
        if_replaced = tf.concat([chosen[:, :-1], greedy_candidate[:, None]], axis=1)
        chosen = tf.where(greedy_kept[:, None], chosen, if_replaced)
        greedy_log_prob, _ = candidates(
            tf.gather(greedy_values, in_block, batch_dims=1)[:, None, None],
            greedy_token[:, None, None],
            greedy_slot[:, None],
        )  # (B, 1, 1)
        picked_log_probs = tf.where(
            greedy_kept[:, None],
            picked_log_probs,
            tf.concat([picked_log_probs[:, :-1], greedy_log_prob[:, :, 0]], axis=1),
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
        log_prob_sums = picked_log_probs  # (B, K)
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
        # What the step returns unchanged (the same tensor: encoder memory, masks, ...) holds
        # the rows tiled from the initial state, equal for all hypotheses of a sentence, so
        # reordering them within a sentence would change nothing.
        state = tf.nest.map_structure(
            lambda new, old: new if new is old else tf.gather(new, rows), new_state, state
        )
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


BLOCK_WIDTH = 64


def _block_layout(vocabulary_size: int | None) -> tuple[int, bool]:
    """The width of the blocks `beam_search` ranks the vocabulary in (`BLOCK_WIDTH`, or V
    when it is smaller) and whether the last block must be filled up to it (w does not divide
    V, or V is unknown when the graph is traced)."""
    if vocabulary_size is None:
        return BLOCK_WIDTH, True
    width = min(BLOCK_WIDTH, vocabulary_size)
    return width, vocabulary_size % width != 0


def _backtrack(parents: tf.Tensor, best: tf.Tensor, steps: tf.Tensor) -> tf.Tensor:
    """Beam slot of the returned hypothesis at every step, like `tf.gather_tree` for one beam.

    Args:
        parents: int32 (T + 1, B, K), parents[t][b, k] = slot at step t - 1 of the hypothesis in
            slot k at step t (index 0 is the dummy).
        best: int32 (B,) or (B, H), the chosen slot(s) after the last step.
        steps: int32 scalar T.

    Returns:
        int32 (T + 1, B) or (T + 1, B, H); row 0 (the dummy step) is whatever slot the walk ends on.
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
    return result._replace(
        tokens=result.tokens[..., :length], attention=result.attention[..., :length, :]
    )


def _call_step(step_fn: StepFunction, tokens, state, step):
    """Calls the model's step, casting its outputs to float32 (a float16 model's included)."""
    log_probs, state, attention = step_fn(tokens, state, step)
    return tf.cast(log_probs, tf.float32), state, tf.cast(attention, tf.float32)


def _has_ended(
    was_finished, token, end_id, lengths, max_lengths, log_prob_sums, may_end_on_inf=True
) -> tf.Tensor:
    """A hypothesis ends with END, at its max length, or when its log-probability is -inf/NaN
    (where `may_end_on_inf`: not while a forced prefix lasts, see `beam_search`)."""
    return (
        was_finished
        | tf.equal(token, end_id)
        | (lengths >= max_lengths)
        | (tf.logical_not(tf.math.is_finite(log_prob_sums)) & may_end_on_inf)
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
