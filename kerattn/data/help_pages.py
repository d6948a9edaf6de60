"""Paragraph extraction from LibreOffice's offline help pages (HTML)."""

from __future__ import annotations

import html.parser
import os
import re

from kerattn.data.text_cleaning import normalize_whitespace

_PARAGRAPH_ID = re.compile(r"^(par|hd)_id")
_PARAGRAPH_TAGS = {"p", "h1", "h2", "h3", "h4", "h5", "h6"}
_VOID_TAGS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
              "track", "wbr"}
_SKIPPED_TAGS = {"script", "style"}


def read_help_paragraphs(path: str | os.PathLike) -> list[tuple[str, str]]:
    """Return the (paragraph id, plain text) pairs of one help page, in document order.

    A paragraph is a `<p>` or `<h1>`..`<h6>` whose `id` starts with `par_id` or `hd_id`. The
    same id can occur several times in a page (sections embedded from other pages), so callers
    pair by (id, occurrence number), which `pair_key` does.

    Text inside hidden alternatives is dropped except the default one: a "switchinline" offers
    e.g. "LibreOffice - Preferences" (macOS) and "Tools - Options" (default) as hidden spans for
    a script to reveal; keeping only spans whose id starts with "default" gives one reading that
    is the same in every language. Images (icons) are dropped, `<br>` becomes a space, entities
    are decoded and whitespace is normalised.

    Args:
        path: an HTML help page.

    Returns:
        (id, text) pairs; empty texts are kept (the builder counts and drops them).
    """
    parser = _HelpParagraphParser()
    with open(path, encoding="utf-8") as file:
        parser.feed(file.read())
    parser.close()
    return parser.paragraphs


def pair_key(paragraphs: list[tuple[str, str]]) -> dict[tuple[str, int], str]:
    """Map (id, occurrence number) to text, so repeated ids pair with their n-th counterpart."""
    seen: dict[str, int] = {}
    keyed = {}
    for paragraph_id, text in paragraphs:
        occurrence = seen.get(paragraph_id, 0)
        seen[paragraph_id] = occurrence + 1
        keyed[(paragraph_id, occurrence)] = text
    return keyed


class _HelpParagraphParser(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.paragraphs: list[tuple[str, str]] = []
        self._paragraph: tuple[str, str, list[str], int] | None = None  # id, tag, parts, depth
        self._skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID_TAGS:
            if tag == "br" and self._paragraph and not self._skip_depth:
                self._paragraph[2].append(" ")
            return
        attributes = dict(attrs)
        if self._skip_depth:
            self._skip_depth += 1
            return
        element_id = attributes.get("id") or ""
        if tag in _SKIPPED_TAGS or (
            "hidden" in attributes and not element_id.startswith("default")
        ):
            self._skip_depth = 1
            return
        if self._paragraph is None:
            if tag in _PARAGRAPH_TAGS and _PARAGRAPH_ID.match(element_id):
                self._paragraph = (element_id, tag, [], 1)
        else:
            paragraph_id, paragraph_tag, parts, depth = self._paragraph
            self._paragraph = (paragraph_id, paragraph_tag, parts, depth + 1)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br" and self._paragraph and not self._skip_depth:
            self._paragraph[2].append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID_TAGS:
            return
        if self._skip_depth:
            self._skip_depth -= 1
            return
        if self._paragraph is None:
            return
        paragraph_id, paragraph_tag, parts, depth = self._paragraph
        if depth == 1:
            if tag == paragraph_tag:
                self.paragraphs.append((paragraph_id, normalize_whitespace("".join(parts))))
                self._paragraph = None
            return
        self._paragraph = (paragraph_id, paragraph_tag, parts, depth - 1)

    def handle_data(self, data: str) -> None:
        if self._paragraph is not None and not self._skip_depth:
            self._paragraph[2].append(data)
