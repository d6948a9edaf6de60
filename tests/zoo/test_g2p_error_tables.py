"""zoo/g2p_en/error_tables.py, the card's error tables: edit scripts, kinds, totals."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from kerattn.data import write_rows
from kerattn.zoo import metrics

SCRIPT = Path(__file__).resolve().parents[2] / "zoo" / "g2p_en" / "error_tables.py"
spec = importlib.util.spec_from_file_location("error_tables", SCRIPT)
tables = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tables)

ROWS = [
    ("cat", "K AE T", "K AE T"),
    ("tomato", "T AH M AA T OW", "T AH M EY T OW", "T AH M AA T OW"),  # the alternate
    ("bit", "B IY T", "B IH T"),  # one vowel
    ("dog", "D AO K", "D AO G"),  # one consonant
    ("cats", "K AE T", "K AE T S"),  # one dropped
    ("sofa", "S AA F IY", "S OW F AH"),  # two vowels
    ("zebra", "S IY B R", "Z IY B R AH"),  # a consonant and a dropped vowel
]


def test_edit_scripts_are_shortest_and_rebuild_the_output():
    for output, reference in [("K AE T", "K AE T S"), ("S AA F IY", "S OW F AH"), ("", "A B")]:
        script = tables.edits(output.split(), reference.split())
        assert len(script) == metrics.edit_distance(output.split(), reference.split())
    assert tables.edits(["D", "AO", "K"], ["D", "AO", "G"]) == [("G", "K")]
    assert tables.edits(["K", "AE"], ["K", "AE", "T"]) == [("T", None)]
    assert tables.edits(["K", "AE", "T", "S"], ["K", "AE", "T"]) == [(None, "S")]


def test_kinds_frequencies_and_totals_equal_the_metrics():
    frequencies = {"cat": 5.0, "tomato": 3.9, "bit": 4.5, "dog": 5.2, "cats": 3.5, "sofa": 2.5}
    result = tables.analyse(ROWS, lambda word: frequencies.get(word, 0.0))
    references = {row[0]: list(row[2:]) for row in ROWS}
    expected = metrics.g2p_scores({row[0]: row[1] for row in ROWS}, references)
    assert result["words"] == expected["words"] == 7
    assert result["word_errors"] == expected["word_errors"] == 5
    assert result["phoneme_errors"] == expected["phoneme_errors"]
    assert result["reference_phonemes"] == expected["reference_phonemes"]
    assert {
        kind: [case.split(":")[0] for case in cases] for kind, cases in result["kinds"].items()
    } == {
        "one vowel substituted": ["bit"],
        "one consonant substituted": ["dog"],
        "one phoneme added or dropped": ["cats"],
        "several edits, vowels only": ["sofa"],
        "several edits, with consonants": ["zebra"],
    }
    bands = result["by_frequency"]
    assert [bands[label]["words"] for _, label in tables.FREQUENCY_BANDS] == [3, 2, 1, 0, 1]
    assert bands["absent"]["word_errors"] == 1 and bands["≥ 4"]["word_errors"] == 2
    assert result["substitutions"][("OW", "AA")] == 1 and result["substitutions"][("Z", "S")] == 1
    text = tables.markdown(result)
    assert "| one vowel substituted | 1 | 20.0 % | bit: B IH T → B IY T |" in text
    assert "7 words, 5 wrong (WER 71.4 %)" in text


def test_command_prints_the_tables_and_a_missing_file_is_one_line(tmp_path, capsys):
    path = tmp_path / "predictions.tsv"
    write_rows(path, ROWS)
    assert tables.main([str(path)]) == 0
    assert "| kind | words | share of wrong words | examples |" in capsys.readouterr().out
    assert tables.main([str(tmp_path / "missing.tsv")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error_tables.py: ") and "does not exist" in err
    assert err.count("\n") == 1
