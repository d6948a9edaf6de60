"""G2P n-best accuracy (issue 20): ranks and metrics against hand-computed values, and
`evaluate_file(..., n_best=K)` / `kerattn evaluate --n-best K` on a tiny symbol translator
against a brute-force count over the model's own hypothesis lists."""

from __future__ import annotations

import json
import re

import keras
import numpy as np
import pytest

import kerattn_cli as cli
from kerattn.data import write_rows
from kerattn.errors import UsageError
from kerattn.zoo import evaluation
from kerattn.zoo.evaluation import EvaluationError
from kerattn.zoo.n_best_accuracy import first_acceptable_ranks, n_best_report
from kerattn.zoo.translator import Translator
from tests.zoo.conftest import record_translate_calls, symbol_tokenizer

WORDS = ["a b", "c d e", "f", "g a", "b c d", "e e", "d"]
K = 3


def test_ranks_and_metrics_by_hand():
    hypotheses = [["R IY D", "R EH D"], ["L AY V", "L IH V"], ["K AE T", "K AA T"]]
    acceptable = [["R EH D", "R IY D"], [["L", "IH", "V"]], "D AO G"]
    ranks = first_acceptable_ranks(hypotheses, acceptable)
    assert ranks == [1, 2, None]
    metrics = n_best_report(ranks, 2)
    assert metrics == {
        "accuracy_at_1": pytest.approx(1 / 3),
        "accuracy_at_2": pytest.approx(2 / 3),
        "mean_reciprocal_rank": pytest.approx((1 + 1 / 2) / 3),
    }
    # Whitespace does not matter; a pronunciation that is only a prefix does not count.
    assert first_acceptable_ranks([["R  IY D "], ["R IY"]], [["R IY D"], ["R IY D"]]) == [1, None]
    with pytest.raises(UsageError, match="at least one word"):
        n_best_report([], 2)


@pytest.fixture(scope="module")
def g2p(tmp_path_factory):
    """A tiny untrained G2P translator saved as .keras, its K-best lists of WORDS, and a test
    file and an alternates file whose acceptable pronunciations sit at chosen ranks."""
    keras.utils.set_random_seed(0)
    model = Translator(
        symbol_tokenizer("abcdefg"),
        symbol_tokenizer("ABCDEFG"),
        embedding_dim=8,
        units=8,
        max_source_length=12,
        max_target_length=6,
    )
    # Peaked, never-ending output distributions: K distinct hypotheses of 6 symbols per word.
    rng = np.random.default_rng(0)
    projection = model.backbone.projection
    projection.kernel.assign(rng.normal(0, 2.0, projection.kernel.shape).astype("float32"))
    bias = projection.bias.numpy()
    bias[[0, model.target_tokenizer.start_id, model.target_tokenizer.end_id]] = -1e9
    projection.bias.assign(bias)
    folder = tmp_path_factory.mktemp("n_best")
    path = folder / "g2p.keras"
    model.save(path)
    listed = model.translate(WORDS, beam_size=K, num_hypotheses=K)
    lists = [[h.text for h in result.hypotheses] for result in listed]
    assert all(len(texts) == K and len(set(texts)) == K for texts in lists)
    # Word i's test row is its hypothesis of rank i % (K + 1) + 1, the last rank being a
    # pronunciation beam search did not list; the alternates give word 3 its rank-1 one too.
    unlisted = "A B C D E F G A"
    rows = []
    for index, (word, texts) in enumerate(zip(WORDS, lists)):
        rank = index % (K + 1)
        rows.append((word, texts[rank] if rank < K else unlisted, "test"))
    data = folder / "test.tsv"
    write_rows(data, rows)
    alternates = folder / "alternates.tsv"
    write_rows(alternates, [(WORDS[3], lists[3][0], "test"), ("zebra", "Z", "train")])
    return {"model": model, "path": path, "lists": lists, "data": data, "alternates": alternates}


def brute_force(lists, acceptable, k):
    """Words with an acceptable pronunciation among their first k hypotheses, by a plain loop."""
    hits = 0
    for texts, accepted in zip(lists, acceptable):
        found = False
        for text in texts[:k]:
            for pronunciation in accepted:
                if text.split() == pronunciation.split():
                    found = True
        hits += found
    return hits


def test_evaluate_file_reports_n_best_accuracy_equal_to_a_brute_force_count(g2p):
    report = evaluation.evaluate_file(
        g2p["model"], g2p["data"], alternates_path=g2p["alternates"], n_best=K
    )
    references = evaluation.grouped_pronunciations(
        [(w, p) for w, p, _ in [line.split("\t") for line in g2p["data"].read_text().splitlines()]]
        + [(WORDS[3], g2p["lists"][3][0])]
    )
    acceptable = [references[word] for word in WORDS]
    n_best = report["metrics"]["n_best"]
    assert set(n_best) == {f"accuracy_at_{k}" for k in range(1, K + 1)} | {"mean_reciprocal_rank"}
    for k in range(1, K + 1):
        assert n_best[f"accuracy_at_{k}"] == brute_force(g2p["lists"], acceptable, k) / len(WORDS)
    # By construction: ranks 1, 2, 3, 1 (the alternate), 1, 2, 3 of 7 words.
    assert [n_best[f"accuracy_at_{k}"] for k in (1, 2, 3)] == [3 / 7, 5 / 7, 7 / 7]
    assert n_best["mean_reciprocal_rank"] == pytest.approx((3 + 2 / 2 + 2 / 3) / 7)
    assert report["settings"]["n_best"] == K and report["settings"]["beam_size"] == K
    # The error rates are the best hypothesis's: beam search's own output, as without n_best.
    plain = evaluation.evaluate_file(
        g2p["model"], g2p["data"], alternates_path=g2p["alternates"], beam_size=K
    )
    assert {key: report["metrics"][key] for key in plain["metrics"]} == plain["metrics"]
    assert report["counts"] == plain["counts"]
    json.dumps(report, allow_nan=False)

    text = evaluation.format_report(report)
    assert "n-best accuracy (3 best pronunciations per word" in text
    rows = [line.split() for line in text.splitlines() if re.match(r"    [123] ", line)]
    assert rows == [
        ["1", "42.86", "%", "3", "/", "7"],
        ["2", "71.43", "%", "5", "/", "7"],
        ["3", "100.00", "%", "7", "/", "7"],
    ]
    assert re.search(r"mean reciprocal rank +0\.6667\b", text)


