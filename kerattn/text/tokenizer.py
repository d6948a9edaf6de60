"""`Tokenizer`: the base layer shared by kerattn's in-graph tokenizers.

It owns what every tokenizer does the same way: the vocabulary (validated, reserved ids fixed by
`kerattn.text.vocabulary`), normalisation, the batch/scalar shape contract, `[START]`/`[END]`
framing, detokenization up to `[END]`, id/token conversion, and Keras saving (the vocabulary is an
asset of the `.keras` file, `get_config` holds the settings). Subclasses only say how normalised
strings become ids and how tokens are joined back into text.

A tokenizer rebuilt from its config has no vocabulary until Keras calls `load_assets`, after
construction. A model that sizes layers by the vocabulary (embeddings, output projection) must
therefore keep `vocabulary_size` in its own config, as keras-hub's backbones do, rather than ask
the tokenizer in `__init__`.

The vocabulary enters the TensorFlow graph as constants (a `tf.string` tensor for id→token, and
whatever the subclass builds for token→id), so a `tf.function` that uses a tokenizer exports
to a self-contained SavedModel: no asset file has to be found at serving time. Attach the
tokenizer to the exported object (`module.tokenizer = tokenizer`, or as a layer of the saved
model): `SymbolTokenizer`'s lookup table is a TensorFlow resource, and `tf.saved_model.save`
refuses functions that capture untracked resources.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Iterable, Sequence

import keras
import tensorflow as tf

from kerattn import compat
from kerattn.text import normalization
from kerattn.text import vocabulary as vocabulary_lib


class Tokenizer(keras.layers.Layer):
    """Base class of kerattn tokenizers: strings in, int32 ids out, and back.

    Subclasses take `vocabulary` as their first argument and call `set_vocabulary` at the end
    of their constructor, once the arguments their token lookup needs are stored; None leaves
    it to `load_assets`/`set_vocabulary` (as `keras.saving.load_model` does).

    Args:
        normalization_form: "NFC", "NFKC", "NFD", "NFKD" or None; see `normalization.normalize`.
        lowercase: lowercase the input before tokenizing.
        **kwargs: `keras.layers.Layer` arguments (name, ...).

    Call arguments:
        inputs: `tf.string` scalar or [B]. Same as `tokenize(inputs)`.

    Returns:
        int32 ids: a dense [T] tensor for a scalar input, a `tf.RaggedTensor` [B, (T)] for a batch.
    """

    def __init__(
        self,
        normalization_form: str | None = "NFC",
        lowercase: bool = False,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        normalization.check_normalization_form(normalization_form)
        self.normalization_form = normalization_form
        self.lowercase = bool(lowercase)
        # No weights: the layer is usable without a build step.
        self.built = True
        # Let `tokenizer("text")` and `tokenizer(["a", "b"])` through, as Keras's StringLookup does.
        compat.allow_non_tensor_positional_args(self)
        self._vocabulary: list[str] | None = None
        self._token_to_id_map: dict[str, int] = {}

    # ----------------------------------------------------------------------------- vocabulary
    def set_vocabulary(self, vocabulary: Iterable[str]) -> None:
        """Replaces the vocabulary (validated; reserved tokens first)."""
        tokens = vocabulary_lib.validate_vocabulary(vocabulary)
        self._check_vocabulary_tokens(tokens)
        self._vocabulary = tokens
        self._token_to_id_map = {token: index for index, token in enumerate(tokens)}
        self._vocabulary_tensor = tf.constant(tokens, dtype=tf.string)
        self._build_lookup(tokens)

    def get_vocabulary(self) -> list[str]:
        """Returns a copy of the tokens in id order."""
        return list(self._require_vocabulary())

    def vocabulary_size(self) -> int:
        """Returns the number of tokens, reserved tokens included."""
        return len(self._require_vocabulary())

    def id_to_token(self, ids: int | tf.Tensor) -> str | tf.Tensor:
        """Maps ids to tokens.

        Args:
            ids: a Python int, or an integer tensor (dense or ragged) of any shape.

        Returns:
            The token for an int (ValueError if out of range); for a tensor, a `tf.string`
            tensor of the same shape in which out-of-range ids read `[UNK]`.
        """
        tokens = self._require_vocabulary()
        if isinstance(ids, numbers.Integral):
            ids = int(ids)
            if not 0 <= ids < len(tokens):
                raise ValueError(f"id {ids} is outside the vocabulary ids 0..{len(tokens) - 1}.")
            return tokens[ids]
        if not isinstance(ids, tf.RaggedTensor):
            ids = tf.convert_to_tensor(ids)
        return tf.ragged.map_flat_values(
            lambda flat: tf.gather(self._vocabulary_tensor, self._clip_to_vocabulary(flat)), ids
        )

    def token_to_id(self, token: str) -> int:
        """Returns the id of `token`; ValueError if it is not in the vocabulary."""
        self._require_vocabulary()
        if token not in self._token_to_id_map:
            raise ValueError(
                f"token {token!r} is not in the vocabulary of {self.name} "
                f"({len(self._token_to_id_map)} tokens)."
            )
        return self._token_to_id_map[token]

    @property
    def pad_id(self) -> int:
        return vocabulary_lib.PAD_ID

    @property
    def unknown_id(self) -> int:
        return vocabulary_lib.UNKNOWN_ID

    @property
    def start_id(self) -> int:
        return vocabulary_lib.START_ID

    @property
    def end_id(self) -> int:
        return vocabulary_lib.END_ID

    # ---------------------------------------------------------------------- text <-> ids
    def normalize(self, strings: tf.Tensor) -> tf.Tensor:
        """Applies this tokenizer's normalisation: the text `detokenize` gives back."""
        return normalization.normalize(strings, self.normalization_form, self.lowercase)

    def tokenize(
        self, strings: tf.Tensor | str | list[str], add_start_end: bool = False
    ) -> tf.Tensor | tf.RaggedTensor:
        """Converts strings to int32 token ids, in graph.

        Args:
            strings: `tf.string` scalar or [B] (Python str / list of str accepted).
            add_start_end: frame every sequence with `[START]` ... `[END]`.

        Returns:
            A dense int32 tensor [T] for a scalar input, an int32 `tf.RaggedTensor` [B, (T)]
            for a batch. Empty and whitespace-only strings give zero tokens (two with
            `add_start_end`); unknown words or characters give `unknown_id`.
        """
        self._require_vocabulary()
        if isinstance(strings, tf.RaggedTensor):
            raise ValueError(
                f"tokenize expects a scalar or a [B] vector of strings, received a ragged tensor "
                f"of shape {strings.shape}."
            )
        strings = tf.convert_to_tensor(strings, dtype=tf.string)
        rank = strings.shape.rank
        if rank not in (0, 1):
            raise ValueError(
                f"tokenize expects a scalar or a [B] vector of strings, received shape "
                f"{strings.shape}."
            )
        batch = strings[tf.newaxis] if rank == 0 else strings  # [B]
        ids = self._tokenize_normalized(self.normalize(batch))  # [B, (T)]
        if add_start_end:
            batch_size = tf.shape(batch, out_type=tf.int64)[:1]
            starts = tf.fill(tf.concat([batch_size, [1]], axis=0), self.start_id)  # [B, 1]
            ends = tf.fill(tf.concat([batch_size, [1]], axis=0), self.end_id)  # [B, 1]
            ids = tf.concat(
                [tf.RaggedTensor.from_tensor(starts), ids, tf.RaggedTensor.from_tensor(ends)],
                axis=1,
            )  # [B, (T + 2)]
        return ids[0] if rank == 0 else ids

    def detokenize(self, ids: tf.Tensor | tf.RaggedTensor | Sequence) -> tf.Tensor:
        """Converts token ids back to text, in graph.

        Reading stops at the first `[END]`; `[PAD]` and `[START]` are skipped; ids outside the
        vocabulary read as `[UNK]`.

        Args:
            ids: integer ids, dense [B, T] (padded with `pad_id`), ragged [B, (T)], or a single
                dense sequence [T].

        Returns:
            `tf.string` [B], or a scalar for a single sequence.
        """
        self._require_vocabulary()
        if isinstance(ids, tf.RaggedTensor):
            if ids.shape.rank != 2:
                raise ValueError(
                    f"detokenize expects ragged ids of shape [B, (T)], received {ids.shape}."
                )
            single = False
            dense = ids.to_tensor(default_value=tf.cast(self.pad_id, ids.dtype))  # [B, T]
        else:
            dense = tf.convert_to_tensor(ids)
            if dense.shape.rank not in (1, 2):
                raise ValueError(
                    f"detokenize expects ids of shape [B, T] or [T], received {dense.shape}."
                )
            single = dense.shape.rank == 1
            if single:
                dense = dense[tf.newaxis]  # [1, T]
        if not dense.dtype.is_integer:
            raise ValueError(f"detokenize expects integer ids, received dtype {dense.dtype.name}.")
        dense = self._clip_to_vocabulary(dense)  # [B, T] int32
        is_end = tf.cast(tf.equal(dense, self.end_id), tf.int32)
        before_end = tf.equal(tf.cumsum(is_end, axis=1), 0)
        keep = before_end & tf.not_equal(dense, self.pad_id) & tf.not_equal(dense, self.start_id)
        kept = tf.ragged.boolean_mask(dense, keep)  # [B, (T')]
        tokens = tf.ragged.map_flat_values(tf.gather, self._vocabulary_tensor, kept)
        text = self._join_tokens(tokens)  # [B]
        return text[0] if single else text

    def call(self, inputs):
        return self.tokenize(inputs)

    # ------------------------------------------------------------------------ Keras saving
    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                # Saved as an asset (`save_assets`), like keras-hub's tokenizers: a config is
                # meant to stay small and human-readable.
                "vocabulary": None,
                "normalization_form": self.normalization_form,
                "lowercase": self.lowercase,
            }
        )
        return config

    def save_assets(self, dir_path: str) -> None:
        vocabulary_lib.write_vocabulary_file(
            self._require_vocabulary(), os.path.join(dir_path, vocabulary_lib.VOCABULARY_FILENAME)
        )

    def load_assets(self, dir_path: str) -> None:
        self.set_vocabulary(
            vocabulary_lib.read_vocabulary_file(
                os.path.join(dir_path, vocabulary_lib.VOCABULARY_FILENAME)
            )
        )

    # ----------------------------------------------------------------- subclass interface
    def _check_vocabulary_tokens(self, tokens: list[str]) -> None:
        """Subclass hook: reject tokens this tokenizer could never produce (ValueError)."""

    def _build_lookup(self, tokens: list[str]) -> None:
        """Subclass hook: build the token→id machinery for `tokens`."""
        raise NotImplementedError

    def _tokenize_normalized(self, normalized: tf.Tensor) -> tf.RaggedTensor:
        """Subclass hook: normalised `tf.string` [B] → int32 `tf.RaggedTensor` [B, (T)]."""
        raise NotImplementedError

    def _join_tokens(self, tokens: tf.RaggedTensor) -> tf.Tensor:
        """Subclass hook: `tf.string` tokens [B, (T)] → text [B]."""
        raise NotImplementedError

    # ---------------------------------------------------------------------------- helpers
    def _require_vocabulary(self) -> list[str]:
        if self._vocabulary is None:
            raise ValueError(
                f"{type(self).__name__} {self.name!r} has no vocabulary yet; pass `vocabulary=` "
                "or call `set_vocabulary` (or `load_assets`) first."
            )
        return self._vocabulary

    def _clip_to_vocabulary(self, ids: tf.Tensor) -> tf.Tensor:
        """Replaces out-of-range ids by `unknown_id` (gather would fail), then casts to int32."""
        # Compare before casting: an int64 id such as 2**32 + 5 would wrap into range.
        in_range = (ids >= 0) & (ids < len(self._require_vocabulary()))
        ids = tf.where(in_range, ids, tf.fill(tf.shape(ids), tf.cast(self.unknown_id, ids.dtype)))
        return tf.cast(ids, tf.int32)
