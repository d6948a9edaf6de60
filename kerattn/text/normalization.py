"""Text normalisation, word splitting and its inverse, written with in-graph string ops.

These three functions are the only place where kerattn decides what a "word" is; the
tokenizers and the vocabulary learners call them, so training and serving cannot disagree.

* `normalize`: repair invalid UTF-8 (U+FFFD), Unicode normal form (NFC by default; tf-text
  `NormalizeUTF8`, the only op here that is not core TensorFlow: core TF has no NFC/NFKC),
  optional lowercasing (core `StringLower` with ICU case mapping, so "É"→"é" and "Σ"→"σ/ς"),
  typographic apostrophes folded to "'", invisible format characters dropped, any run of
  whitespace, separators or control characters collapsed to one space, ends stripped.
* `split_words`: punctuation (\\p{P}), symbols (\\p{S}, which includes emoji) and CJK ideographs /
  kana become words of their own, except joiners *inside* a word, which stay in it: an
  apostrophe, hyphen, slash, underscore, full stop, plus or at sign between letters or digits
  ("don't", "e-mail", "and/or", "i.e", "www.libreoffice.org", "Shift+F7", "a@b.org") and ".",
  "," or ":" between digits ("3.5", "1,000", "10:30"). Keeping them inside the word is what
  makes the split reversible without a language model.
* `join_words`: the inverse layout rules, for English and Spanish by default: no space before
  , . ; : ! ? ) ] } » ” % … and CJK closing marks, none after ¿ ¡ ( [ { « “ and CJK opening marks,
  straight quotes attached to the text they enclose ("…" and '…' in pairs), CJK characters
  re-joined. German (`language="de"`) quotes the other way round: „…“ and »…«, so „ » ‚ open
  and “ « close, and German's suspended hyphen ("Groß- und Kleinschreibung") keeps its layout.
  The placeholders of software strings come back whole, whatever the language: printf's %s,
  %d, %1$s, %.2f and %(name)s, Qt's %1, LibreOffice's %PRODUCTNAME and $(ARG1), Chromium's $1,
  ${name}, %{name}, XML entities such as &amp;, and long command-line options (--help,
  --file=NAME) (split_words cuts them into punctuation and words like any other text, and a
  translator copies those pieces).

Known limits of the inverse (left alone on purpose; each fix would break a commoner case):
a standalone apostrophe ("the users' files") is spaced unless a later one pairs with it as a
quotation mark; consecutive emoji come back space-separated; "..." after a space ("wait ...")
loses that space; symbols other than the joiners come back spaced ("C++" → "C + +"); a percent
sign followed by one of the printf conversion letters s d i u f x or by a number ("50 % u 60")
is taken for a placeholder ("50 %u 60"); a double dash before a word is taken for an option
("wait -- then" → "wait --then"); a single-letter option stays spaced ("- W", as the Spanish
"- y" must).

RE2 (the regex engine of `StaticRegexReplace`) has no look-around, so "between letters" is
written as a match of three characters, applied twice: one pass cannot re-use the letter that
ended the previous match ("a-b-c" needs the second pass).
"""

from __future__ import annotations

import tensorflow as tf

NORMALIZATION_FORMS = ("NFC", "NFKC", "NFD", "NFKD")

# U+00AD soft hyphen, U+200B zero-width space, U+200E/U+200F direction marks, U+2060 word joiner,
# U+FEFF byte-order mark: invisible, but they would make otherwise known words unknown. ZWJ/ZWNJ
# (U+200C/U+200D) are kept: emoji sequences and Persian/Indic spelling depend on them.
_INVISIBLE_CHARACTERS = r"[\x{00AD}\x{200B}\x{200E}\x{200F}\x{2060}\x{FEFF}]"
# Left/right single quotation marks and the modifier-letter apostrophe all act as the apostrophe.
_APOSTROPHE_VARIANTS = r"[\x{2018}\x{2019}\x{02BC}]"
_WHITESPACE_RUN = r"[\s\p{Z}\p{Cc}]+"

_CJK = r"\p{Han}\p{Hiragana}\p{Katakana}"
_STANDALONE_CHARACTER = r"([\p{P}\p{S}" + _CJK + r"])"
# After `_STANDALONE_CHARACTER` has put one space on each side, a single space on both sides of a
# joiner means there was no space there in the input.
_JOINER_BETWEEN_LETTERS = r"([\pL\pM\pN]) (['\-/_.+@]) ([\pL\pN])"
_SEPARATOR_BETWEEN_DIGITS = r"(\pN) ([.,:]) (\pN)"

