"""Paragraph extraction from LibreOffice's offline help pages (HTML)."""

from __future__ import annotations

import html.parser
import os
import re

from kerattn.data.text_cleaning import normalize_whitespace

_PARAGRAPH_ID = re.compile(r"^(par|hd)_id")
_PARAGRAPH_TAGS = {"p", "h1", "h2", "h3", "h4", "h5", "h6"}
_VOID_TAGS = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "source",
    "track",
    "wbr",
}
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


# Structural alignment of translated help documents (Mallard `.page`, DocBook, HTML manuals).
# A translated page is the English page with its text replaced (itstool, xml2po, po4a), so its
# sequence of text blocks has the same shape; blocks are paired by position where the shapes
# agree, and nothing is paired where they do not.
BLOCK_TAGS = frozenset(
    {
        "p",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "li",
        "dt",
        "dd",
        "td",
        "th",
        "caption",
        "figcaption",
        "title",
        "subtitle",
        "desc",
        "item",
        "para",
        "simpara",
        "term",
        "entry",
        "glossterm",
        "member",
        "refpurpose",
        "question",
        "answer",
    }
)
SKIPPED_TAGS = frozenset(
    {
        "script",
        "style",
        "pre",
        "screen",
        "programlisting",
        "literallayout",
        "synopsis",
        "cmdsynopsis",
        "indexterm",
        "credit",
        "revision",
        "email",
        "years",
        "author",
        "authorgroup",
        "othercredit",
        "copyright",
        "revhistory",
        "address",
        "keywordset",
        "anchor",
        "head",
        "meta",
        "link",
        "note-style",
    }
)


# Mallard/DocBook sequences rendered with a separator: menu paths and key combinations.
_SEQUENCES = {"guiseq": " ▸ ", "menuchoice": " ▸ ", "keyseq": "+", "keycombo": "+"}


def read_blocks(text: str) -> list[tuple[str, str]]:
    """Return the (shape, text) blocks of a Mallard, DocBook or HTML document in document order.

    A block is the direct text of a `BLOCK_TAGS` element (a `<li>` holding `<p>`s gives the
    paragraphs, not the item); its shape is the chain of enclosing block tags (`item/p`).
    `SKIPPED_TAGS` (code listings, index terms, credits, scripts) are left out with everything
    in them. Menu paths and key combinations get their separators (`Edit ▸ Preferences`,
    `Ctrl+C`). Entities that are not HTML's (`&kmail;`) stay in the text as written.
    """
    parser = BlockParser()
    parser.feed(text)
    parser.close()
    return [
        (shape, normalize_whitespace("".join(parts)))
        for shape, parts in parser.blocks
        if normalize_whitespace("".join(parts))
    ]


def align_blocks(
    source: list[tuple[str, str]], target: list[tuple[str, str]], min_run: int = 3
) -> tuple[list[tuple[str, str]], int]:
    """Pair the blocks of an English document with those of its translation by structure.

    Where the two shape sequences are equal the blocks pair one to one; otherwise only runs of
    at least `min_run` consecutive blocks with equal shapes (difflib's matching blocks) are
    paired, and the rest counts as unaligned.

    Returns:
        (English text, translated text) pairs, and the number of English blocks left unpaired.
    """
    import difflib

    source_shapes = [shape for shape, _ in source]
    target_shapes = [shape for shape, _ in target]
    if source_shapes == target_shapes:
        return [(a, b) for (_, a), (_, b) in zip(source, target)], 0
    matcher = difflib.SequenceMatcher(None, source_shapes, target_shapes, autojunk=False)
    pairs = []
    for start_a, start_b, size in matcher.get_matching_blocks():
        if size >= min_run:
            pairs.extend((source[start_a + i][1], target[start_b + i][1]) for i in range(size))
    return pairs, len(source) - len(pairs)


class BlockParser(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[str, list[str]]] = []
        self._open: list[tuple[str, int | None]] = []  # (tag, index of its block or None)
        self._skip: list[str] = []
        self._children: list[int] = []  # elements seen so far in each open guiseq/keyseq

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID_TAGS:
            if tag == "br":
                self._add(" ")
            return
        if self._skip or tag in SKIPPED_TAGS:
            self._skip.append(tag)
            return
        index = None
        if self._open and self._open[-1][0] in _SEQUENCES:
            parent = self._open[-1][0]
            self._children[-1] += 1
            if self._children[-1] > 1:
                self._add(_SEQUENCES[parent])
        if tag in BLOCK_TAGS:
            shape = "/".join([name for name, block in self._open if block is not None] + [tag])
            self.blocks.append((shape, []))
            index = len(self.blocks) - 1
        else:
            self._add(" " if tag in ("div", "section", "list", "table", "tr") else "")
        self._open.append((tag, index))
        if tag in _SEQUENCES:
            self._children.append(0)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self._add(" ")

    def handle_endtag(self, tag: str) -> None:
        if self._skip:
            if tag == self._skip[-1]:
                self._skip.pop()
            return
        for depth in range(len(self._open) - 1, -1, -1):
            if self._open[depth][0] == tag:
                closed = sum(name in _SEQUENCES for name, _ in self._open[depth:])
                if closed:
                    del self._children[-closed:]
                del self._open[depth:]
                return

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self._add(data)

    def _add(self, text: str) -> None:
        for _tag, index in reversed(self._open):
            if index is not None:
                self.blocks[index][1].append(text)
                return
