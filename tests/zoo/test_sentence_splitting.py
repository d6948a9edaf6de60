"""Over-long inputs translated sentence by sentence (`split_sentences`, `kerattn.zoo.sentences`)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from kerattn.errors import UsageError
from kerattn.zoo.sentences import split_sentences
from tests.zoo.conftest import tiny_translator

SENTENCES = ["Turn off the lights.", "Open the file and save it.", "Where is the menu?"]
LONG = " ".join(SENTENCES)  # 20 source tokens with [END]: more than max_source_length 12
ONE_LONG_SENTENCE = "Open the file and save it and turn off the lights and print the document."


@pytest.fixture(scope="module")
def model(english_tokenizer, spanish_tokenizer):
    """A tiny untrained translator reading 12 source tokens; its outputs are not empty (they
    run to the length limit), so joins and attention blocks are not trivial."""
    return tiny_translator(
        english_tokenizer, spanish_tokenizer, max_source_length=12, max_target_length=10
    )


def batch_outputs(model, texts, **options) -> dict:
    function = tf.function(
        lambda t: model.translate_batch(t, **options),
        input_signature=[tf.TensorSpec([None], tf.string)],
    )
    return {name: value.numpy() for name, value in function(tf.constant(texts)).items()}


@pytest.mark.parametrize(
    "text, pieces",
    [
        ("A cat sat. The dog ran! Is it? Yes.", ["A cat sat.", "The dog ran!", "Is it?", "Yes."]),
        ("Use a tool, e.g. The one below, i.e. This one.", None),
        ("Mr. Smith met J. R. Tolkien and Dr. Who. Then et al. Then", ["Mr. Smith met J. R. Tolkien and Dr. Who.", "Then et al. Then"]),
        ("Pi is 3.5 today. Open file.txt now.Next one", ["Pi is 3.5 today.", "Open file.txt now.Next one"]),
        ("Edit file.txt. Then run it.", ["Edit file.txt.", "Then run it."]),
        ("He said \"Stop.\" Then he left.", ["He said \"Stop.\"", "Then he left."]),
        ("Done. (See below.) \"Quoted\" too. 2 more. ¿Qué? [Note] x", ["Done.", "(See below.)", "\"Quoted\" too.", "2 more.", "¿Qué?", "[Note] x"]),
        ("Wait... What?! Now", ["Wait...", "What?!", "Now"]),
        ("see below. the rest is lower case", None),
        ("Note: Run it; Then go", None),
        ("Plan B. Then go", None),
        ("In 2020. \n  The end.", ["In 2020.", "The end."]),
        ("", None),
    ],
)  # fmt: skip
def test_boundary_rule(text, pieces):
    found = [piece.decode() for piece in split_sentences(tf.constant([text])).to_list()[0]]
    assert found == (pieces or [text])


def test_an_over_long_input_is_the_join_of_its_sentences_translated_alone(model):
    end = model.target_tokenizer.id_to_token(model.target_tokenizer.end_id)
    assert model.translate(LONG, split_sentences=False).truncated
    joined = batch_outputs(model, [LONG])
    alone = batch_outputs(model, SENTENCES, split_sentences=False)
    assert joined["segments"].tolist() == [3]
    assert alone["segments"].tolist() == [1, 1, 1]
    assert not joined["truncated"][0]
    texts = [text.decode() for text in alone["translation"] if text]
    assert texts and joined["translation"][0].decode() == " ".join(texts)
    targets = [[t for t in row if t] for row in alone["target_tokens"]]
    sources = [[t for t in row if t] for row in alone["source_tokens"]]
    assert [t for t in joined["target_tokens"][0] if t] == sum(targets, [])
    assert [t for t in joined["source_tokens"][0] if t] == sum(sources, [])
    assert sum(row.count(end.encode()) for row in sources) == 3
    np.testing.assert_allclose(joined["log_prob"][0], alone["log_prob"].sum(), rtol=1e-6)
    outputs = sum(len(row) for row in targets)
    np.testing.assert_allclose(
        joined["confidence"][0], np.exp(alone["log_prob"].sum() / outputs), rtol=1e-6
    )
    attention = joined["attention"][0]
    assert attention.shape == (outputs, sum(len(row) for row in sources))
    expected = np.zeros_like(attention)
    t0 = s0 = 0
    for row, (target, source) in enumerate(zip(targets, sources)):
        expected[t0 : t0 + len(target), s0 : s0 + len(source)] = alone["attention"][row][
            : len(target), : len(source)
        ]
        t0, s0 = t0 + len(target), s0 + len(source)
    np.testing.assert_allclose(attention, expected, atol=1e-6)
    np.testing.assert_allclose(attention.sum(axis=1), 1.0, rtol=1e-5)
    result = model.translate(LONG)
    assert result.segments == 3 and not result.truncated
    assert result.text == joined["translation"][0].decode()
    assert result.confidence == pytest.approx(float(joined["confidence"][0]))
    assert result.attention.shape == (len(result.tokens), len(result.source_tokens))


def test_the_score_of_a_joined_output_is_the_gnmt_score_of_its_totals(model):
    joined = batch_outputs(model, [LONG], length_penalty=0.6)
    alone = batch_outputs(model, SENTENCES, length_penalty=0.6, split_sentences=False)
    outputs = sum(sum(1 for t in row if t) for row in alone["target_tokens"])
    expected = alone["log_prob"].sum() / ((5.0 + outputs) / 6.0) ** 0.6
    np.testing.assert_allclose(joined["score"][0], expected, rtol=1e-5)


def test_inputs_that_fit_are_bit_identical_to_no_splitting(model):
    fitting = ["Turn off the lights.", "", "Where is the menu?", "Open the file and save it."]
    split = batch_outputs(model, fitting, beam_size=2, length_penalty=0.6)
    whole = batch_outputs(model, fitting, beam_size=2, length_penalty=0.6, split_sentences=False)
    assert split.keys() == whole.keys()
    for name in split:
        np.testing.assert_array_equal(split[name], whole[name], err_msg=name)
    assert split["segments"].tolist() == [1, 1, 1, 1]
    # Next to an over-long input: each fitting row still gives what it gives without splitting.
    mixed = batch_outputs(model, [fitting[0], LONG, fitting[3]])
    alone = batch_outputs(model, [fitting[0], LONG, fitting[3]], split_sentences=False)
    assert mixed["segments"].tolist() == [1, 3, 1]
    for row in (0, 2):
        assert mixed["translation"][row] == alone["translation"][row]
        for name in ("log_prob", "score", "confidence"):
            np.testing.assert_allclose(mixed[name][row], alone[name][row], rtol=1e-6)


def test_a_single_over_long_sentence_is_cut_as_before(model):
    split = batch_outputs(model, [ONE_LONG_SENTENCE])
    whole = batch_outputs(model, [ONE_LONG_SENTENCE], split_sentences=False)
    assert split["truncated"].tolist() == [True] and split["segments"].tolist() == [1]
    for name in whole:
        np.testing.assert_array_equal(split[name], whole[name], err_msg=name)
    # One of several sentences still too long: the input says truncated.
    result = model.translate(f"Where is the menu? {ONE_LONG_SENTENCE}")
    assert result.segments == 2 and result.truncated


def test_sampling_and_replace_unknown_apply_to_each_sentence(model):
    for options in ({"decoding": "sample", "seed": 7}, {"replace_unknown": True}):
        joined = model.translate(LONG, **options)
        alone = model.translate(SENTENCES, **options)
        assert joined.segments == 3
        assert joined.text == " ".join(result.text for result in alone if result.text)


def test_n_best_and_target_prefix_cut_as_before(model):
    for options in ({"num_hypotheses": 2}, {"target_prefix": "Abra"}):
        split = model.translate(LONG, **options)
        whole = model.translate(LONG, split_sentences=False, **options)
        assert split.truncated and split.segments == 1
        assert split.text == whole.text


def test_split_sentences_must_be_a_bool(model):
    with pytest.raises(UsageError, match="`split_sentences` must be True or False"):
        model.translate(LONG, split_sentences="no")


def test_cli_splits_unless_told_not_to(model, tmp_path, capsys):
    import json

    import kerattn_cli as cli

    folder = tmp_path / "tiny"
    model.save_to_preset(folder, description="tiny, max_source_length 12")
    argv = ["translate", "--model", str(folder), "--json", LONG]
    assert cli.main(argv) == 0
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert document["segments"] == 3 and not document["truncated"]
    assert document["translation"] == model.translate(LONG).text
    assert "longer than" not in captured.err
    assert cli.main([*argv, "--no-split-sentences"]) == 0
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert document["segments"] == 1 and document["truncated"]
    assert document["translation"] == model.translate(LONG, split_sentences=False).text
    assert "only its beginning was translated" in captured.err
