"""From a finished sentiment_en v2 run (zoo/sentiment_en/train.sh) to the preset folder:

    python zoo/sentiment_en/package.py [RUN_DIR] [--corpus corpora/reviews] [--out FOLDER]

1. The headline evaluation: the calibrated candidate train.sh chose on validation rows
   (RUN_DIR/calibrated_<RUN_DIR/evaluation/CHOSEN>: best.keras or averaged.keras, with the
   temperature fitted on the validation rows) on the IMDB rows of the corpus's test split, the command
   `kerattn evaluate sentiment_en --data corpora/reviews/test.tsv --origin imdb` that the card
   gives and the `zoo` tier's sample re-checks. The other domains' figures are on the card,
   from RUN_DIR/evaluation.
2. zoo/sentiment_en/model.keras, metadata.json and attention.png (or FOLDER's), through
   `write_preset`: the calibrated model without optimizer state, the latency measured here.
   The card (README.md) and recipe.toml are written by hand and never touched.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

NAME = "sentiment_en"
ORIGIN = "imdb"
PROBE = "The plot was thin, but the acting was excellent."
LICENSE = (
    "Apache-2.0 (weights); trained on IMDB reviews (Maas et al., 2011, research use), "
    "Rotten Tomatoes sentence polarity (Pang & Lee, 2005) and UCI drugs.com reviews "
    "(Gräßer et al., 2018)"
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", nargs="?", type=Path, default=Path("runs/sentiment_en_v2"))
    parser.add_argument("--corpus", default="corpora/reviews", help="relative, as on the card")
    parser.add_argument("--out", type=Path, default=None, help="default: zoo/sentiment_en")
    args = parser.parse_args(argv)

    from kerattn.zoo.evaluation import evaluate_file
    from kerattn.zoo.packaging import write_preset

    choice = args.run_dir / "evaluation" / "CHOSEN"
    if not choice.is_file():
        raise SystemExit(f"{choice} is missing: run zoo/sentiment_en/train.sh to the end.")
    calibrated = args.run_dir / f"calibrated_{choice.read_text(encoding='utf-8').strip()}"
    data = f"{args.corpus}/test.tsv"
    report = evaluate_file(str(calibrated), data, task="classification", origin=ORIGIN)
    report["model"] = NAME
    counts = json.loads((Path(args.corpus) / "manifest.json").read_text(encoding="utf-8"))["counts"]
    metadata = write_preset(
        args.run_dir,
        args.out or Path(__file__).resolve().parent,
        task="classification",
        description="review sentiment, negative or positive, calibrated (films, snippets, drugs)",
        license=LICENSE,
        data=(
            "IMDB reviews, Rotten Tomatoes snippets and drugs.com reviews "
            f"(kerattn data reviews: {counts['train']:,} train / {counts['valid']:,} valid / "
            f"{counts['test']:,} test texts)"
        ),
        evaluation=report,
        evaluation_command=f"kerattn evaluate {NAME} --data {data} --origin {ORIGIN}",
        probe=PROBE,
        headline_metrics=("accuracy", "macro_f1"),
        model=calibrated,
    )
    print(
        f"{NAME}: accuracy {report['metrics']['accuracy']:.4f} on "
        f"{report['counts']['examples']:,} IMDB test reviews; {metadata['parameters']:,} "
        f"parameters, {metadata['model_bytes']:,} bytes"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
