"""zoo/finish_translator.sh on a toy run: selection on valid, a float16 calibrated preset, every
held-out report, and a re-run that redoes nothing; then zoo/package_translator.py's preset."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kerattn.training import trainer
from tests.training.conftest import FIXTURES, write_recipe

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "zoo" / "finish_translator.sh"
PACKAGE = ROOT / "zoo" / "package_translator.py"
ORIGINS = ["ui/app", "help/libreoffice/page", "ui/libreoffice/sw", "narrative/story", "help/x"]


def _corpus(folder: Path) -> Path:
    """The reversal fixture with the localisation corpus's files and origins."""
    folder.mkdir()
    for split, source in (("valid", "valid"), ("test", "test"), ("test-ood", "test")):
        rows = (FIXTURES / "reversal" / f"{source}.tsv").read_text().splitlines()
        (folder / f"{split}.tsv").write_text(
            "".join(f"{row}\t{ORIGINS[i % len(ORIGINS)]}\n" for i, row in enumerate(rows))
        )
    (folder / "manifest.json").write_text(
        json.dumps({"corpus": "localisation-xx", "counts": {"train": 1234}})
    )
    return folder


def _run(*args: str) -> subprocess.CompletedProcess:
    environment = dict(os.environ, KERATTN=str(Path(sys.executable).parent / "kerattn"))
    environment["AVERAGE_LAST"] = "2"
    return subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, env=environment, timeout=1200
    )


@pytest.mark.slow  # ~20 kerattn processes: several minutes on 2 loaded cores
def test_a_finished_run_becomes_a_calibrated_float16_preset_with_every_report(tmp_path):
    recipe = write_recipe(tmp_path, "reversal.toml", evaluation={"probes": []})
    run = tmp_path / "run"
    trainer.train(recipe, run_dir=run, print_function=lambda line: None)
    corpus = _corpus(tmp_path / "corpus")
    independent = tmp_path / "independent"
    independent.mkdir()
    for name in ("handbook", "descriptions"):
        (independent / f"{name}.tsv").write_text((corpus / "test.tsv").read_text())

    result = _run(str(run), str(corpus), str(independent))
    assert result.returncode == 0, result.stderr[-3000:]
    reports = {path.stem for path in (run / "evaluation").glob("*.json")}
    assert {"valid_best", "valid_averaged", "test_all", "test_all_greedy", "test_ood"} <= reports
    assert {"independent_handbook", "independent_descriptions"} <= reports
    chosen = (run / "evaluation" / "chosen.txt").read_text()
    assert chosen.split()[0] in {"best", "averaged"} and "validation BLEU" in chosen
    metadata = json.loads((run / "preset" / "metadata.json").read_text())
    assert metadata["weights_dtype"] == "float16" and metadata["decoding"] == {"beam_size": 4}
    assert 0 < metadata["confidence_threshold"] < 1
    valid_rows = (corpus / "valid.tsv").read_text().splitlines()
    assert (run / "valid_sample.tsv").read_text().splitlines() == valid_rows  # < 3,000 rows
    test_all = json.loads((run / "evaluation" / "test_all.json").read_text())
    by_origin = {row["origin"]: row["count"] for row in test_all["metrics"]["by_origin"]}
    test_rows = (corpus / "test.tsv").read_text().splitlines()
    assert by_origin["help/"] == sum("\thelp/" in row for row in test_rows)
    assert by_origin["help/libreoffice/"] == sum("\thelp/libreoffice/" in row for row in test_rows)
    predictions = (run / "evaluation" / "test_predictions.tsv").read_text().splitlines()
    assert len(predictions) == len(test_rows)
    assert "help/libreoffice/" in result.stdout and "narrative/" in result.stdout

    before = {path: path.stat().st_mtime_ns for path in (run / "evaluation").iterdir()}
    again = _run(str(run), str(corpus), str(independent))
    assert again.returncode == 0, again.stderr[-3000:]
    assert "evaluating" not in again.stderr
    assert {path: path.stat().st_mtime_ns for path in before} == before

    folder = tmp_path / "zoo" / "translator_en_xx"
    packaged = subprocess.run(
        [sys.executable, str(PACKAGE), str(run), "translator_en_xx", str(corpus)]
        + ["--language", "Reversed", "--out", str(folder)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert packaged.returncode == 0, packaged.stderr[-3000:]
    preset = json.loads((folder / "metadata.json").read_text())
    assert preset["evaluation"]["command"] == (
        f"kerattn evaluate translator_en_xx --data {corpus}/test.tsv --origin help/libreoffice/"
    )
    assert preset["evaluation"]["model"] == "translator_en_xx"
    assert preset["evaluation"]["counts"]["examples"] == by_origin["help/libreoffice/"]
    assert preset["metrics"] == {k: preset["evaluation"]["metrics"][k] for k in ("bleu", "chrf")}
    assert preset["confidence_threshold"] == metadata["confidence_threshold"]
    assert preset["confidence_calibration"] == metadata["confidence_calibration"]
    assert preset["weights_dtype"] == "float16" and preset["decoding"] == {"beam_size": 4}
    assert "1,234 English-Reversed pairs" in preset["data"] and "--lang xx" in preset["data"]
    assert (folder / "attention.png").is_file() and (folder / "model.keras").is_file()


def test_a_run_that_has_not_finished_is_refused(tmp_path):
    result = _run(str(tmp_path / "no-run"), str(tmp_path / "no-corpus"))
    assert result.returncode == 2
    assert result.stderr == (
        f"{tmp_path / 'no-run'}/final.keras is missing: finish the training run and build the "
        "corpus first.\n"
    )
