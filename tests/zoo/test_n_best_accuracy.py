"""G2P n-best accuracy (issue 20): ranks and metrics against hand-computed values, and a run on a
tiny symbol translator whose top-1 accuracy equals greedy-beam accuracy."""

from __future__ import annotations

import pytest

from kerattn.errors import UsageError
from kerattn.zoo.n_best_accuracy import (
    evaluate_g2p_n_best,
    evaluate_g2p_n_best_file,
    first_acceptable_ranks,
    n_best_report,
)
from kerattn.zoo.translator import Translator
from tests.zoo.conftest import symbol_tokenizer


def test_ranks_and_metrics_by_hand():
    hypotheses = [["R IY D", "R EH D"], ["L AY V", "L IH V"], ["K AE T", "K AA T"]]
    acceptable = [["R EH D", "R IY D"], ["L IH  V"], ["D AO G"]]
    ranks = first_acceptable_ranks(hypotheses, acceptable)
    assert ranks == [1, 2, None]
    metrics = n_best_report(ranks, 2)
    assert metrics == {
        "accuracy_at_1": pytest.approx(1 / 3),
        "accuracy_at_2": pytest.approx(2 / 3),
        "mean_reciprocal_rank": pytest.approx((1 + 1 / 2) / 3),
    }
    with pytest.raises(UsageError, match="at least one word"):
        n_best_report([], 2)


def test_a_tiny_g2p_model_and_its_file(tmp_path):
    import keras

    keras.utils.set_random_seed(0)
    model = Translator(
        symbol_tokenizer("abcdefg"),
        symbol_tokenizer("ABCDEFG"),
        embedding_dim=8,
        units=8,
        max_source_length=12,
        max_target_length=12,
    )
    words = ["a b", "c d e", "f"]
    listed = model.translate(words, beam_size=3, num_hypotheses=3)
    texts = [h.text for h in listed[0].hypotheses]
    other = next(text for text in texts if text != texts[0])  # ranked 2nd or later
    references = {words[0]: [other], words[1]: ["X"], words[2]: [listed[2].text]}
    assert texts.index(other) >= 1
    report = evaluate_g2p_n_best(model, references, num_hypotheses=3, beam_size=3, batch_size=2)
    assert report["counts"]["examples"] == 3
    assert report["metrics"]["accuracy_at_1"] == pytest.approx(1 / 3)
    assert report["metrics"]["accuracy_at_3"] == pytest.approx(2 / 3)
    data = tmp_path / "test.tsv"
    data.write_text("".join(f"{w}\t{p[0]}\n" for w, p in references.items()), encoding="utf-8")
    alternates = tmp_path / "alternates.tsv"
    alternates.write_text(f"{words[1]}\t{listed[1].text}\n", encoding="utf-8")
    from_file = evaluate_g2p_n_best_file(model, data, alternates, num_hypotheses=3, beam_size=3)
    assert from_file["metrics"]["accuracy_at_1"] == pytest.approx(2 / 3)
