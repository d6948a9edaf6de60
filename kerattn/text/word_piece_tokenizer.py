"""`WordPieceTokenizer`: subword tokenization for the translator and the classifier.

Words come from `normalization.split_words`; each word is cut into wordpieces by tf-text's
`FastWordpieceTokenizer` (linear-time WordPiece, Song et al. 2021) with `no_pretokenization=True`,
so kerattn's own word rules (joiners kept inside words, punctuation on its own) apply rather
than BERT's. The compiled WordPiece model is a uint8 constant in the graph; its op,
`FastWordpieceTokenizeWithOffsets`, is in tf-text 2.20 and therefore in stock TF Serving.

Detokenization does not use `FastWordpieceDetokenize`: joining pieces with spaces and deleting
" ##" with a core regex op is the same thing and keeps the decode path free of custom ops.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import keras
import tensorflow as tf

from kerattn.text import normalization
from kerattn.text.tokenizer import Tokenizer
from kerattn.text.vocabulary import UNKNOWN_TOKEN


@keras.saving.register_keras_serializable(package="kerattn")
class WordPieceTokenizer(Tokenizer):
    """In-graph WordPiece tokenizer with normalisation and readable detokenization.

    `tokenize`: normalise → split words and punctuation → greedy longest-match wordpieces
    (continuations carry `suffix_indicator`, "##"). A word that cannot be built from the
    vocabulary, or is longer than `max_bytes_per_word`, becomes one `[UNK]`.
    `detokenize`: wordpieces merged, then `normalization.join_words` spacing, so
    `detokenize(tokenize(x)) == normalize(x)` for text made of known words and written with the
    usual spacing of `language`.

    Args:
        vocabulary: wordpiece tokens in id order starting with `[PAD]`, `[UNK]`, `[START]`,
            `[END]` (see `train_wordpiece_vocabulary`), or None to load it later.
        normalization_form: "NFC" (default), "NFKC", "NFD", "NFKD" or None.
        lowercase: lowercase before tokenizing (the classifier wants it; the translator, whose
            output is shown to people, does not).
        suffix_indicator: prefix of word-continuation pieces.
        max_bytes_per_word: longer words become `[UNK]`.
        language: the spacing `detokenize` writes around punctuation, one of
            `normalization.JOIN_LANGUAGES`: "en" (default) and "es" share their rules, "de" has
            German quotation marks („…“, »…«).
        **kwargs: `keras.layers.Layer` arguments.

    Call arguments:
        inputs: `tf.string` scalar or [B].

    Returns:
        int32 ids: dense [T] for a scalar input, `tf.RaggedTensor` [B, (T)] for a batch.

    Example:
        >>> from kerattn.text import WordPieceTokenizer, train_wordpiece_vocabulary
        >>> vocabulary = train_wordpiece_vocabulary(["Hello, world!"] * 3, 100)
        >>> tokenizer = WordPieceTokenizer(vocabulary)
        >>> ids = tokenizer.tokenize(["Hello, world!"])
        >>> [tokenizer.id_to_token(int(i)) for i in ids[0]]
        ['Hello', ',', 'world', '!']
        >>> tokenizer.detokenize(ids).numpy().tolist()
        [b'Hello, world!']
    """

    def __init__(
        self,
        vocabulary: Iterable[str] | None = None,
        normalization_form: str | None = "NFC",
        lowercase: bool = False,
        suffix_indicator: str = "##",
        max_bytes_per_word: int = 100,
        language: str = "en",
        **kwargs,
    ) -> None:
        super().__init__(normalization_form, lowercase, **kwargs)
        normalization.check_join_language(language)
        if not suffix_indicator or any(character.isspace() for character in suffix_indicator):
            raise ValueError(
                f"suffix_indicator={suffix_indicator!r} must be a non-empty string without "
                'whitespace, such as "##".'
            )
        if not isinstance(max_bytes_per_word, int) or max_bytes_per_word < 1:
            raise ValueError(
                f"max_bytes_per_word={max_bytes_per_word!r} must be a positive integer."
            )
        self.suffix_indicator = suffix_indicator
        self.max_bytes_per_word = max_bytes_per_word
        self.language = language
        if vocabulary is not None:
            self.set_vocabulary(vocabulary)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "suffix_indicator": self.suffix_indicator,
                "max_bytes_per_word": self.max_bytes_per_word,
                "language": self.language,
            }
        )
        return config

    def _check_vocabulary_tokens(self, tokens: list[str]) -> None:
        for token in tokens:
            if any(character.isspace() for character in token):
                raise ValueError(
                    f"wordpiece {token!r} contains whitespace; words never do, so it could "
                    "never be produced."
                )

    def _build_lookup(self, tokens: list[str]) -> None:
        import tensorflow_text as tf_text

        self._fast_wordpiece = tf_text.FastWordpieceTokenizer(
            vocab=tokens,
            suffix_indicator=self.suffix_indicator,
            max_bytes_per_word=self.max_bytes_per_word,
            token_out_type=tf.int32,
            unknown_token=UNKNOWN_TOKEN,
            no_pretokenization=True,
            support_detokenization=False,
        )

    def _tokenize_normalized(self, normalized: tf.Tensor) -> tf.RaggedTensor:
        words = normalization.split_words(normalized)  # [B, (W)]
        pieces = self._fast_wordpiece.tokenize(words)  # [B, (W), (P)]
        return pieces.merge_dims(1, 2)  # [B, (T)]

    def _join_tokens(self, tokens: tf.RaggedTensor) -> tf.Tensor:
        text = tf.strings.reduce_join(tokens, axis=-1, separator=" ")  # [B]
        # A continuation piece at the very start (possible in model output) is shown as a word.
        text = tf.strings.regex_replace(text, "(^| )" + re.escape(self.suffix_indicator), "")
        return normalization.join_words(text, self.language)
