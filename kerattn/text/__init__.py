"""In-graph text processing: normalisation, tokenizers and vocabularies.

Raw strings go in and come out of kerattn's exported models; every step in between is a
TensorFlow op, so the same code runs in `tf.data`, in Keras models and in a SavedModel served by
stock TensorFlow Serving. The ops used are core TensorFlow ops plus two tf-text ops that exist
in tf-text 2.20 (the version linked into TF Serving): `NormalizeUTF8` (core TF has no NFC/NFKC)
and `FastWordpieceTokenizeWithOffsets`; no `py_function`. `kerattn.export.op_audit` checks this
on real exports.

Why WordPiece rather than SentencePiece: both are servable (tf-text 2.20 has
`SentencepieceOp` and `FastSentencepieceTokenize`). WordPiece was chosen because
(1) its model *is* the vocabulary list: it is saved as a plain `vocabulary.txt` asset, read by
people, and compiled in-graph by `FastWordpieceTokenizer` - SentencePiece needs a serialized
protobuf model and a trainer (the `sentencepiece` package, a native Python wheel) that is not
part of the stack; (2) word boundaries stay explicit (pieces never cross a word), so
detokenization is a deterministic join plus punctuation spacing rules that we control and test,
including Spanish ¿¡«»; (3) the learner ships with tensorflow-text (pure Python), so training a
vocabulary needs nothing new. What SentencePiece does better - no language-specific
pre-tokenization, lossless whitespace - matters for languages written without spaces, which
kerattn's corpora (English, Spanish, CMUdict, IMDB) are not.

Normalisation defaults to NFC (accents unified, nothing else changed) rather than NFKC, which
would also rewrite the Spanish ordinals 1.º/2.ª as 1.o/2.a in translations shown to people; the
classifier may choose NFKC and lowercasing. Punctuation is split off as separate tokens, with
joiners inside words kept ("don't", "e-mail", "3.5"), so detokenization can restore the spacing
(`kerattn.text.normalization`).

Reserved tokens and ids are fixed for every vocabulary: `[PAD]` 0, `[UNK]` 1, `[START]` 2,
`[END]` 3 (`kerattn.text.vocabulary`).

Public API:
    WordPieceTokenizer, SymbolTokenizer (Keras layers; `tokenize`, `detokenize`, `id_to_token`,
        `token_to_id`, `vocabulary_size`, `get_vocabulary`, `pad_id`/`unknown_id`/`start_id`/
        `end_id`; vocabulary saved as a `.keras` asset),
    train_wordpiece_vocabulary, train_symbol_vocabulary,
    normalize, split_words, join_words (the word rules both sides share),
    read_vocabulary_file, write_vocabulary_file, RESERVED_TOKENS and the token/id constants.

The tokenizers are TensorFlow-only (tf.string tensors), like keras-hub's: under the JAX backend
they still work eagerly or inside `tf.data`, not inside a jitted JAX function.
"""

from kerattn.text.normalization import join_words, normalize, split_words
from kerattn.text.symbol_tokenizer import SymbolTokenizer
from kerattn.text.tokenizer import Tokenizer
from kerattn.text.vocabulary import (
    END_ID,
    END_TOKEN,
    PAD_ID,
    PAD_TOKEN,
    RESERVED_TOKENS,
    START_ID,
    START_TOKEN,
    UNKNOWN_ID,
    UNKNOWN_TOKEN,
    read_vocabulary_file,
    write_vocabulary_file,
)
from kerattn.text.vocabulary_learning import train_symbol_vocabulary, train_wordpiece_vocabulary
from kerattn.text.word_piece_tokenizer import WordPieceTokenizer

__all__ = [
    "END_ID",
    "END_TOKEN",
    "PAD_ID",
    "PAD_TOKEN",
    "RESERVED_TOKENS",
    "START_ID",
    "START_TOKEN",
    "SymbolTokenizer",
    "Tokenizer",
    "UNKNOWN_ID",
    "UNKNOWN_TOKEN",
    "WordPieceTokenizer",
    "join_words",
    "normalize",
    "read_vocabulary_file",
    "split_words",
    "train_symbol_vocabulary",
    "train_wordpiece_vocabulary",
    "write_vocabulary_file",
]
