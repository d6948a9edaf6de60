"""Tables as text: aligned columns for a terminal, Markdown tables for TensorBoard text summaries.

The one implementation of both; the CLI's listings and reports and the training summaries use it.

>>> from kerattn.tables import markdown_table, text_table
>>> print("\\n".join(text_table([("name", "size"), ("g2p_en", "2.1 MB")], align="lr")))
name      size
g2p_en  2.1 MB
>>> print(markdown_table(["input", "output"], [["a|b", "two\\nlines"]]))
| input | output |
|---|---|
| a\\|b | two lines |
"""

from __future__ import annotations

from collections.abc import Sequence


def text_table(
    rows: Sequence[Sequence[str]], align: str | None = None, indent: str = "", gap: str = "  "
) -> list[str]:
    """Rows of cells as lines whose columns line up, trailing spaces removed.

    Args:
        rows: the cells, row by row (a header is just the first row); every row as long as the
            first.
        align: "l" (text) or "r" (numbers) per column; None: all "l".
        indent: put before every line.
        gap: put between two columns.

    Returns:
        One string per row, without line ends.
    """
    if not rows:
        return []
    columns = len(rows[0])
    align = "l" * columns if align is None else align
    if len(align) != columns or set(align) - {"l", "r"}:
        raise ValueError(f"align={align!r} must give 'l' or 'r' for each of the {columns} columns.")
    for row in rows:
        if len(row) != columns:
            raise ValueError(
                f"every row needs {columns} cells, like the first; {row!r} has {len(row)}."
            )
    widths = [max(len(row[column]) for row in rows) for column in range(columns)]
    return [
        (
            indent
            + gap.join(
                cell.ljust(width) if side == "l" else cell.rjust(width)
                for cell, width, side in zip(row, widths, align)
            )
        ).rstrip()
        for row in rows
    ]


def markdown_cell(text: str) -> str:
    """`text` as one Markdown table cell: `|` escaped, line breaks as spaces, never empty."""
    return text.replace("|", "\\|").replace("\n", " ") or " "


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table (as TensorBoard's text dashboard renders it); every cell escaped."""

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(markdown_cell(cell) for cell in cells) + " |"

    return "\n".join([line(header), "|" + "---|" * len(header), *(line(row) for row in rows)])
