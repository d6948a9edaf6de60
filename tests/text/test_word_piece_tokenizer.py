"""WordPieceTokenizer: round trips, unknowns, empty input, shapes, reserved ids, errors."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from kerattn import text
from tests.text.conftest import ENGLISH, SPANISH


def decode(tensor: tf.Tensor) -> list[str]:
    return [value.decode("utf-8") for value in np.atleast_1d(tensor.numpy())]


@pytest.mark.parametrize("language,sentences", [("en", ENGLISH), ("es", SPANISH)])
def test_round_trip_gives_the_normalized_sentence(tokenizer, language, sentences):
    ids = tokenizer.tokenize(tf.constant(sentences))
    assert not np.any(ids.flat_values.numpy() == tokenizer.unknown_id)
    assert decode(tokenizer.detokenize(ids)) == decode(tokenizer.normalize(tf.constant(sentences)))
    # The sentences are written the way the spacing rules write them: normalising is a no-op.
    assert decode(tokenizer.normalize(tf.constant(sentences))) == sentences


def test_small_vocabulary_learns_subwords_and_still_round_trips(corpus):
    vocabulary = text.train_wordpiece_vocabulary(corpus, 180)
    assert len(vocabulary) <= 180
    assert any(token.startswith("##") and len(token) > 3 for token in vocabulary)
    tokenizer = text.WordPieceTokenizer(vocabulary)
    ids = tokenizer.tokenize(tf.constant(corpus))
    assert not np.any(ids.flat_values.numpy() == tokenizer.unknown_id)
    assert decode(tokenizer.detokenize(ids)) == corpus


def test_new_sentence_of_known_words_round_trips(tokenizer):
    sentence = "¿Dónde está el documento? Pulse «Aceptar», then close the window!"
    ids = tokenizer.tokenize(sentence)
    assert text.UNKNOWN_ID not in ids.numpy().tolist()
    assert decode(tokenizer.detokenize(ids)) == [sentence]


def test_words_split_into_pieces_are_merged_back(tokenizer):
    ids = tokenizer.tokenize("documents")
    pieces = [tokenizer.id_to_token(int(i)) for i in ids.numpy()]
    assert len(pieces) > 1 and all(piece.startswith("##") for piece in pieces[1:])
    assert decode(tokenizer.detokenize(ids)) == ["documents"]


def test_unknown_characters_give_unknown_id(tokenizer):
    ids = tokenizer.tokenize("Hello Жук world").numpy().tolist()
    assert ids == [
        tokenizer.token_to_id("Hello"), tokenizer.unknown_id, tokenizer.token_to_id("world")
    ]  # fmt: skip
    assert decode(tokenizer.detokenize(ids)) == ["Hello [UNK] world"]


def test_empty_and_whitespace_only_strings_give_zero_tokens(tokenizer):
    ids = tokenizer.tokenize(tf.constant(["", " ", "\t\n \u00a0", "Hello"]))
    assert ids.row_lengths().numpy().tolist()[:3] == [0, 0, 0]
    assert tokenizer.tokenize("").shape == (0,)
    assert decode(tokenizer.detokenize(ids))[:3] == ["", "", ""]
    framed = tokenizer.tokenize(tf.constant(["", "  "]), add_start_end=True)
    assert framed.to_list() == [[text.START_ID, text.END_ID]] * 2


@pytest.mark.parametrize(
    "value",
    ["Привет, мир!", "日本語のテキスト、你好世界。", "😀👍🏽 👨‍👩‍👧", "مرحبا بالعالم",
     "\u0000\u0007", "x" * 500, "\ufffd\ufeff\u200b", "Hello 😀"],
)  # fmt: skip
def test_non_latin_text_never_crashes(tokenizer, value):
    ids = tokenizer.tokenize(value)
    assert ids.dtype == tf.int32
    assert np.all((ids.numpy() >= 0) & (ids.numpy() < tokenizer.vocabulary_size()))
    tokenizer.detokenize(ids)


def test_invalid_utf8_never_crashes(tokenizer):
    ids = tokenizer.tokenize(tf.constant([b"Hello \xff\xfe world"]))
    assert ids.to_list()[0][0] == tokenizer.token_to_id("Hello")


def test_batch_and_single_string_give_the_same_ids(tokenizer, corpus):
    batch = tokenizer.tokenize(tf.constant(corpus))
    assert isinstance(batch, tf.RaggedTensor) and batch.dtype == tf.int32
    for index, sentence in enumerate(corpus):
        single = tokenizer.tokenize(sentence)
        assert isinstance(single, tf.Tensor) and single.shape.rank == 1
        assert single.numpy().tolist() == batch[index].numpy().tolist()


def test_empty_batches_and_empty_sequences(tokenizer):
    assert tokenizer.tokenize(tf.constant([], tf.string)).to_list() == []
    assert tokenizer.tokenize(tf.constant([], tf.string), add_start_end=True).to_list() == []
    assert tokenizer.detokenize(tf.zeros([0, 5], tf.int32)).shape == (0,)
    assert decode(tokenizer.detokenize(tf.zeros([2, 0], tf.int32))) == ["", ""]
    assert decode(tokenizer.detokenize(tf.ragged.constant([[], [text.END_ID]]))) == ["", ""]


def test_call_is_tokenize(tokenizer):
    assert tokenizer(["Hello, world!"]).to_list() == tokenizer.tokenize(["Hello, world!"]).to_list()


def test_add_start_end_frames_every_sequence(tokenizer):
    plain = tokenizer.tokenize(["Hello, world!", "¡Hola!"]).to_list()
    framed = tokenizer.tokenize(["Hello, world!", "¡Hola!"], add_start_end=True).to_list()
    assert framed == [[text.START_ID] + row + [text.END_ID] for row in plain]


def test_detokenize_accepts_dense_padded_ragged_and_single_sequences(tokenizer):
    ids = tokenizer.tokenize(["Hello, world!", "¡Hola!"], add_start_end=True)
    expected = ["Hello, world!", "¡Hola!"]
    assert decode(tokenizer.detokenize(ids)) == expected
    dense = ids.to_tensor()  # padded with 0 = [PAD]
    assert decode(tokenizer.detokenize(dense)) == expected
    assert decode(tokenizer.detokenize(tf.cast(dense, tf.int64))) == expected
    assert decode(tokenizer.detokenize(dense.numpy())) == expected
    single = tokenizer.detokenize(ids[0])
    assert single.shape.rank == 0 and single.numpy().decode() == expected[0]


def test_detokenize_stops_at_end_and_skips_pad_and_start(tokenizer):
    hello, world = tokenizer.token_to_id("Hello"), tokenizer.token_to_id("world")
    ids = [[text.START_ID, hello, text.PAD_ID, world, text.END_ID, hello, hello]]
    assert decode(tokenizer.detokenize(ids)) == ["Hello world"]


def test_out_of_range_ids_read_as_unknown(tokenizer):
    hello = tokenizer.token_to_id("Hello")
    ids = tf.constant([[hello, -1, tokenizer.vocabulary_size(), 2**40]], dtype=tf.int64)
    assert decode(tokenizer.detokenize(ids)) == ["Hello [UNK] [UNK] [UNK]"]


def test_leading_continuation_piece_is_shown_as_a_word(tokenizer):
    ids = [[tokenizer.token_to_id("##s"), tokenizer.token_to_id("world")]]
    assert decode(tokenizer.detokenize(ids)) == ["s world"]


def test_text_spelling_reserved_tokens_is_not_special(tokenizer):
    ids = tokenizer.tokenize("[END] [PAD]").numpy().tolist()
    assert text.END_ID not in ids and text.PAD_ID not in ids


def test_reserved_ids_and_vocabulary_accessors(tokenizer, wordpiece_vocabulary):
    assert (tokenizer.pad_id, tokenizer.unknown_id, tokenizer.start_id, tokenizer.end_id) == (
        0, 1, 2, 3
    )  # fmt: skip
    assert tokenizer.get_vocabulary()[:4] == ["[PAD]", "[UNK]", "[START]", "[END]"]
    assert tokenizer.get_vocabulary() == wordpiece_vocabulary
    assert tokenizer.vocabulary_size() == len(wordpiece_vocabulary)
    assert tokenizer.id_to_token(3) == "[END]" and tokenizer.token_to_id("[UNK]") == 1
    tokens = tokenizer.id_to_token(tf.ragged.constant([[0, 1], [3]]))
    assert tokens.to_list() == [[b"[PAD]", b"[UNK]"], [b"[END]"]]


def test_errors_name_the_bad_value(tokenizer, wordpiece_vocabulary):
    with pytest.raises(ValueError, match="'no-such-token' is not in the vocabulary"):
        tokenizer.token_to_id("no-such-token")
    with pytest.raises(ValueError, match="id 100000 is outside"):
        tokenizer.id_to_token(100000)
    with pytest.raises(ValueError, match=r"scalar or a \[B\] vector.*\(1, 1\)"):
        tokenizer.tokenize([["a"]])
    with pytest.raises(ValueError, match="received a ragged tensor"):
        tokenizer.tokenize(tf.ragged.constant([["a"]]))
    with pytest.raises(ValueError, match="integer ids, received dtype float32"):
        tokenizer.detokenize(tf.constant([[1.0]]))
    with pytest.raises(ValueError, match="must start with the reserved tokens"):
        text.WordPieceTokenizer(["a", "b"])
    with pytest.raises(ValueError, match="'##' appears more than once|'a' appears more than once"):
        text.WordPieceTokenizer(list(text.RESERVED_TOKENS) + ["a", "a"])
    with pytest.raises(ValueError, match="'a b' contains whitespace"):
        text.WordPieceTokenizer(list(text.RESERVED_TOKENS) + ["a b"])
    with pytest.raises(ValueError, match="no vocabulary yet"):
        text.WordPieceTokenizer().tokenize("a")
    with pytest.raises(ValueError, match="suffix_indicator=''"):
        text.WordPieceTokenizer(wordpiece_vocabulary, suffix_indicator="")
    with pytest.raises(ValueError, match="language='fr' is not supported for detokenization"):
        text.WordPieceTokenizer(wordpiece_vocabulary, language="fr")


def test_language_sets_the_quotes_of_detokenized_text_and_travels_in_the_config():
    sentences = ["Klicken Sie auf »Datei« und dann auf „Speichern“.", "Datei „%s“ gelöscht."]
    vocabulary = text.train_wordpiece_vocabulary(sentences, 200)
    german = text.WordPieceTokenizer(vocabulary, language="de")
    ids = german.tokenize(tf.constant(sentences))
    assert decode(german.detokenize(ids)) == sentences
    assert decode(text.WordPieceTokenizer(vocabulary).detokenize(ids))[0] == (
        "Klicken Sie auf» Datei «und dann auf „ Speichern “."
    )
    config = german.get_config()
    assert config["language"] == "de"
    assert text.WordPieceTokenizer.from_config(config).language == "de"
    del config["language"]  # a config written before the argument existed
    assert text.WordPieceTokenizer.from_config(config).language == "en"


def test_lowercase_tokenizer(corpus):
    vocabulary = text.train_wordpiece_vocabulary(corpus, 300, lowercase=True)
    assert not any(character.isupper() for token in vocabulary[4:] for character in token)
    tokenizer = text.WordPieceTokenizer(vocabulary, lowercase=True)
    assert decode(tokenizer.detokenize(tokenizer.tokenize("HELLO, World!"))) == ["hello, world!"]


def test_tokenize_and_detokenize_inside_tf_function(tokenizer, corpus):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def round_trip(strings):
        return tokenizer.detokenize(tokenizer.tokenize(strings, add_start_end=True).to_tensor())

    assert decode(round_trip(tf.constant(corpus))) == corpus
