"""The attention-vs-length study's tables (README, bench/RESULTS.md) say what its recorded results
say, and its attention run is translator_en_es v1 (the preset shipped until v2), measured the
way v1's model card said."""

import json
import re
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
STUDY = ROOT / "bench" / "attention_vs_length"
RESULTS = json.loads((STUDY / "results.json").read_text())
RUNS = {run["attention"]: run for run in RESULTS["runs"]}

# translator_en_es v1's card (zoo/translator_en_es/README.md until v2 replaced it): on the
# 1,417 paragraphs of the held-out help pages of corpora/libreoffice-en-es, beam 4, BLEU 35.3.
V1_CARD = {"data": "corpora/libreoffice-en-es/test.tsv", "origin": "help/", "beam_size": 4}
V1_CARD_BLEU = 35.3
DOCUMENTS = {
    "README.md": {"bahdanau": "attention (`translator_en_es` v1)", "none": "no attention"},
    "bench/RESULTS.md": {
        "bahdanau": 'BLEU, attention = "bahdanau"',
        "none": 'BLEU, attention = "none"',
    },
}


def _cells(document: str, label: str) -> list[str]:
    match = re.search(rf"^\| {re.escape(label)} \|(.*)\|$", document, re.M)
    assert match, f"no table row {label!r}"
    return [cell.strip() for cell in match.group(1).split("|")]


def _row(document: str, label: str) -> list[float]:
    return [float(cell) for cell in _cells(document, label)]


def _expected(attention: str) -> list[float]:
    run = RUNS[attention]
    return [round(bucket["bleu"], 1) for bucket in run["bleu_by_source_length"]] + [
        round(run["bleu"], 1)
    ]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_tables_match_the_recorded_results(document):
    text = (ROOT / document).read_text()
    buckets = [bucket["bucket"] for bucket in RUNS["bahdanau"]["bleu_by_source_length"]]
    assert _cells(text, "source words") == buckets + ["all"], document
    for attention, label in DOCUMENTS[document].items():
        assert _row(text, label) == _expected(attention), (document, label)


def test_the_results_table_counts_the_recorded_sentences():
    text = (ROOT / "bench" / "RESULTS.md").read_text()
    run = RUNS["bahdanau"]
    counts = [bucket["count"] for bucket in run["bleu_by_source_length"]]
    assert _row(text, "sentences") == counts + [run["examples"]]


def test_both_runs_are_scored_on_the_same_sentences():
    attention, none = (
        [(bucket["bucket"], bucket["count"]) for bucket in RUNS[name]["bleu_by_source_length"]]
        for name in ("bahdanau", "none")
    )
    assert attention == none
    examples = sum(count for _, count in attention)
    assert RUNS["bahdanau"]["examples"] == RUNS["none"]["examples"] == examples


def test_attention_run_is_translator_en_es_v1_measured_as_its_card_said():
    assert {name: RESULTS[name] for name in V1_CARD} == V1_CARD
    assert round(RUNS["bahdanau"]["bleu"], 1) == V1_CARD_BLEU


def test_the_baseline_recipe_is_v1s_without_attention():
    v1 = tomllib.loads((STUDY / "translator_en_es_v1.toml").read_text(encoding="utf-8"))
    none = tomllib.loads((STUDY / "translator_en_es_none.toml").read_text(encoding="utf-8"))
    assert v1["model"].pop("attention") == "bahdanau"
    assert none["model"].pop("attention") == "none"
    assert v1 == none
