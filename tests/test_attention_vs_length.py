"""The attention-vs-length study's tables (README, bench/RESULTS.md, the translator's model card)
say what its recorded results say, and its attention run is the shipped preset."""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = json.loads((ROOT / "bench" / "attention_vs_length" / "results.json").read_text())
RUNS = {run["attention"]: run for run in RESULTS["runs"]}


def _row(document: str, label: str) -> list[float]:
    match = re.search(rf"^\| {re.escape(label)} \|(.*)\|$", document, re.M)
    assert match, f"no table row {label!r}"
    return [float(cell) for cell in match.group(1).split("|")]


def _expected(attention: str, with_total: bool) -> list[float]:
    run = RUNS[attention]
    values = [round(bucket["bleu"], 1) for bucket in run["bleu_by_source_length"]]
    return values + [round(run["bleu"], 1)] if with_total else values


@pytest.mark.parametrize(
    "document, rows, with_total",
    [
        ("README.md", {"bahdanau": "attention (`translator_en_es`)", "none": "no attention"}, True),
        (
            "bench/RESULTS.md",
            {"bahdanau": 'BLEU, attention = "bahdanau"', "none": 'BLEU, attention = "none"'},
            True,
        ),
        (
            "zoo/translator_en_es/README.md",
            {"bahdanau": "BLEU, attention (this preset)", "none": "BLEU, no attention (baseline)"},
            False,
        ),
    ],
)
def test_tables_match_the_recorded_results(document, rows, with_total):
    text = (ROOT / document).read_text()
    for attention, label in rows.items():
        assert _row(text, label) == _expected(attention, with_total), (document, label)


def test_attention_run_is_the_shipped_preset_measured_the_same_way():
    metadata = json.loads((ROOT / "zoo" / "translator_en_es" / "metadata.json").read_text())
    report = metadata["evaluation"]
    assert (RESULTS["origin"], RESULTS["beam_size"]) == (
        report["origin"],
        report["settings"]["beam_size"],
    )
    for ours, shipped in zip(
        RUNS["bahdanau"]["bleu_by_source_length"],
        report["metrics"]["bleu_by_source_length"],
        strict=True,
    ):
        assert (ours["bucket"], ours["count"]) == (shipped["bucket"], shipped["count"])
        assert ours["bleu"] == pytest.approx(shipped["bleu"], abs=1e-6)
    assert RUNS["none"]["examples"] == report["counts"]["examples"]
