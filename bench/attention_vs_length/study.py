"""The attention-vs-length study (Bahdanau et al., 2015, Fig. 2), on our own runs.

Two translators trained by the same recipe on the same data, budget and seed, one with additive
attention (bench/attention_vs_length/translator_en_es_v1.toml: translator_en_es v1, the preset
shipped until v2) and one with `attention = "none"`
(bench/attention_vs_length/translator_en_es_none.toml: the decoder sees only the encoder's final
state, Cho et al. 2014). For each run's best model this script:
- scores BLEU by source-length bucket on the held-out help pages (`kerattn.zoo.evaluation`,
  sacreBLEU; the same numbers `kerattn evaluate RUN/best.keras --data ... --origin help/` prints);
- reads the attention diagnostics the trainer logged on its probe sentences at every evaluation
  (share of the attention mass on the last fifth of the source, entropy), and measures the same
  share on the evaluation sentences with the best model.

It writes results.json and bleu_by_length.png next to itself and prints the table that
bench/RESULTS.md and the README show.

Usage (after training both runs, from the repository root; about 5 minutes on 2 CPU cores):
    python bench/attention_vs_length/study.py runs/translator_en_es runs/translator_en_es_none \
        --data corpora/libreoffice-en-es/test.tsv --origin help/ --beam-size 4
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import tomllib

from kerattn import attention_diagnostics
from kerattn.data import read_rows
from kerattn.zoo.evaluation import evaluate_file
from kerattn.zoo.model_loading import load_model

HERE = Path(__file__).resolve().parent
UNIFORM_LATE_SHARE = 0.2  # a uniform distribution puts ~1/5 of its mass on the last fifth


def late_share_on(model, texts: list[str], beam_size: int, batch_size: int = 64) -> float:
    """Mean `late_source_share` of the model's attention over `texts` (one value per sentence)."""
    shares = []
    for start in range(0, len(texts), batch_size):
        for result in model.translate(texts[start : start + batch_size], beam_size=beam_size):
            if len(result.tokens):
                shares.append(attention_diagnostics.late_source_share(result.attention))
    return float(np.mean(shares))


def study_run(run_dir: Path, data: str, origin: str | None, beam_size: int) -> dict:
    recipe = tomllib.loads((run_dir / "recipe.toml").read_text(encoding="utf-8"))
    attention = recipe["model"].get("attention", "bahdanau")
    model = load_model(run_dir / "best.keras")
    report = evaluate_file(model, data, task="translation", beam_size=beam_size, origin=origin)
    history = json.loads((run_dir / "metrics.json").read_text())["evaluations"]
    if attention == "none":  # older runs logged zeros for the attention it does not have
        history = [{k: v for k, v in r.items() if not k.startswith("attention_")} for r in history]
    result = {
        "run": run_dir.name,
        "attention": attention,
        "bleu": report["metrics"]["bleu"],
        "chrf": report["metrics"]["chrf"],
        "bleu_by_source_length": report["metrics"]["bleu_by_source_length"],
        "examples": report["counts"]["examples"],
        "training": [
            {
                "step": r["step"],
                "valid_loss": r["loss"],
                "probe_late_source_share": r.get("attention_late_source_share"),
                "probe_entropy": r.get("attention_entropy"),
            }
            for r in history
        ],
    }
    if attention != "none":
        texts = [row[0] for row in read_rows(data) if origin is None or row[2].startswith(origin)]
        result["late_source_share"] = late_share_on(model, texts, beam_size)
    return result


def table(results: list[dict]) -> str:
    buckets = [b["bucket"] for b in results[0]["bleu_by_source_length"]]
    counts = [str(b["count"]) for b in results[0]["bleu_by_source_length"]]
    lines = [
        "| source words | " + " | ".join(buckets) + " | all |",
        "|---" * (len(buckets) + 2) + "|",
        "| sentences | " + " | ".join(counts) + f" | {results[0]['examples']} |",
    ]
    for result in results:
        values = [f"{b['bleu']:.1f}" for b in result["bleu_by_source_length"]]
        lines.append(
            f'| BLEU, attention = "{result["attention"]}" | '
            + " | ".join(values)
            + f" | {result['bleu']:.1f} |"
        )
    return "\n".join(lines)


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    buckets = [b["bucket"] for b in results[0]["bleu_by_source_length"]]
    for result in results:
        left.plot(
            buckets,
            [b["bleu"] for b in result["bleu_by_source_length"]],
            marker="o",
            label=f'attention = "{result["attention"]}" (BLEU {result["bleu"]:.1f})',
        )
    left.set_xlabel("source sentence length (words)")
    left.set_ylabel("BLEU (held-out help pages)")
    left.set_ylim(bottom=0)
    left.legend(loc="lower left", fontsize=8)
    left.set_title("BLEU by source length")
    for result in results:
        steps = [r["step"] for r in result["training"] if r["probe_late_source_share"]]
        if steps:
            shares = [
                r["probe_late_source_share"]
                for r in result["training"]
                if r["probe_late_source_share"]
            ]
            right.plot(steps, shares, marker="o", label=f'attention = "{result["attention"]}"')
    right.axhline(UNIFORM_LATE_SHARE, color="grey", linestyle="--", label="uniform attention")
    right.set_xlabel("training step")
    right.set_ylabel("attention mass on last fifth of source")
    right.set_ylim(0, 0.5)
    right.legend(loc="upper right", fontsize=8)
    right.set_title("Positional bias on the probe sentences")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders (best.keras, metrics.json)")
    parser.add_argument("--data", required=True, help="the corpus test TSV")
    parser.add_argument("--origin", default=None, help="score only rows of this origin prefix")
    parser.add_argument("--beam-size", type=int, default=4)
    parser.add_argument("--output", type=Path, default=HERE, help="folder for the results")
    args = parser.parse_args()
    results = [study_run(run, args.data, args.origin, args.beam_size) for run in args.runs]
    content = {
        "data": args.data,
        "origin": args.origin,
        "beam_size": args.beam_size,
        "runs": results,
    }
    (args.output / "results.json").write_text(json.dumps(content, indent=1) + "\n")
    plot(results, args.output / "bleu_by_length.png")
    print(table(results))
    for result in results:
        if "late_source_share" in result:
            print(
                f'late-source share, attention = "{result["attention"]}", evaluation '
                f"sentences: {result['late_source_share']:.3f} (uniform {UNIFORM_LATE_SHARE})"
            )


if __name__ == "__main__":
    main()
