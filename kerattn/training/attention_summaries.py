"""TensorBoard summaries of attention for fixed probe texts: heatmaps, diagnostics, samples.

At every evaluation the trainer decodes the recipe's probe texts with the model's own Python
API (`translate`/`classify`, which return the attention they used) and writes, under the
default summary writer:

- images `attention/probe_<i>`: heatmaps (source tokens on x, generated tokens on y), the
  figure sized by token count so labels up to ~30 tokens stay readable;
- scalars `attention/<diagnostic>` (means over the probes) and histograms
  `attention_per_probe/<diagnostic>` (one value per probe), see `attention_diagnostics`;
- text `samples`: a Markdown table of probe → output, and for classifiers `top_tokens`: the
  most attended tokens of each probe.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from kerattn.training import attention_diagnostics

_DPI = 100
_CELL_INCHES = 0.32  # per token: fits a 10-pt label rotated by 60°


def heatmap_figure_size(source_count: int, target_count: int) -> tuple[float, float]:
    """Figure (width, height) in inches for a (target_count × source_count) heatmap."""
    width = max(4.0, 1.8 + _CELL_INCHES * source_count)
    height = max(2.5, 1.6 + _CELL_INCHES * target_count)
    return width, height


def heatmap_pixel_size(source_count: int, target_count: int) -> tuple[int, int]:
    """(height, width) in pixels of the PNG `heatmap_png` makes for these token counts."""
    width, height = heatmap_figure_size(source_count, target_count)
    return int(round(height * _DPI)), int(round(width * _DPI))


def heatmap_png(
    weights, source_tokens: list[str], target_tokens: list[str], title: str = ""
) -> bytes:
    """Renders attention weights (T, S) as a PNG of `heatmap_pixel_size` (matplotlib, Agg).

    x: source tokens (labels rotated 60°), y: target tokens; one cell per weight.
    """
    import io

    figure = heatmap_figure(weights, source_tokens, target_tokens, title)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI)  # no bbox_inches: the size stays predictable
    return buffer.getvalue()


def heatmap_figure(weights, source_tokens: list[str], target_tokens: list[str], title: str = ""):
    """The matplotlib `Figure` behind `heatmap_png` (no pyplot, no global state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    weights = np.asarray(weights, np.float32).reshape(len(target_tokens), len(source_tokens))
    figure = Figure(figsize=heatmap_figure_size(len(source_tokens), len(target_tokens)), dpi=_DPI)
    FigureCanvasAgg(figure)  # Agg rendering, whatever pyplot's backend is
    axes = figure.add_subplot()
    axes.imshow(weights, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    axes.set_xticks(range(len(source_tokens)))
    axes.set_xticklabels(source_tokens, rotation=60, ha="right", rotation_mode="anchor", fontsize=9)
    axes.set_yticks(range(len(target_tokens)))
    axes.set_yticklabels(target_tokens, fontsize=9)
    axes.set_xlabel("source")
    axes.set_ylabel("output")
    if title:
        axes.set_title(title[:80], fontsize=9)
    figure.tight_layout()
    return figure


def _markdown_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ") or " "


def write_probe_summaries(model, family: str, probes: list[str], step: int) -> dict[str, float]:
    """Decodes `probes` with `model` and writes the summaries above at `step`.

    Returns the mean diagnostics (also written as scalars).
    """
    if not probes:
        return {}
    translation = family == "translator"
    results = model.translate(probes) if translation else model.classify(probes)
    rows, top_rows, per_probe = [], [], []
    for index, (probe, result) in enumerate(zip(probes, results)):
        if translation:
            weights = result.attention  # (T, S)
            target_tokens = result.tokens
            if weights.shape[0] == 0:  # nothing generated: nothing to draw
                continue
            output = result.text
        else:
            weights = result.token_weights[np.newaxis]  # (1, S)
            target_tokens = [result.label]
            output = f"{result.label} ({result.probabilities[result.label]:.2f})"
            order = np.argsort(-result.token_weights)[:5]
            top_rows.append(
                f"| {_markdown_cell(probe)} | "
                + ", ".join(f"{result.tokens[i]} ({result.token_weights[i]:.2f})" for i in order)
                + " |"
            )
        rows.append(f"| {_markdown_cell(probe)} | {_markdown_cell(output)} |")
        if weights.shape[1] == 0:
            continue
        per_probe.append(attention_diagnostics.summarize(weights, translation=translation))
        png = heatmap_png(weights, result.source_tokens if translation else result.tokens,
                          target_tokens, title=probe)
        image = tf.io.decode_png(png, channels=3)[tf.newaxis]  # (1, H, W, 3)
        tf.summary.image(f"attention/probe_{index}", image, step=step)
    tf.summary.text("samples", "| input | output |\n|---|---|\n" + "\n".join(rows), step=step)
    if top_rows:
        tf.summary.text(
            "top_tokens", "| input | most attended tokens |\n|---|---|\n" + "\n".join(top_rows),
            step=step,
        )
    means = {}
    for name in per_probe[0] if per_probe else []:
        values = np.array([diagnostics[name] for diagnostics in per_probe])
        means[name] = float(values.mean())
        tf.summary.scalar(f"attention/{name}", means[name], step=step)
        tf.summary.histogram(f"attention_per_probe/{name}", values, step=step)
    return means