def test_the_beam_is_widened_to_k_unless_given(g2p, monkeypatch):
    model = g2p["model"]
    calls = record_translate_calls(model, monkeypatch)
    widened = evaluation.evaluate_file(model, g2p["data"], n_best=2, limit=2)
    assert widened["settings"]["beam_size"] == 2
    assert all(call["beam_size"] == 2 and call["num_hypotheses"] == 2 for call in calls)
    calls.clear()
    wider = evaluation.evaluate_file(model, g2p["data"], n_best=2, beam_size=K, limit=2)
    assert wider["settings"]["beam_size"] == K and set(wider["metrics"]["n_best"]) == {
        "accuracy_at_1",
        "accuracy_at_2",
        "mean_reciprocal_rank",
    }
    assert all(call["beam_size"] == K and call["num_hypotheses"] == 2 for call in calls)


def test_cli_n_best_in_the_table_and_the_json(g2p, capsys):
    argv = ["evaluate", str(g2p["path"]), "--data", str(g2p["data"]), "--n-best", str(K)]
    assert cli.main([*argv, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    expected = evaluation.evaluate_file(g2p["path"], g2p["data"], n_best=K)
    assert report["metrics"] == expected["metrics"] and report["settings"]["n_best"] == K
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "n-best accuracy" in out and "mean reciprocal rank" in out


def test_bad_n_best_is_one_sentence(g2p, tmp_path, capsys):
    model, data = g2p["model"], g2p["data"]
    for value in (0, -1, 1.5, True):
        with pytest.raises(
            EvaluationError, match=rf"^`n_best` must be an int >= 1; received n_best={value!r}\.$"
        ):
            evaluation.evaluate_file(model, data, n_best=value)
    with pytest.raises(
        EvaluationError,
        match=r"^`n_best` must be at most the beam size; received n_best=4 with beam_size=2\.$",
    ):
        evaluation.evaluate_file(model, data, n_best=4, beam_size=2)
    with pytest.raises(
        EvaluationError,
        match=r"^`n_best` \(n-best accuracy against acceptable pronunciations\) applies to task "
        r"'g2p' only; received n_best=2 with task='translation'\.$",
    ):
        evaluation.evaluate_file(model, data, n_best=2, task="translation")
    cli_cases = [
        (["--n-best", "0"], "kerattn evaluate: `n_best` must be an int >= 1; received n_best=0."),
        (
            ["--n-best", "2", "--task", "classification"],
            "kerattn evaluate: `n_best` (n-best accuracy against acceptable pronunciations) "
            "applies to task 'g2p' only; received n_best=2 with task='classification'.",
        ),
    ]
    for flags, message in cli_cases:
        assert cli.main(["evaluate", str(g2p["path"]), "--data", str(data), *flags]) == 2
        captured = capsys.readouterr()
        assert captured.out == "" and captured.err == message + "\n"


def test_n_best_needs_a_g2p_translator(tmp_path):
    from kerattn.text import WordPieceTokenizer, train_wordpiece_vocabulary
    from kerattn.zoo.classifier import Classifier
    from tests.zoo.conftest import ENGLISH, SPANISH

    keras.utils.set_random_seed(0)
    translator = Translator(
        WordPieceTokenizer(train_wordpiece_vocabulary(ENGLISH, 200)),
        WordPieceTokenizer(train_wordpiece_vocabulary(SPANISH, 200)),
        embedding_dim=8,
        units=8,
        max_target_length=8,
    )
    data = tmp_path / "pairs.tsv"
    write_rows(data, list(zip(ENGLISH, SPANISH)))
    with pytest.raises(
        EvaluationError,
        match=r"^`n_best` \(n-best accuracy against acceptable pronunciations\) needs a G2P "
        r"translator \(task 'g2p'\); the model is a Translator of task 'translation'\.$",
    ):
        evaluation.evaluate_file(translator, data, n_best=2)
    classifier = Classifier(
        WordPieceTokenizer(train_wordpiece_vocabulary(ENGLISH, 200)),
        ["negative", "positive"],
        embedding_dim=8,
        units=4,
    )
    reviews = tmp_path / "reviews.tsv"
    write_rows(reviews, [("Turn off the lights.", "positive")])
    with pytest.raises(
        EvaluationError, match=r"the model is a Classifier of task 'classification'\.$"
    ):
        evaluation.evaluate_file(classifier, reviews, n_best=2)
