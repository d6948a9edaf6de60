"""Scoring, n-best lists, sampling and constraints of the Translator, against numpy references
and the search's own reports (issue 20)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import tensorflow as tf

from kerattn.errors import UsageError
from kerattn.zoo.decoding import Constraints, Sampling, greedy_search, hashed_uniform
from tests.zoo.conftest import ENGLISH, ended
from tests.zoo.test_decoding import END, START, VOCABULARY, MarkovModel, random_tables

# ---------------------------------------------------------------- scoring


def test_score_equals_what_the_search_reported_for_its_own_output(translator):
    translations = translator.translate(ENGLISH, beam_size=3, num_hypotheses=3, min_length=4)
    pairs = [(ENGLISH[i], h) for i, t in enumerate(translations) for h in t.hypotheses]
    scorings = translator.score([source for source, _ in pairs], [h.text for _, h in pairs])
    compared = 0
    for scoring, (_, hypothesis) in zip(scorings, pairs):
        if scoring.tokens[:-1] != hypothesis.tokens or not ended(hypothesis):
            continue  # the text does not tokenize back to the same tokens
        compared += 1
        assert scoring.tokens[-1] == "[END]"
        assert abs(scoring.log_prob - hypothesis.log_prob) <= 1e-5
        assert abs(scoring.score - hypothesis.score) <= 1e-5
        np.testing.assert_allclose(scoring.attention[:-1], hypothesis.attention, atol=1e-6)
        assert np.isclose(scoring.token_log_probs.sum(), scoring.log_prob, atol=1e-5)
    assert compared >= 10


def test_score_of_greedy_output_equals_greedy_log_prob(translator):
    translations = translator.translate(ENGLISH, min_length=3)
    scorings = translator.score(ENGLISH, [t.text for t in translations], length_penalty=0.0)
    checked = [
        (s, t) for s, t in zip(scorings, translations) if s.tokens[:-1] == t.tokens and ended(t)
    ]
    assert checked
    for scoring, translation in checked:
        assert abs(scoring.log_prob - translation.log_prob) <= 1e-5
        assert scoring.score == pytest.approx(scoring.log_prob)


def test_score_shapes_probabilities_and_errors(translator):
    scoring = translator.score("Turn off the lights.", "Apague las luces.")
    assert scoring.attention.shape == (len(scoring.tokens), len(scoring.source_tokens))
    np.testing.assert_array_less(scoring.token_log_probs, 0.0)
    np.testing.assert_allclose(scoring.attention.sum(axis=1), 1.0, atol=1e-5)
    with pytest.raises(UsageError, match="`targets` must match `sources`"):
        translator.score(["a", "b"], ["c"])


# ---------------------------------------------------------------- n-best


def test_n_best_first_is_todays_beam_output_and_order_is_by_score(translator):
    plain = translator.translate(ENGLISH, beam_size=4)
    listed = translator.translate(ENGLISH, beam_size=4, num_hypotheses=4)
    for one, many in zip(plain, listed):
        assert (one.text, one.score, one.log_prob) == (many.text, many.score, many.log_prob)
        scores = [h.score for h in many.hypotheses]
        assert scores == sorted(scores, reverse=True)
        assert len({tuple(h.tokens) for h in many.hypotheses}) == len(many.hypotheses)
        assert many.hypotheses[0].text == many.text


def test_n_best_errors(translator):
    with pytest.raises(UsageError, match="at most the beam size"):
        translator.translate("a", beam_size=2, num_hypotheses=3)
    with pytest.raises(UsageError, match="num_hypotheses"):
        translator.translate("a", num_hypotheses=0)
    widened = translator.translate("Turn off the lights.", num_hypotheses=3)
    assert len(widened.hypotheses) == 3


def brute_force_ranking(tables, table, max_length, alpha=0.0):
    """All complete outputs of the Markov model with their log-probabilities, best first."""
    outputs = []
    for length in range(1, max_length + 1):
        for tokens in itertools.product(range(VOCABULARY), repeat=length):
            if END in tokens[:-1]:
                continue
            previous, token, log_prob = START, START, 0.0
            for next_token in tokens:
                log_prob += tables[table, previous, token, next_token]
                previous, token = token, next_token
            if np.isfinite(log_prob) and (tokens[-1] == END or length == max_length):
                outputs.append((log_prob, tokens))
    return sorted(outputs, key=lambda item: -item[0])


def test_exhaustive_n_best_is_the_brute_force_top_list():
    from kerattn.zoo.decoding import beam_search

    tables = random_tables(np.random.default_rng(3), 2)
    max_length = 3
    mask = np.ones((2, 2), bool)
    model = MarkovModel(tables)
    beam = 4**max_length  # keeps every hypothesis: the search is exhaustive
    result = beam_search(
        model.step,
        model.initial_state([0, 1], mask),
        START,
        END,
        [max_length, max_length],
        mask,
        beam_size=beam,
        length_penalty=0.0,
        num_hypotheses=5,
    )
    for row, table in enumerate([0, 1]):
        expected = brute_force_ranking(tables, table, max_length)[:5]
        np.testing.assert_allclose(result.log_probs[row].numpy(), [lp for lp, _ in expected], 1e-5)
        for rank, (_, tokens) in enumerate(expected):
            length = int(result.lengths[row, rank])
            assert tuple(result.tokens[row, rank, :length].numpy()) == tokens


# ---------------------------------------------------------------- sampling


def test_hashed_uniform_is_uniform_and_seeded():
    values = hashed_uniform(tf.constant([1, 2], tf.int64), tf.constant(0), 50000).numpy()
    assert values.min() > 0 and values.max() < 1
    assert abs(values.mean() - 0.5) < 0.01
    again = hashed_uniform(tf.constant([1, 2], tf.int64), tf.constant(0), 50000).numpy()
    np.testing.assert_array_equal(values, again)
    assert np.corrcoef(values[0], values[1])[0, 1] < 0.02


def chi_square(observed, probabilities) -> float:
    expected = probabilities * observed.sum()
    keep = expected > 0
    return float((((observed - expected) ** 2)[keep] / expected[keep]).sum())


@pytest.mark.parametrize(
    "temperature, top_k, top_p",
    [(1.0, 0, 1.0), (0.5, 0, 1.0), (1.0, 2, 1.0), (1.0, 0, 0.65), (0.8, 3, 0.8)],
)
def test_sampled_first_tokens_follow_the_distribution(temperature, top_k, top_p):
    """First tokens of 4000 seeded samples against the reshaped model distribution (chi-square,
    3 degrees of freedom at most: 16.3 is the 0.999 quantile)."""
    log_probs = np.log(np.array([0.0, 0.0, 0.1, 0.2, 0.3, 0.4], np.float32) + 1e-30)
    log_probs[:2] = -np.inf
    draws = 4000
    sampling = Sampling(tf.range(draws, dtype=tf.int64), temperature, top_k, top_p)
    tokens = sampling.draw(tf.tile(log_probs[None], [draws, 1]), tf.constant(0)).numpy()
    observed = np.bincount(tokens, minlength=VOCABULARY).astype(float)
    expected = np.exp(log_probs / temperature)
    expected /= expected.sum()
    if top_k:
        expected[np.argsort(-expected)[top_k:]] = 0
        expected /= expected.sum()
    if top_p < 1:
        order = np.argsort(-expected)
        before = np.cumsum(expected[order]) - expected[order]
        expected[order[before >= top_p]] = 0
    expected /= expected.sum()
    assert observed[expected == 0].sum() == 0
    assert chi_square(observed, expected) < 16.3


def test_sampling_is_reproducible_and_batch_independent(translator):
    first = translator.translate(ENGLISH[:3], decoding="sample", seed=11)
    again = translator.translate(ENGLISH[:3], decoding="sample", seed=11)
    alone = translator.translate(ENGLISH[1], decoding="sample", seed=11)
    other = translator.translate(ENGLISH[:3], decoding="sample", seed=12)
    assert [t.text for t in first] == [t.text for t in again]
    assert alone.text == first[1].text
    assert [t.text for t in first] != [t.text for t in other]
    assert len({t.text for t in first}) == 3  # different inputs draw different noise
    scorings = translator.score(ENGLISH[:3], [t.text for t in first])
    for scoring, translation in zip(scorings, first):
        if scoring.tokens[:-1] == translation.tokens and ended(translation):
            assert abs(scoring.log_prob - translation.log_prob) <= 1e-5


def test_low_temperature_sampling_is_greedy(translator):
    greedy = translator.translate(ENGLISH)
    cold = translator.translate(ENGLISH, decoding="sample", temperature=1e-4, seed=5)
    assert [t.text for t in greedy] == [t.text for t in cold]


@pytest.mark.parametrize(
    "options, message",
    [
        ({"decoding": "nucleus"}, "`decoding` must be one of"),
        ({"decoding": "sample", "temperature": 0}, "`temperature` must be a number > 0"),
        ({"decoding": "sample", "top_k": -1}, "`top_k` must be an int >= 0"),
        ({"decoding": "sample", "top_p": 1.5}, "`top_p` must be a number > 0 and <= 1"),
        ({"decoding": "sample", "seed": -1}, "`seed` must be an int"),
        ({"decoding": "sample", "num_hypotheses": 2}, "does not apply"),
        ({"min_length": -1}, "`min_length` must be an int >= 0"),
        ({"max_length_ratio": 0}, "`max_length_ratio` must be a number > 0"),
        ({"no_repeat_ngram_size": 1.5}, "`no_repeat_ngram_size` must be an int"),
        ({"avoid": "luces"}, "`avoid` must be a list"),
        ({"avoid": ["Жук"]}, "does not hold"),
        ({"target_prefix": ["a", "b"]}, "`target_prefix` must be a string or a list of 1"),
        ({"replace_unknown": "yes"}, "`replace_unknown` must be True or False"),
    ],
)
def test_bad_options_fail_with_one_sentence(translator, options, message):
    with pytest.raises(UsageError, match=message):
        translator.translate(["Turn off the lights."], **options)


# ---------------------------------------------------------------- constraints


def test_min_length_max_length_ratio_and_no_repeat(translator):
    for result in translator.translate(ENGLISH, beam_size=3, min_length=6):
        assert len(result.tokens) >= 6
    source_lengths = [len(t.source_tokens) - 1 for t in translator.translate(ENGLISH)]
    for result, words in zip(translator.translate(ENGLISH, max_length_ratio=0.5), source_lengths):
        assert len(result.tokens) <= int(np.ceil(0.5 * words))
    for beam in (1, 3):
        for size in (1, 2, 3):
            for result in translator.translate(ENGLISH, beam_size=beam, no_repeat_ngram_size=size):
                grams = [
                    tuple(result.tokens[i : i + size]) for i in range(len(result.tokens) - size + 1)
                ]
                assert len(grams) == len(set(grams)), (beam, size, result.tokens)


def test_target_prefix_is_continued_and_avoided_phrases_never_appear(translator):
    for beam in (1, 3):
        results = translator.translate(
            ENGLISH[:3], beam_size=beam, target_prefix=["Apague las", "", "El documento"]
        )
        assert results[0].tokens[:2] == ["Apague", "las"]
        assert results[2].tokens[:2] == ["El", "documento"]
        scorings = translator.score(ENGLISH[:3], [r.text for r in results])
        for scoring, result in zip(scorings, results):
            if scoring.tokens[:-1] == result.tokens and ended(result):
                assert abs(scoring.log_prob - result.log_prob) <= 1e-5
    plain = translator.translate(ENGLISH, beam_size=3)
    common = sorted({token for r in plain for token in r.tokens if token.isalpha()})[:3]
    avoided = translator.translate(ENGLISH, beam_size=3, avoid=common)
    for result in avoided:
        assert not set(result.tokens) & set(common)
    phrase = plain[0].tokens[:2]
    if len(phrase) == 2 and not phrase[1].startswith("##"):
        result = translator.translate(ENGLISH[0], beam_size=3, avoid=[" ".join(phrase)])
        pairs = list(zip(result.tokens, result.tokens[1:]))
        assert tuple(phrase) not in pairs


def test_constraints_on_the_markov_model_match_a_numpy_walk():
    """Greedy with min_length and a banned phrase equals the argmax walk that applies them."""
    tables = random_tables(np.random.default_rng(5), 1, end_bonus=2.0)
    mask = np.ones((1, 2), bool)
    model = MarkovModel(tables)
    constraints = Constraints(min_length=3, avoid=((3, 4), (5,)))
    result = greedy_search(
        model.step, model.initial_state([0], mask), START, END, [6], mask, constraints=constraints
    )
    previous, token, walk = START, START, []
    for step in range(6):
        log_probs = tables[0, previous, token].copy()
        if step < 3:
            log_probs[END] = -np.inf
        log_probs[5] = -np.inf
        if walk and walk[-1] == 3:
            log_probs[4] = -np.inf
        choice = int(np.argmax(log_probs))
        walk.append(choice)
        previous, token = token, choice
        if choice == END:
            break
    assert result.tokens[0].numpy().tolist()[: len(walk)] == walk


def test_replace_unknown_copies_the_most_attended_source_token(translator):
    unknown = translator.target_tokenizer.unknown_id
    bias = translator.backbone.projection.bias
    saved = bias.numpy()
    values = saved.copy()
    values[unknown] += 30.0  # every output token is [UNK]
    bias.assign(values)
    try:
        plain = translator.translate(ENGLISH[0], max_length_ratio=1.0)
        replaced = translator.translate(ENGLISH[0], max_length_ratio=1.0, replace_unknown=True)
    finally:
        bias.assign(saved)
    assert plain.tokens and set(plain.tokens) == {"[UNK]"}
    copyable = plain.attention[:, :-1]  # [END] is never copied
    expected = [plain.source_tokens[i] for i in copyable.argmax(axis=1)]
    assert replaced.tokens == expected
    assert "[UNK]" not in replaced.text