# The languages whose layout `join_words` writes, and their closing/opening marks.
JOIN_LANGUAGES = ("en", "es", "de")
_CLOSING = r"([,.;:!?%)\]}»”…。、」』])"
_OPENING = r"([¿¡(\[{«“「『])"
_MARKS = {
    "en": (_CLOSING, _OPENING),
    "es": (_CLOSING, _OPENING),
    "de": (r"([,.;:!?%)\]}«“”…。、」』])", r"([(\[{»„‚「『])"),
}
# A private-use character stands for the "%" of a re-joined placeholder while the spacing rules
# run, so that the rule "no space before %" leaves the space in front of "a %s" alone.
_PERCENT = "\ue000"
_END = "( |$)"
# Placeholders and long options re-joined: (pattern over space-separated words, replacement),
# applied in this order.
_SOFTWARE_TOKENS = (
    (r"% (\d+) \$ (l{0,2}[a-zA-Z])" + _END, _PERCENT + r"\1$\2\3"),  # %1$s
    (r"% \( ([^ ()]+) \) ([a-zA-Z])" + _END, _PERCENT + r"(\1)\2\3"),  # %(name)s
    (r"% \{ ([^ {}]+) \}", _PERCENT + r"{\1}"),  # %{name}
    (r"% \. (\d+[a-zA-Z]{1,2})" + _END, _PERCENT + r".\1\2"),  # %.2f
    (r"% (l{0,2}[sdiufxX]|zu|\d+|[A-Z][A-Z0-9_]+)" + _END, _PERCENT + r"\1\2"),  # %s %1 %NAME
    (r"\$ \( ([^ ()]+) \)", r"$(\1)"),  # $(ARG1)
    (r"\$ \{ ([^ {}]+) \}", r"${\1}"),  # ${name}
    (r"\$ (\d+)" + _END, r"$\1\2"),  # $1
    (r"& ([A-Za-z][\w.-]*) ;", r"&\1;"),  # &amp;
    (r"(^| )- - (\pL)", r"\1--\2"),  # --long-option (applied twice: "--a --b")
    (r"(^| )- - (\pL)", r"\1--\2"),
    (r"(^| )(--\pL[\pL\pN_-]*) = ([^ ])", r"\1\2=\3"),  # --option=VALUE
)
# Layout rules of one language only. German's suspended hyphen: "Groß- und Kleinschreibung".
_LANGUAGE_RULES = {
    "de": ((r"(\pL) - (und|oder|bzw|sowie)( |$)", r"\1- \2\3"),),
}
_CJK_PAIR = r"([" + _CJK + r"]) ([" + _CJK + r"])"


def normalize(
    strings: tf.Tensor, normalization_form: str | None = "NFC", lowercase: bool = False
) -> tf.Tensor:
    """Normalises UTF-8 strings; the text that a detokenized tokenization reproduces.

    Args:
        strings: `tf.string` tensor of any shape.
        normalization_form: one of "NFC", "NFKC", "NFD", "NFKD", or None to skip it. NFC
            (default) only unifies composed/decomposed accents. NFKC also folds compatibility
            characters (ﬁ→fi, fullwidth→ASCII, ½→1⁄2, ²→2) - good for a classifier's matching,
            but it turns the Spanish ordinals 1.º/2.ª into 1.o/2.a, so it is not the default.
        lowercase: lowercase with Unicode case mapping.

    Returns:
        `tf.string` tensor of the same shape.
    """
    check_normalization_form(normalization_form)
    strings = tf.convert_to_tensor(strings, dtype=tf.string)
    # Every later op assumes valid UTF-8; invalid bytes become U+FFFD instead of an error.
    strings = tf.strings.unicode_transcode(
        strings, input_encoding="UTF-8", output_encoding="UTF-8", errors="replace"
    )
    if normalization_form is not None:
        import tensorflow_text as tf_text  # registers the NormalizeUTF8 op

        strings = tf_text.normalize_utf8(strings, normalization_form)
    if lowercase:
        strings = tf.strings.lower(strings, encoding="utf-8")
    strings = tf.strings.regex_replace(strings, _INVISIBLE_CHARACTERS, "")
    strings = tf.strings.regex_replace(strings, _APOSTROPHE_VARIANTS, "'")
    strings = tf.strings.regex_replace(strings, _WHITESPACE_RUN, " ")
    return tf.strings.strip(strings)


