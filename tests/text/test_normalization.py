"""Normalisation, word splitting and the spacing rules of their inverse, rule by rule."""

from __future__ import annotations

import pytest
import tensorflow as tf

from kerattn.text import normalization


def normalized(value: str, **kwargs) -> str:
    return normalization.normalize(tf.constant(value), **kwargs).numpy().decode("utf-8")


def words(value: str) -> list[str]:
    pieces = normalization.split_words(normalization.normalize(tf.constant([value])))
    return [piece.decode("utf-8") for piece in pieces[0].numpy()]


def joined(tokens: list[str], language: str = "en") -> str:
    ragged = tf.ragged.constant([tokens], dtype=tf.string, row_splits_dtype=tf.int64)
    return normalization.join_words(ragged, language)[0].numpy().decode("utf-8")


def round_trip(value: str, language: str = "en") -> str:
    return joined(words(value), language)


def test_nfkc_folds_compatibility_characters_and_nfc_keeps_them():
    assert normalized("ﬁle cafe\u0301 ½", normalization_form="NFKC") == "file café 1⁄2"
    assert normalized("ﬁ", normalization_form="NFC") == "ﬁ"
    # NFC is the default because NFKC would spoil Spanish ordinals.
    assert normalized("el 1.º y la 2.ª") == "el 1.º y la 2.ª"
    assert normalized("el 1.º", normalization_form="NFKC") == "el 1.o"
    assert normalized("e\u0301", normalization_form="NFC") == "é"
    assert normalized("e\u0301", normalization_form=None) == "e\u0301"


def test_whitespace_is_collapsed_and_stripped():
    assert normalized("  a \t\n b\u00a0\u2003c  ") == "a b c"
    assert normalized(" \t\n ") == ""
    assert normalized("") == ""


def test_invisible_characters_are_dropped_and_apostrophes_unified():
    assert normalized("caf\u200be\u00ad\ufeff") == "cafe"
    assert normalized("don\u2019t \u2018x\u2019") == "don't 'x'"


def test_lowercase_uses_unicode_case_mapping():
    assert normalized("ÉSTA ÑANDÚ Привет", lowercase=True) == "ésta ñandú привет"
    assert normalized("ÉSTA") == "ÉSTA"


def test_invalid_utf8_becomes_replacement_character():
    value = normalization.normalize(tf.constant([b"ab\xffc"]))[0].numpy().decode("utf-8")
    assert value == "ab\ufffdc"


def test_unknown_normalization_form_is_rejected():
    with pytest.raises(ValueError, match="normalization_form='NFX'.*NFKC"):
        normalization.normalize(tf.constant("a"), normalization_form="NFX")


def test_punctuation_and_symbols_become_separate_words():
    assert words("Hello, world!") == ["Hello", ",", "world", "!"]
    assert words("¿Dónde? ¡Ya!") == ["¿", "Dónde", "?", "¡", "Ya", "!"]
    assert words("«Aceptar» (ok) [7] 50%") == [
        "«", "Aceptar", "»", "(", "ok", ")", "[", "7", "]", "50", "%",
    ]  # fmt: skip
    assert words("😀 Привет 你好") == ["😀", "Привет", "你", "好"]


@pytest.mark.parametrize(
    "word",
    ["don't", "it's", "e-mail", "and/or", "file_name", "i.e", "www.libreoffice.org",
     "Shift+F7", "me@example.org", "3.5", "1,250", "10:30", "1.2.3.4", "a-b-c-d"],
)  # fmt: skip
def test_joiners_inside_words_stay_inside(word):
    assert words(word) == [word]


def test_spaced_joiners_stay_separate():
    assert words("Tools - Options") == ["Tools", "-", "Options"]
    assert words("3 . 5") == ["3", ".", "5"]
    assert words("2019, 5 users") == ["2019", ",", "5", "users"]


@pytest.mark.parametrize("mark", list(",.;:!?)]}»%…"))
def test_no_space_before_closing_marks(mark):
    assert joined(["word", mark, "next"]) == f"word{mark} next"


@pytest.mark.parametrize("mark", list("¿¡([{«“"))
def test_no_space_after_opening_marks(mark):
    assert joined(["say", mark, "word"]) == f"say {mark}word"


