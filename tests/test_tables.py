"""kerattn.tables: aligned text tables and Markdown tables."""

from __future__ import annotations

import pytest

from kerattn.tables import markdown_cell, markdown_table, text_table


def test_text_table_aligns_left_and_right_and_strips_trailing_spaces():
    rows = [("metric", "value", "note"), ("BLEU", "31.20", ""), ("chrF", "5.10", "low")]
    assert text_table(rows, align="lrl", indent="  ") == [
        "  metric  value  note",
        "  BLEU    31.20",
        "  chrF     5.10  low",
    ]


def test_text_table_defaults_to_left_alignment_and_handles_no_rows():
    assert text_table([("a", "bb"), ("ccc", "d")]) == ["a    bb", "ccc  d"]
    assert text_table([]) == []


@pytest.mark.parametrize(
    "rows, align, message",
    [
        ([("a", "b")], "l", "align='l' must give 'l' or 'r' for each of the 2 columns."),
        ([("a", "b")], "lc", "align='lc' must give 'l' or 'r'"),
        ([("a", "b"), ("c",)], None, "every row needs 2 cells, like the first; ('c',) has 1."),
    ],
)
def test_text_table_errors_name_the_bad_value(rows, align, message):
    with pytest.raises(ValueError) as raised:
        text_table(rows, align=align)
    assert str(raised.value).startswith(message)


def test_markdown_cell_escapes_pipes_and_line_breaks_and_is_never_empty():
    assert markdown_cell("a|b\nc") == "a\\|b c"
    assert markdown_cell("") == " "


def test_markdown_table_is_what_tensorboard_renders():
    assert markdown_table(["input", "output"], [["hi", "hola"], ["", "x|y"]]) == (
        "| input | output |\n|---|---|\n| hi | hola |\n|   | x\\|y |"
    )
    assert markdown_table(["input"], []) == "| input |\n|---|"
