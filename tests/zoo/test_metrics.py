"""Metrics: BLEU/chrF against sacrebleu itself, hand-computed WER/PER and classification scores."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import sacrebleu

from kerattn.data import read_rows
from kerattn.zoo import metrics

FIXTURE = Path(__file__).parent / "fixtures" / "evaluation" / "translations.tsv"


@pytest.fixture(scope="module")
def corpus():
    rows = read_rows(FIXTURE, min_fields=3)
    sources, hypotheses, references = (list(column) for column in zip(*rows))
    return sources, hypotheses, references


# -- translation ------------------------------------------------------------------------------


def test_bleu_and_chrf_equal_sacrebleu_called_directly(corpus):
    _, hypotheses, references = corpus
    assert "" in hypotheses  # the fixture has an empty hypothesis
    expected_bleu = sacrebleu.corpus_bleu(hypotheses, [references])
    expected_chrf = sacrebleu.corpus_chrf(hypotheses, [references])
    bleu = metrics.corpus_bleu(hypotheses, references)
    chrf = metrics.corpus_chrf(hypotheses, references)
    assert bleu["score"] == expected_bleu.score and 0 < bleu["score"] < 100
    assert bleu["precisions"] == list(expected_bleu.precisions)
    assert bleu["brevity_penalty"] == expected_bleu.bp
    assert (bleu["hypothesis_length"], bleu["reference_length"]) == (
        expected_bleu.sys_len,
        expected_bleu.ref_len,
    )
    assert chrf["score"] == expected_chrf.score
    assert bleu["signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:")
    assert chrf["signature"].startswith("nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:")


def test_bleu_tokenization_is_passed_on(corpus):
    _, hypotheses, references = corpus
    bleu = metrics.corpus_bleu(hypotheses, references, tokenize="char")
    assert bleu["score"] == sacrebleu.corpus_bleu(hypotheses, [references], tokenize="char").score
    assert "tok:char" in bleu["signature"]


def test_bleu_by_source_length_equals_sacrebleu_on_each_bucket(corpus):
    sources, hypotheses, references = corpus
    buckets = metrics.bleu_by_source_length(sources, hypotheses, references)
    assert [b["bucket"] for b in buckets] == ["0-10", "10-20", "20-30", "30-50", "50+"]
    assert [b["count"] for b in buckets] == [4, 2, 1, 0, 1]
    assert sum(b["count"] for b in buckets) == len(sources)
    for bucket in buckets:
        upper = bucket["upper"] if bucket["upper"] is not None else float("inf")
        members = [i for i, s in enumerate(sources) if bucket["lower"] <= len(s.split()) < upper]
        assert len(members) == bucket["count"]
        if not members:
            assert bucket["bleu"] is None  # the empty 30-50 bucket
            continue
        expected = sacrebleu.corpus_bleu(
            [hypotheses[i] for i in members], [[references[i] for i in members]]
        )
        assert bucket["bleu"] == expected.score


def test_bucket_edges_are_a_parameter_and_half_open():
    sources = ["one two", "one two three", "w " * 10]
    buckets = metrics.bleu_by_source_length(sources, ["a b"] * 3, ["a b"] * 3, edges=[0, 3, 10])
    assert [(b["bucket"], b["count"]) for b in buckets] == [("0-3", 1), ("3-10", 1), ("10+", 1)]
    assert buckets[-1]["upper"] is None
    with pytest.raises(ValueError, match=r"strictly increasing ints starting at 0.*\[0, 10, 5\]"):
        metrics.bleu_by_source_length(sources, ["a"] * 3, ["a"] * 3, edges=[0, 10, 5])


def test_empty_hypotheses_and_empty_corpus():
    bleu = metrics.corpus_bleu(["", ""], ["a b c", "d e f"])
    assert bleu["score"] == 0.0 and bleu["hypothesis_length"] == 0
    assert metrics.corpus_chrf(["", ""], ["a b c", "d e f"])["score"] == 0.0
    empty = metrics.corpus_bleu([], [])
    assert empty["score"] is None and empty["signature"] is None
    assert metrics.corpus_chrf([], [])["score"] is None
    assert all(
        b["count"] == 0 and b["bleu"] is None for b in metrics.bleu_by_source_length([], [], [])
    )
    with pytest.raises(ValueError, match="received 2 hypotheses and 1 references"):
        metrics.corpus_bleu(["a", "b"], ["a"])


def test_placeholder_agreement_counts_translations_that_keep_every_placeholder():
    sources = [
        "Delete %s?",  # kept
        "Copy %1$s to %2$s",  # kept, reordered
        "%d files in {0}",  # one lost
        "No placeholder here",  # not counted
        "Open $1 with %(app)s",  # kept twice over: duplicated
        "Saved 50%% of %s",  # %% is not a placeholder; kept
    ]
    hypotheses = [
        "¿Eliminar %s?",
        "Copiar %2$s en %1$s",
        "%d archivos",
        "Sin marcador",
        "Abrir $1 $1 con %(app)s",
        "Guardado: 50% (%s)",  # "50% de" would read as printf's "% d" (the space flag)
    ]
    assert metrics.placeholder_agreement(sources, hypotheses) == {
        "sources": 5,
        "kept": 3,
        "rate": 60.0,
    }
    assert metrics.placeholder_agreement(["plain"], ["llano"]) == {
        "sources": 0,
        "kept": 0,
        "rate": None,
    }
    with pytest.raises(ValueError, match="received 1 hypotheses and 2 references"):
        metrics.placeholder_agreement(["a", "b"], ["a"])


# -- grapheme → phoneme -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "hypothesis, reference, distance",
    [
        ("", "", 0),
        ("abc", "abc", 0),
        ("", "abc", 3),
        ("abc", "", 3),
        ("kitten", "sitting", 3),  # 2 substitutions + 1 insertion
        ("flaw", "lawn", 2),  # 1 deletion + 1 insertion
        ("abc", "acb", 2),  # a transposition is two edits
        (["HH", "AH", "L", "OW"], ["HH", "EH", "L", "OW"], 1),
        (["AH", "L"], ["L", "AH"], 2),
    ],
)
def test_edit_distance_hand_cases(hypothesis, reference, distance):
    assert metrics.edit_distance(hypothesis, reference) == distance
    assert metrics.edit_distance(reference, hypothesis) == distance


def test_word_and_phoneme_error_rates_by_hand():
    references = {
        "hello": ["HH AH L OW"],
        "cat": ["K AE T"],
        "dog": ["D AO G"],
        "tomato": ["T AH M EY T OW", "T AH M AA T OW"],
    }
    predictions = {
        "hello": "HH EH L OW",  # substitution: 1 error / 4 phonemes
        "cat": "K AE T S",  # insertion: 1 / 3
        "dog": ["D", "G"],  # deletion: 1 / 3
        "tomato": "T AH M AA T OW",  # matches the second pronunciation: 0 / 6
    }
    scores = metrics.g2p_scores(predictions, references)
    assert scores == {
        "word_error_rate": 3 / 4,
        "phoneme_error_rate": 3 / 16,
        "words": 4,
        "word_errors": 3,
        "reference_phonemes": 16,
        "phoneme_errors": 3,
    }
    assert metrics.word_error_rate(predictions, references) == 3 / 4
    assert metrics.phoneme_error_rate(predictions, references) == 3 / 16


def test_phoneme_errors_count_against_the_closest_reference():
    references = {"either": ["IY DH ER", "AY DH ER"], "route": ["R UW T", "R AW T"]}
    # 1 edit from both of "either"'s: ties go to the first; "route" is 1 from the second only
    # once the first is 2 away.
    predictions = {"either": "EH DH ER", "route": "R AW"}
    scores = metrics.g2p_scores(predictions, references)
    assert scores["word_errors"] == 2 and scores["phoneme_errors"] == 1 + 1
    assert scores["reference_phonemes"] == 3 + 3
    longer = metrics.g2p_scores({"w": "A B"}, {"w": ["A B C D E", "A X"]})
    assert longer["phoneme_errors"] == 1 and longer["reference_phonemes"] == 2


def test_g2p_edge_cases():
    assert metrics.g2p_scores({}, {})["word_error_rate"] is None
    empty = metrics.g2p_scores({"a": ""}, {"a": ["EY"]})
    assert empty["word_error_rate"] == 1.0 and empty["phoneme_error_rate"] == 1.0
    single_string = metrics.g2p_scores({"a": "EY"}, {"a": "EY"})
    assert single_string["word_error_rate"] == 0.0
    with pytest.raises(ValueError, match=r"1 word\(s\) without a prediction \(e.g. \['b'\]\)"):
        metrics.g2p_scores({"a": "EY"}, {"a": ["EY"], "b": ["B IY"]})
    with pytest.raises(ValueError, match="'a' has no reference pronunciation"):
        metrics.g2p_scores({"a": "EY"}, {"a": []})


# -- classification ---------------------------------------------------------------------------


def test_classification_scores_against_a_hand_computed_confusion_matrix():
    labels = ["negative", "neutral", "positive"]
    expected = ["negative"] * 4 + ["neutral"] * 3 + ["positive"] * 3
    predicted = (
        ["negative", "negative", "negative", "positive"]
        + ["neutral", "negative", "positive"]
        + ["positive", "positive", "neutral"]
    )
    scores = metrics.classification_scores(predicted, expected, labels)
    assert scores["confusion_matrix"] == {
        "labels": labels,
        "matrix": [[3, 0, 1], [1, 1, 1], [0, 1, 2]],
    }
    assert scores["accuracy"] == pytest.approx(6 / 10)
    negative, neutral, positive = (scores["per_class"][label] for label in labels)
    assert negative == pytest.approx(
        {"precision": 3 / 4, "recall": 3 / 4, "f1": 3 / 4, "support": 4, "predicted": 4}
    )
    assert neutral == pytest.approx(
        {"precision": 1 / 2, "recall": 1 / 3, "f1": 2 / 5, "support": 3, "predicted": 2}
    )
    assert positive == pytest.approx(
        {"precision": 2 / 4, "recall": 2 / 3, "f1": 4 / 7, "support": 3, "predicted": 4}
    )
    assert scores["macro_f1"] == pytest.approx((3 / 4 + 2 / 5 + 4 / 7) / 3)
    assert metrics.macro_f1(predicted, expected, labels) == scores["macro_f1"]
    assert metrics.accuracy(predicted, expected) == scores["accuracy"]
    try:
        from sklearn.metrics import f1_score
    except ImportError:
        return
    assert scores["macro_f1"] == pytest.approx(f1_score(expected, predicted, average="macro"))


def test_a_class_never_predicted_scores_zero_without_warnings():
    labels = ["negative", "positive", "mixed"]
    expected = ["negative", "positive", "positive", "negative"]
    predicted = ["negative", "negative", "negative", "negative"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = metrics.classification_scores(predicted, expected, labels)
    assert scores["per_class"]["positive"] == {
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "support": 2,
        "predicted": 0,
    }
    # "mixed" occurs nowhere, so it is reported but left out of the macro average.
    assert scores["per_class"]["mixed"]["f1"] == 0.0
    assert scores["macro_f1"] == pytest.approx((2 / 3 + 0.0) / 2)
    assert scores["confusion_matrix"]["matrix"] == [[2, 0, 0], [2, 0, 0], [0, 0, 0]]


def test_classification_edge_cases():
    empty = metrics.classification_scores([], [], ["a", "b"])
    assert empty["accuracy"] is None and empty["macro_f1"] is None
    assert empty["confusion_matrix"]["matrix"] == [[0, 0], [0, 0]]
    with pytest.raises(ValueError, match=r"\['c'\] are not among the known labels \['a', 'b'\]"):
        metrics.confusion_matrix(["a"], ["c"], ["a", "b"])
    with pytest.raises(ValueError, match="received 1 predictions and 2 expected labels"):
        metrics.accuracy(["a"], ["a", "b"])


def test_g2p_scores_by_word_length_split_the_words_by_letters():
    references = {
        "cat": ["K AE T"],
        "tomato": ["T AH M EY T OW", "T AH M AA T OW"],
        "tomatoes": ["T AH M EY T OW Z"],
        "extraordinary": ["EH K S T R AO R D AH N EH R IY"],
    }
    predictions = {
        "cat": "K AE T",
        "tomato": "T AH M AA T OW",  # the alternate: right
        "tomatoes": "T AH M AA T OW S",  # two substitutions
        "extraordinary": "EH K S T R AH AO R D AH N EH R IY",  # one insertion
    }
    buckets = metrics.g2p_scores_by_word_length(predictions, references)
    assert [(b["bucket"], b["count"]) for b in buckets] == [
        ("0-5", 1),
        ("5-7", 1),
        ("7-9", 1),
        ("9-11", 0),
        ("11+", 1),
    ]
    rates = [(b["word_error_rate"], b["phoneme_error_rate"]) for b in buckets]
    assert rates == [(0.0, 0.0), (0.0, 0.0), (1.0, 2 / 7), (None, None), (1.0, 1 / 13)]
    whole = metrics.g2p_scores(predictions, references)
    assert sum(b["count"] for b in buckets) == whole["words"]
    with pytest.raises(ValueError, match=r"`edges` must be strictly increasing ints"):
        metrics.g2p_scores_by_word_length(predictions, references, edges=(1, 5))
