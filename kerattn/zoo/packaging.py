"""Writing a preset folder from a trained model (maintainers: see zoo/README.md).

`write_preset` copies a training run's best model without optimizer state, draws the attention
picture of one probe, measures CPU latency, and writes `metadata.json` with the metrics of a
`kerattn evaluate --json` report and the run's training summary; the model card (`README.md`)
and `recipe.toml` are written by hand next to them.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from pathlib import Path

from kerattn.version import __version__
from kerattn.zoo.model_loading import load_model
from kerattn.zoo.presets import save_preset
from kerattn.zoo.tasks import TASKS
from kerattn.zoo.translator import Translator

MAX_MODEL_BYTES = 30_000_000  # every preset's model.keras stays under 30 MB


def cpu_latency(model, text: str, decoding: dict, repeats: int = 20) -> dict:
    """Median milliseconds for `text` alone, and per text in a batch of 32 (after warm-up)."""
    if isinstance(model, Translator):

        def run(batch):
            return model.translate(batch, **decoding)
    else:
        run = model.classify
    timings = {}
    for batch_size, runs, key in (
        (1, repeats, "batch_1_ms"),
        (32, max(3, repeats // 4), "batch_32_ms_per_text"),
    ):
        batch = [text] * batch_size
        run(batch)  # warm-up: traces the function
        seconds = []
        for _ in range(runs):
            start = time.perf_counter()
            run(batch)
            seconds.append((time.perf_counter() - start) / batch_size)
        timings[key] = round(1000 * statistics.median(seconds), 2)
    timings["machine"] = f"{platform.machine()}, {os.cpu_count()} CPU cores, no GPU"
    return timings


def _ensemble_members(source: Path) -> dict:
    """{"ensemble": ...} of the preset folder `source` (what `kerattn ensemble` recorded and
    `kerattn calibrate` carried over: the models it joins), or {}."""
    metadata = source / "metadata.json"
    if not metadata.is_file():
        return {}
    content = json.loads(metadata.read_text(encoding="utf-8"))
    return {"ensemble": content["ensemble"]} if "ensemble" in content else {}


def write_preset(
    run_dir: str | os.PathLike,
    preset_dir: str | os.PathLike,
    *,
    task: str,
    description: str,
    license: str,
    data: str,
    evaluation: dict,
    evaluation_command: str,
    probe: str,
    decoding: dict | None = None,
    headline_metrics: tuple[str, ...] = (),
    model: str | os.PathLike | None = None,
    weights_dtype: str = "float32",
) -> dict:
    """Writes `model.keras`, `attention.png` and `metadata.json` into `preset_dir`.

    Args:
        run_dir: a `kerattn train` run folder: its `best.keras` becomes the preset and its
            `metrics.json` summary goes into the metadata.
        task: "translation", "g2p" or "classification".
        description, license, data: one line each, shown by `kerattn zoo list` and the card.
        evaluation: the `kerattn evaluate --json` report of the card's test set.
        evaluation_command: the command that produced `evaluation`.
        probe: the text whose attention `attention.png` shows.
        decoding: `translate` keyword arguments the evaluation used (e.g. {"beam_size": 4}).
        headline_metrics: keys of `evaluation["metrics"]` that `kerattn zoo list` shows.
        model: the model to package instead of the run's `best.keras` (a `.keras` file or a
            preset folder): e.g. the calibrated copy `kerattn calibrate` writes, or a
            checkpoint average.
        weights_dtype: "float16" stores the weights at half the size (`save_preset`); the
            `evaluation` must then be of the float16 model (evaluate the written preset).

    Returns the metadata written. Raises ValueError for an unknown task or an oversized model.
    """
    from kerattn.visualization import write_heatmap

    if task not in TASKS:
        raise ValueError(f"`task` must be one of {', '.join(TASKS)}; received {task!r}.")
    preset_dir = Path(preset_dir)
    run_dir = Path(run_dir)
    source = run_dir / "best.keras" if model is None else Path(model)
    model = load_model(source)
    summary = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))["summary"]
    decoding = dict(decoding or {})
    if isinstance(model, Translator):
        model.decoding = decoding
    metrics = evaluation["metrics"]
    preset = save_preset(
        model,
        preset_dir,
        description,
        overwrite=True,
        weights_dtype=weights_dtype,
        task=task,
        license=license,
        data=data,
        metrics={key: metrics[key] for key in headline_metrics},
        evaluation={"command": evaluation_command, **evaluation},
        training={key: summary[key] for key in ("step", "best_step", "seconds", "replicas")},
        cpu_latency=cpu_latency(model, probe, decoding),
        kerattn_version=__version__,
        **_ensemble_members(source),
    )
    if (size := preset.size_bytes) > MAX_MODEL_BYTES:
        preset.model_path.unlink()
        (preset_dir / "metadata.json").unlink()
        raise ValueError(
            f"The model.keras is {size:,} bytes; presets must stay "
            f"under {MAX_MODEL_BYTES:,} bytes ({MAX_MODEL_BYTES / 1e6:g} MB)."
        )
    if isinstance(model, Translator):
        result = model.translate(probe)
        write_heatmap(
            preset_dir / "attention.png",
            result.attention,
            result.source_tokens,
            result.tokens,
            title=probe,
        )
    else:
        result = model.classify(probe)
        write_heatmap(
            preset_dir / "attention.png",
            result.token_weights[None],
            result.tokens,
            [result.label],
            title=probe,
        )
    return preset.metadata
