"""`SymbolTokenizer`: one token per character or per whitespace-separated symbol.

For grapheme→phoneme: the source is a word read character by character ("hello" →
h e l l o), the target an ARPAbet string read symbol by symbol ("HH AH0 L OW1"). The vocabulary
is the set of symbols seen in training (`train_symbol_vocabulary`), so no subword learning is
needed. Token→id is a core `tf.lookup.StaticHashTable` (ops `HashTableV2`,
`LookupTableImportV2`, `LookupTableFindV2`), which TF Serving initialises at load time.
"""

from __future__ import annotations

from collections.abc import Iterable

import keras
import tensorflow as tf

from kerattn.text import normalization
from kerattn.text.tokenizer import Tokenizer
from kerattn.text.vocabulary import RESERVED_TOKENS, UNKNOWN_ID


@keras.saving.register_keras_serializable(package="kerattn")
class SymbolTokenizer(Tokenizer):
    """In-graph character or whitespace-symbol tokenizer with a fixed vocabulary.

    `tokenize`: normalise → split into Unicode code points (`split="characters"`; a space is a
    token like any other) or on whitespace (`split="whitespace"`) → look each symbol up; symbols
    not in the vocabulary, and text spelling a reserved token such as "[END]", give `[UNK]`.
    `detokenize`: symbols joined with "" (characters) or " " (whitespace).

    Args:
        vocabulary: symbols in id order starting with `[PAD]`, `[UNK]`, `[START]`, `[END]`
            (see `train_symbol_vocabulary`), or None to load it later.
        split: "characters" or "whitespace".
        normalization_form: "NFC" (default), "NFKC", "NFD", "NFKD" or None.
        lowercase: lowercase before tokenizing (e.g. CMUdict's upper-case words as source).
        **kwargs: `keras.layers.Layer` arguments.

    Call arguments:
        inputs: `tf.string` scalar or [B].

    Returns:
        int32 ids: dense [T] for a scalar input, `tf.RaggedTensor` [B, (T)] for a batch.

    Example:
        >>> from kerattn.text import SymbolTokenizer, train_symbol_vocabulary
        >>> phonemes = SymbolTokenizer(
        ...     train_symbol_vocabulary(["HH AH0 L OW1"], split="whitespace"), split="whitespace")
        >>> phonemes.get_vocabulary()[4:]  # after the reserved tokens: by frequency, then A-Z
        ['AH0', 'HH', 'L', 'OW1']
        >>> phonemes.tokenize("HH AH0 L OW1").numpy().tolist()
        [5, 4, 6, 7]
    """

    def __init__(
        self,
        vocabulary: Iterable[str] | None = None,
        split: str = "characters",
        normalization_form: str | None = "NFC",
        lowercase: bool = False,
        **kwargs,
    ) -> None:
        super().__init__(normalization_form, lowercase, **kwargs)
        normalization.check_symbol_split(split)
        self.split = split
        if vocabulary is not None:
            self.set_vocabulary(vocabulary)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"split": self.split})
        return config

    def _check_vocabulary_tokens(self, tokens: list[str]) -> None:
        for token in tokens[len(RESERVED_TOKENS) :]:
            if self.split == "characters" and len(token) != 1:
                raise ValueError(
                    f"symbol {token!r} is not a single character, but split='characters' "
                    "produces one character per token."
                )
            if self.split == "whitespace" and any(character.isspace() for character in token):
                raise ValueError(
                    f"symbol {token!r} contains whitespace, but split='whitespace' never "
                    "produces it."
                )

    def _build_lookup(self, tokens: list[str]) -> None:
        # Reserved tokens are left out of the table: input text that spells "[END]" must not
        # produce the real end id.
        symbols = tokens[len(RESERVED_TOKENS) :]
        initializer = tf.lookup.KeyValueTensorInitializer(
            keys=tf.constant(symbols, dtype=tf.string),
            values=tf.range(len(RESERVED_TOKENS), len(tokens), dtype=tf.int64),
        )
        self._symbol_table = tf.lookup.StaticHashTable(initializer, default_value=UNKNOWN_ID)

    def _tokenize_normalized(self, normalized: tf.Tensor) -> tf.RaggedTensor:
        symbols = normalization.split_symbols(normalized, self.split)  # [B, (T)]
        ids = tf.ragged.map_flat_values(self._symbol_table.lookup, symbols)
        return tf.cast(ids, tf.int32)

    def _join_tokens(self, tokens: tf.RaggedTensor) -> tf.Tensor:
        separator = "" if self.split == "characters" else " "
        return tf.strings.reduce_join(tokens, axis=-1, separator=separator)
