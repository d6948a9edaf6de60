"""A batch computed in slices side by side (`ReplicaSteps(parts=N)`, `kerattn train --parts`)
gives the same loss, correct count and update as the batch computed whole."""

from __future__ import annotations

import json
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerattn.text import RESERVED_TOKENS, SymbolTokenizer
from kerattn.training import distribution
from kerattn.training.fused_adam import FusedAdam
from kerattn.training.replica_steps import ReplicaSteps
from kerattn.zoo.classifier import Classifier
from kerattn.zoo.translator import Translator
from tests.conftest import run_fresh_python

SYMBOLS = list(RESERVED_TOKENS) + [f"w{i}" for i in range(40)]


def translator():
    tokenizer = SymbolTokenizer(SYMBOLS, split="whitespace")
    return Translator(
        tokenizer, tokenizer, embedding_dim=8, units=12, dropout=0.0, max_target_length=12
    )


def translator_batch(rows: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(2, 8, size=rows)
    source = np.zeros((rows, 8), "int32")
    target = np.zeros((rows, 9), "int32")
    for row, length in enumerate(lengths):
        source[row, :length] = rng.integers(len(RESERVED_TOKENS), len(SYMBOLS), size=length)
        target[row, : length + 1] = rng.integers(len(RESERVED_TOKENS), len(SYMBOLS), length + 1)
    inputs = {"source_ids": tf.constant(source), "target_input_ids": tf.constant(target)}
    return inputs, tf.constant(np.roll(target, -1, axis=1))


def one_step(model, family, batch, parts, spec):
    keras.utils.set_random_seed(0)
    model(batch[0])
    start = [weight.copy() for weight in model.get_weights()]
    optimizer = FusedAdam(1e-2)
    steps = ReplicaSteps(tf.distribute.get_strategy(), model, optimizer, family, 0.1, 1.0, parts)
    steps.compile(spec, spec, xla=False)
    results = [float(value) for value in steps.train(batch)]
    evaluation = [float(value) for value in steps.evaluate(batch)]
    updated = model.get_weights()
    model.set_weights(start)  # the next call starts from the same weights
    return results, evaluation, updated


def assert_same_steps(model, family, batch, spec, parts):
    whole = one_step(model, family, batch, 1, spec)
    sliced = one_step(model, family, batch, parts, spec)
    np.testing.assert_allclose(sliced[0], whole[0], rtol=1e-5)  # loss, correct, weight, ...
    np.testing.assert_allclose(sliced[1], whole[1], rtol=1e-5)
    for after_sliced, after_whole in zip(sliced[2], whole[2]):
        np.testing.assert_allclose(after_sliced, after_whole, rtol=1e-5, atol=1e-6)


IDS = tf.TensorSpec([None, None], tf.int32)


@pytest.mark.parametrize("rows, parts", [(10, 2), (10, 3), (2, 3)])  # 2 rows: an empty slice
def test_a_translator_batch_in_slices_gives_the_same_step(rows, parts):
    spec = ({"source_ids": IDS, "target_input_ids": IDS}, IDS)
    assert_same_steps(translator(), "translator", translator_batch(rows), spec, parts)


def test_a_classifier_batch_in_slices_gives_the_same_step():
    tokenizer = SymbolTokenizer(SYMBOLS, split="whitespace")
    model = Classifier(tokenizer, ["no", "yes"], embedding_dim=8, units=8, dropout=0.0)
    rng = np.random.default_rng(1)
    ids = rng.integers(len(RESERVED_TOKENS), len(SYMBOLS), size=(9, 6)).astype("int32")
    ids[::2, 4:] = 0
    batch = (tf.constant(ids), tf.constant(rng.integers(0, 2, size=9).astype("int32")))
    spec = (IDS, tf.TensorSpec([None], tf.int32))
    assert_same_steps(model, "classifier", batch, spec, 2)


def test_batch_parts_auto_is_one_slice_per_core_with_32_sentences_each(monkeypatch):
    monkeypatch.setattr(distribution, "cpu_cores", lambda: 2)
    assert distribution.batch_parts("auto", 64) == 2
    assert distribution.batch_parts("auto", 48) == 1
    monkeypatch.setattr(distribution, "cpu_cores", lambda: 16)
    assert distribution.batch_parts("auto", 128) == 4
    assert distribution.batch_parts("auto", None) == 1  # batches by token count
    assert distribution.batch_parts(3, 8) == 3
    for bad in (0, -1, 1.5, True, "two"):
        with pytest.raises(ValueError, match='parts must be "auto" or an int of at least 1'):
            distribution.batch_parts(bad, 64)
    with pytest.raises(ValueError, match="parts must be an int of at least 1, received 0"):
        ReplicaSteps(tf.distribute.get_strategy(), None, None, "translator", 0.0, None, 0)


def test_share_cores_sets_the_threads_before_the_runtime_starts_and_nothing_after():
    code = textwrap.dedent(
        """
        import json
        import tensorflow as tf
        from kerattn.training import distribution
        distribution.cpu_cores = lambda: 4
        before = distribution.share_cores(2)
        threads = tf.config.threading.get_intra_op_parallelism_threads()
        tf.constant(1.0) + 1.0  # the runtime starts
        print("REPORT " + json.dumps([before, threads, distribution.share_cores(2),
                                      distribution.share_cores(4),
                                      tf.config.threading.get_intra_op_parallelism_threads()]))
        """
    )
    report = json.loads(run_fresh_python(code, timeout=120).split("REPORT ", 1)[1])
    assert report == [True, 2, True, False, 2]


def test_the_train_command_reads_parts_and_refuses_other_values(capsys):
    from kerattn_cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["train", "r.toml"]).parts == "auto"
    assert parser.parse_args(["train", "r.toml", "--parts", "3"]).parts == 3
    for bad in ("0", "two", "-1"):
        with pytest.raises(SystemExit):
            parser.parse_args(["train", "r.toml", "--parts", bad])
        assert (
            f"""--parts: expected "auto" or a whole number of at least 1; received '{bad}'"""
            in capsys.readouterr().err
        )
