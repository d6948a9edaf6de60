from kerattn.data.text_cleaning import (
    normalize_whitespace,
    strip_accelerators,
    strip_markup,
    strip_mnemonics,
)


def test_strip_markup_turns_breaks_into_spaces_and_decodes_entities():
    text = "Great film.<br /><br />The cast &amp; crew <i>shine</i>&#39;s &lt;3"
    assert strip_markup(text) == "Great film. The cast & crew shine's <3"


def test_normalize_whitespace_collapses_tabs_newlines_and_composes_unicode():
    assert normalize_whitespace("  a\tb\n\nc\u2028d  ") == "a b c d"
    assert normalize_whitespace("Cafe\u0301") == "Caf\u00e9"


def test_strip_accelerators_removes_every_tilde():
    assert strip_accelerators("Save ~As...") == "Save As..."
    assert strip_accelerators("~Open") == "Open"


def test_strip_mnemonics_removes_single_underscores_only():
    assert strip_mnemonics("Ne_xt >") == "Next >"
    assert strip_mnemonics("_Number:") == "Number:"
    assert strip_mnemonics("file__name") == "file_name"
