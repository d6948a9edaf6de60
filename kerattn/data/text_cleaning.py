"""Text cleaning shared by every corpus builder: markup, entities, accelerators, whitespace."""

from __future__ import annotations

import html
import re
import unicodedata

_TAG = re.compile(r"<[^>]*>")
_BREAK_TAG = re.compile(r"<\s*(br|p|/p|div|/div|li|hr)\b[^>]*>", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")
# A `~` accelerator marks the next character as the menu shortcut ("~Open" -> "Open");
# a doubled `~~` would be a literal tilde, which no LibreOffice catalog uses, so every `~` goes.
_ACCELERATOR = re.compile(r"~")


def normalize_whitespace(text: str) -> str:
    """Return `text` in Unicode NFC with every run of whitespace (tabs, newlines) as one space.

    Args:
        text: any string.

    Returns:
        The NFC-normalised text with runs of whitespace collapsed and both ends stripped. Tabs and
        newlines never survive, so the result is always safe as one TSV field.
    """
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFC", text)).strip()


def strip_markup(text: str) -> str:
    """Return `text` with HTML tags removed, entities decoded and whitespace normalised.

    Line-breaking tags (`<br />`, `<p>`, `<div>`, ...) become a space so that words on either
    side of them do not run together ("great.<br /><br />The" -> "great. The").

    Args:
        text: text that may contain HTML markup and entities (`&amp;`, `&#39;`).

    Returns:
        Plain text, see `normalize_whitespace`.
    """
    text = _BREAK_TAG.sub(" ", text)
    text = _TAG.sub("", text)
    return normalize_whitespace(html.unescape(text))


def strip_accelerators(text: str) -> str:
    """Return a UI string without its `~` keyboard accelerators ("~Save As..." -> "Save As...").

    Args:
        text: a LibreOffice UI string.

    Returns:
        The string without `~` characters, whitespace normalised.
    """
    return normalize_whitespace(_ACCELERATOR.sub("", text))


# GTK .ui strings mark the mnemonic with one `_` ("_Save", "Ne_xt >"); `__` is a literal `_`.
_MNEMONIC = re.compile(r"(?<!_)_(?!_)")


def strip_mnemonics(text: str) -> str:
    """Return a GTK `.ui` string without its `_` mnemonic ("Ne_xt >" -> "Next >").

    A doubled `__` (a literal underscore in GTK) becomes a single `_`.

    Args:
        text: a string from a LibreOffice `.ui` dialog definition.

    Returns:
        The string without mnemonic underscores, whitespace normalised.
    """
    return normalize_whitespace(_MNEMONIC.sub("", text).replace("__", "_"))