def test_straight_quotes_attach_to_what_they_enclose():
    assert joined(["He", "said", '"', "open", "it", '"', "."]) == 'He said "open it".'
    assert joined(["a", "'", "b", "'", "c"]) == "a 'b' c"


def test_cjk_characters_are_rejoined():
    assert joined(["你", "好", "世", "界", "。"]) == "你好世界。"


@pytest.mark.parametrize(
    "sentence",
    [
        "Hello, world! Don't stop.",
        "Es el 1.º capítulo, la 2.ª vez, 20 m² y ½ taza…",
        "¿Dónde está la estación? ¡Vamos ya!",
        "Pulse «Aceptar» (ver página 5).",
        "It costs 3.5 euros, i.e. 1,000.50 at 10:30; 50% off!",
        "He said \"hi there\" and 'bye'.",
        "Choose Tools - Options - LibreOffice Writer: Ctrl+Shift+F7.",
        "Привет, мир!",
        "The list [a, b] {c}...",
        "你好世界。",
    ],
)
def test_split_then_join_gives_the_normalized_text_back(sentence):
    assert round_trip(sentence) == normalized(sentence)


@pytest.mark.parametrize(
    "placeholder",
    [
        "%s",
        "%d",
        "%i",
        "%u",
        "%f",
        "%x",
        "%X",
        "%ld",
        "%lld",
        "%zu",
        "%1$s",
        "%2$d",
        "%(name)s",
        "%(count)d",
        "%{name}",
        "%.2f",
        "%1",
        "%12",
        "%PRODUCTNAME",
        "$(ARG1)",
        "${name}",
        "$1",
        "&amp;",
        "{0}",
        "{name}",
    ],
)
@pytest.mark.parametrize("language", normalization.JOIN_LANGUAGES)
def test_placeholders_come_back_whole(placeholder, language):
    for sentence in (
        f"Open {placeholder} now",
        f"{placeholder} files",
        f"Delete {placeholder}?",
        f"Copied {placeholder}, {placeholder} and {placeholder}.",
        f"({placeholder})",
    ):
        assert round_trip(sentence, language) == sentence


def test_a_placeholder_keeps_the_space_before_it_while_a_percent_sign_does_not():
    assert round_trip("Saved 50 % of %s") == "Saved 50% of %s"
    assert round_trip("a %s b %d%%") == "a %s b %d%%"
    assert round_trip("quoted '%s' and \"%1$s\"") == "quoted '%s' and \"%1$s\""


@pytest.mark.parametrize(
    "sentence",
    [
        "Klicken Sie auf »Datei« und dann auf „Speichern“.",
        "Er sagte: „Ja“, dann (Seite 5) 50% mehr!",
        "Die Datei „%s“ wurde gespeichert.",
    ],
)
def test_german_quotation_marks_round_trip(sentence):
    assert round_trip(sentence, "de") == normalized(sentence)


def test_german_quotes_are_spaced_the_german_way_and_spanish_the_spanish_way():
    tokens = ["auf", "»", "Datei", "«", "klicken"]
    assert joined(tokens, "de") == "auf »Datei« klicken"
    assert joined(["en", "«", "Archivo", "»", "pulse"], "es") == "en «Archivo» pulse"


def test_unknown_join_language_is_rejected():
    with pytest.raises(ValueError, match=r"language='fr' is not supported for detokenization"):
        normalization.join_words(tf.constant(["a , b"]), "fr")


@pytest.mark.parametrize("language", normalization.JOIN_LANGUAGES)
def test_long_command_line_options_come_back_whole(language):
    for sentence in (
        "Run tar --create --file=backup.tar now.",
        "Try '--help' for more information.",
        "--verbose, --quiet and --color=auto",
    ):
        assert round_trip(sentence, language) == sentence
    assert joined(["wait", "-", "-", "then"], language) == "wait --then"  # the known limit


def test_german_suspended_hyphens_keep_their_layout():
    sentence = "Groß- und Kleinschreibung, Text- oder Bildfelder, Ein- bzw. Ausgabe"
    assert round_trip(sentence, "de") == sentence
    assert round_trip("Pulse - y listo", "es") == "Pulse - y listo"
    assert joined(["Groß", "-", "und", "klein"], "en") == "Groß - und klein"
