"""Input pipeline: in-graph tokenization, bucketing with right padding, seeded order, skipping."""

import numpy as np
import pytest

from kerattn.data import input_pipeline
from kerattn.text import SymbolTokenizer, train_symbol_vocabulary
from kerattn.training.learning_rate_schedule import WarmupSchedule
from kerattn.zoo.translator import Translator
from tests.training.conftest import FIXTURES


@pytest.fixture(scope="module")
def translator_and_rows():
    texts, targets = input_pipeline.read_examples(FIXTURES / "reversal" / "train.tsv", "translator")
    vocabulary = train_symbol_vocabulary(texts, split="whitespace")
    tokenizer = SymbolTokenizer(vocabulary, split="whitespace")
    model = Translator(
        tokenizer, tokenizer, embedding_dim=4, units=4, max_source_length=12, max_target_length=12
    )
    return model, texts, targets


def _batches(dataset):
    return [
        (
            tuple(np.asarray(t) for t in (inputs["source_ids"], inputs["target_input_ids"])),
            np.asarray(outputs),
        )
        for inputs, outputs in dataset
    ]


def test_batches_are_right_padded_and_match_prepare_batch(translator_and_rows):
    model, texts, targets = translator_and_rows
    dataset = input_pipeline.make_dataset(
        model, "translator", texts[:40], targets[:40], batch_size=8
    )
    rows = 0
    for (source, target_input), target_output in _batches(dataset):
        assert source.dtype == np.int32 and target_output.shape == target_input.shape
        lengths = (source != 0).sum(axis=1)
        for row, length in zip(source, lengths):
            assert (row[:length] != 0).all() and (row[length:] == 0).all()  # right padding
        rows += len(source)
    assert rows == 40
    # The same rows through prepare_batch (the model's own tokenization) give the same ids.
    inputs, outputs = model.prepare_batch(np.array(texts[:1]), np.array(targets[:1]))
    first = next(
        iter(input_pipeline.make_dataset(model, "translator", texts[:1], targets[:1], batch_size=1))
    )
    np.testing.assert_array_equal(first[0]["source_ids"], inputs["source_ids"])
    np.testing.assert_array_equal(first[1], outputs)


def test_shuffle_is_seeded_and_skip_resumes_the_same_order(translator_and_rows):
    model, texts, targets = translator_and_rows

    def make(seed, skip=0):
        return _batches(
            input_pipeline.make_dataset(
                model,
                "translator",
                texts,
                targets,
                batch_size=16,
                shuffle_seed=seed,
                skip_batches=skip,
            )
        )

    first, again, other, tail = make(3), make(3), make(4), make(3, skip=5)
    assert (
        len(first)
        == len(again)
        == input_pipeline.count_batches(
            input_pipeline.make_dataset(model, "translator", texts, targets, batch_size=16)
        )
    )
    for (_, a_outputs), (_, b_outputs) in zip(first, again):
        np.testing.assert_array_equal(a_outputs, b_outputs)
    assert any(a[1].shape != b[1].shape or (a[1] != b[1]).any() for a, b in zip(first, other))
    assert len(tail) == len(first) - 5
    for (_, a_outputs), (_, b_outputs) in zip(first[5:], tail):
        np.testing.assert_array_equal(a_outputs, b_outputs)


def test_token_budget_and_replica_rounding():
    boundaries, sizes = input_pipeline._bucket_batch_sizes(None, 64, 20, replicas=2)
    assert boundaries == [8, 12, 16]
    # upper bounds 7, 11, 15, 21 -> 64 // bound, rounded up to even
    assert sizes == [10, 6, 4, 4]
    assert input_pipeline._bucket_batch_sizes(5, None, 10, replicas=2)[1] == [6, 6]


def test_classifier_labels_and_unknown_label(tmp_path):
    texts, labels = input_pipeline.read_examples(
        FIXTURES / "reviews_valid.tsv", "classifier", ["neg", "pos"]
    )
    assert set(labels) == {0, 1} and len(texts) == len(labels)
    from kerattn.data import CorpusError

    (tmp_path / "bad.tsv").write_text("fine film\tmeh\n")
    with pytest.raises(CorpusError, match="label\\(s\\) 'meh' that the training split"):
        input_pipeline.read_examples(tmp_path / "bad.tsv", "classifier", ["neg", "pos"])


def test_learning_rate_schedules():
    constant = WarmupSchedule(0.1, "constant", warmup_steps=4)
    np.testing.assert_allclose(
        [float(constant(s)) for s in range(6)], [0.025, 0.05, 0.075, 0.1, 0.1, 0.1], rtol=1e-6
    )
    inverse = WarmupSchedule(0.1, "inverse_sqrt", warmup_steps=4)
    assert float(inverse(15)) == pytest.approx(0.1 * np.sqrt(4 / 16))
    cosine = WarmupSchedule(0.1, "cosine", warmup_steps=0, total_steps=10)
    assert float(cosine(0)) == pytest.approx(0.1)
    assert float(cosine(5)) == pytest.approx(0.05)
    assert float(cosine(10)) == pytest.approx(0.0, abs=1e-9)
    assert float(cosine(50)) == pytest.approx(0.0, abs=1e-9)
    assert WarmupSchedule.from_config(cosine.get_config()).get_config() == cosine.get_config()
    with pytest.raises(ValueError, match="received schedule='linear'"):
        WarmupSchedule(0.1, "linear")