def split_words(normalized: tf.Tensor) -> tf.RaggedTensor:
    """Splits normalised strings into words, punctuation marks and symbols.

    Args:
        normalized: `tf.string` tensor [B], output of `normalize`.

    Returns:
        `tf.RaggedTensor` of `tf.string`, [B, (words)]; an empty string gives zero words.
    """
    spaced = tf.strings.regex_replace(normalized, _STANDALONE_CHARACTER, r" \1 ")
    for _ in range(2):
        spaced = tf.strings.regex_replace(spaced, _JOINER_BETWEEN_LETTERS, r"\1\2\3")
        spaced = tf.strings.regex_replace(spaced, _SEPARATOR_BETWEEN_DIGITS, r"\1\2\3")
    # sep=None splits on runs of whitespace and drops empty pieces.
    return tf.strings.split(spaced)


def join_words(words: tf.Tensor | tf.RaggedTensor, language: str = "en") -> tf.Tensor:
    """Joins words into text with the spacing of `language` around punctuation.

    Args:
        words: `tf.RaggedTensor` of `tf.string` [B, (words)], or a `tf.string` tensor whose
            elements are already words joined by single spaces.
        language: one of `JOIN_LANGUAGES`: "en" and "es" share their rules, "de" has German
            quotation marks.

    Returns:
        `tf.string` tensor [B] (or the shape of the dense input).
    """
    check_join_language(language)
    closing, opening = _MARKS[language]
    if isinstance(words, tf.RaggedTensor):
        text = tf.strings.reduce_join(words, axis=-1, separator=" ")
    else:
        text = tf.convert_to_tensor(words, dtype=tf.string)
    for pattern, replacement in _SOFTWARE_TOKENS + _LANGUAGE_RULES.get(language, ()):
        text = tf.strings.regex_replace(text, pattern, replacement)
    for _ in range(2):
        text = tf.strings.regex_replace(text, _CJK_PAIR, r"\1\2")
    text = tf.strings.regex_replace(text, " " + closing, r"\1")
    text = tf.strings.regex_replace(text, opening + " ", r"\1")
    # Straight quotes open and close with the same character: pair them left to right.
    text = tf.strings.regex_replace(text, r'" ([^"]*?) "', r'"\1"')
    text = tf.strings.regex_replace(text, r"' ([^']*?) '", r"'\1'")
    return tf.strings.regex_replace(text, _PERCENT, "%")


def check_join_language(language: str) -> None:
    """Raises ValueError unless `language` is one of `JOIN_LANGUAGES`."""
    if language not in JOIN_LANGUAGES:
        raise ValueError(
            f"language={language!r} is not supported for detokenization; expected one of "
            f'{JOIN_LANGUAGES} ("en" and "es" share their rules, "de" has German quotes).'
        )


def check_normalization_form(normalization_form: str | None) -> None:
    """Raises ValueError unless `normalization_form` is None or a Unicode normal form name."""
    if normalization_form is not None and normalization_form not in NORMALIZATION_FORMS:
        raise ValueError(
            f"normalization_form={normalization_form!r} is not supported; expected one of "
            f"{NORMALIZATION_FORMS} or None."
        )


SYMBOL_SPLITS = ("characters", "whitespace")


def split_symbols(normalized: tf.Tensor, split: str) -> tf.RaggedTensor:
    """Splits normalised strings into Unicode characters or whitespace-separated symbols.

    Args:
        normalized: `tf.string` tensor [B], output of `normalize`.
        split: "characters" (one token per code point, spaces included) or "whitespace".

    Returns:
        `tf.RaggedTensor` of `tf.string`, [B, (symbols)]; an empty string gives zero symbols.
    """
    check_symbol_split(split)
    if split == "characters":
        return tf.strings.unicode_split(normalized, "UTF-8", errors="replace")
    return tf.strings.split(normalized)


def check_symbol_split(split: str) -> None:
    """Raises ValueError unless `split` is one of `SYMBOL_SPLITS`."""
    if split not in SYMBOL_SPLITS:
        raise ValueError(f"split={split!r} is not supported; expected one of {SYMBOL_SPLITS}.")
