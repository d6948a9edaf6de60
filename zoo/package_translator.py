"""From a finished translator run to a preset folder of the zoo, after zoo/finish_translator.sh:

    python zoo/package_translator.py RUN_DIR NAME CORPUS --language German [--out FOLDER]
    e.g. python zoo/package_translator.py runs/translator_en_de translator_en_de \
             corpora/localisation-de --language German

1. The headline evaluation: RUN_DIR/preset (the chosen model, float16, beam 4, its calibrated
   threshold) on the held-out LibreOffice help pages of CORPUS's test split, the command
   `kerattn evaluate NAME --data CORPUS/test.tsv --origin help/libreoffice/` that the card
   gives and the `zoo` tier's sample re-checks.
2. zoo/NAME/model.keras, metadata.json and attention.png (or FOLDER's) (`write_preset`: the same float16
   weights, the latency measured here), with the threshold's calibration report copied from
   RUN_DIR/preset/metadata.json. The card (README.md) and recipe.toml are written by hand and
   never touched.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

ORIGIN = "help/libreoffice/"
PROBE = "Select the cells that you want to copy."
LICENSE = (
    "Apache-2.0 (weights); trained on translations that free-software packages ship (GPL, LGPL, "
    "MPL, BSD, MIT, Apache, CC BY-SA; each package's in the corpus manifest)"
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("name")
    parser.add_argument("corpus", help="e.g. corpora/localisation-de (relative, as on the card)")
    parser.add_argument("--language", required=True, help="the target language, e.g. German")
    parser.add_argument("--out", type=Path, default=None, help="default: zoo/NAME")
    args = parser.parse_args(argv)

    from kerattn.atomic_files import atomic_write_text
    from kerattn.zoo.evaluation import evaluate_file
    from kerattn.zoo.packaging import write_preset

    chosen = args.run_dir / "preset"
    calibration = json.loads((chosen / "metadata.json").read_text(encoding="utf-8"))
    if "confidence_calibration" not in calibration:
        raise SystemExit(f"{chosen} has no calibrated threshold: run zoo/finish_translator.sh.")
    data = f"{args.corpus}/test.tsv"
    report = evaluate_file(str(chosen), data, task="translation", origin=ORIGIN)
    report["model"] = args.name
    manifest = json.loads((Path(args.corpus) / "manifest.json").read_text(encoding="utf-8"))
    language = manifest["corpus"].rsplit("-", 1)[-1]  # "localisation-de" -> "de"
    folder = args.out or Path(__file__).resolve().parent / args.name
    metadata = write_preset(
        args.run_dir,
        folder,
        task="translation",
        description=(
            f"English to {args.language} for software text: UI strings, messages, help and manuals"
        ),
        license=LICENSE,
        data=(
            f"software-localisation corpus: {manifest['counts']['train']:,} English-"
            f"{args.language} pairs from 300+ Debian 12 packages "
            f"(kerattn data localisation --lang {language})"
        ),
        evaluation=report,
        evaluation_command=f"kerattn evaluate {args.name} --data {data} --origin {ORIGIN}",
        probe=PROBE,
        decoding={"beam_size": 4},
        headline_metrics=("bleu", "chrf"),
        model=chosen,
        weights_dtype="float16",
    )
    metadata["confidence_calibration"] = calibration["confidence_calibration"]
    atomic_write_text(
        folder / "metadata.json", json.dumps(metadata, indent=2, ensure_ascii=False) + "\n"
    )
    print(
        f"{folder}: BLEU {report['metrics']['bleu']:.1f}, chrF {report['metrics']['chrf']:.1f} "
        f"on {report['counts']['examples']:,} LibreOffice help rows; threshold "
        f"{metadata['confidence_threshold']:.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
