"""TensorBoard summaries of attention for fixed probe texts: heatmaps, diagnostics, samples.

At every evaluation the trainer decodes the recipe's probe texts with the model's own Python
API (`translate`/`classify`, which return the attention they used) and writes, under the
default summary writer:

- images `attention/probe_<i>`: heatmaps (source tokens on x, generated tokens on y), the
  figure sized by token count so labels up to ~30 tokens stay readable;
- the same attention as data, `attention/probe_<i>/{weights,source_tokens,target_tokens}`
  (`kerattn.visualization.log_attention`), for TensorBoard's Attention tab;
- scalars `attention/<diagnostic>` (means over the probes) and histograms
  `attention_per_probe/<diagnostic>` (one value per probe), see `attention_diagnostics`;
- text `samples`: a Markdown table of probe → output, and for classifiers `top_tokens`: the
  most attended tokens of each probe.

A translator with `attention="none"` has no attention to show: it gets the `samples` text only.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from kerattn import attention_diagnostics
from kerattn.tables import markdown_cell
from kerattn.visualization import heatmap_png, log_attention


def write_probe_summaries(model, family: str, probes: list[str], step: int) -> dict[str, float]:
    """Decodes `probes` with `model` and writes the summaries above at `step`.

    Returns the mean diagnostics (also written as scalars).
    """
    if not probes:
        return {}
    translation = family == "translator"
    has_attention = not translation or model.attention != "none"
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
                f"| {markdown_cell(probe)} | "
                + ", ".join(f"{result.tokens[i]} ({result.token_weights[i]:.2f})" for i in order)
                + " |"
            )
        rows.append(f"| {markdown_cell(probe)} | {markdown_cell(output)} |")
        if not has_attention or weights.shape[1] == 0:
            continue
        per_probe.append(attention_diagnostics.summarize(weights, translation=translation))
        png = heatmap_png(
            weights,
            result.source_tokens if translation else result.tokens,
            target_tokens,
            title=probe,
        )
        image = tf.io.decode_png(png, channels=3)[tf.newaxis]  # (1, H, W, 3)
        tf.summary.image(f"attention/probe_{index}", image, step=step)
        # The same attention as data, for the TensorBoard attention dashboard (kerattn.tensorboard_plugin).
        log_attention(
            f"attention/probe_{index}",
            result.source_tokens if translation else result.tokens,
            weights if translation else result.token_weights,
            target_tokens,
            step=step,
            text=probe,
        )
    tf.summary.text("samples", "| input | output |\n|---|---|\n" + "\n".join(rows), step=step)
    if top_rows:
        tf.summary.text(
            "top_tokens",
            "| input | most attended tokens |\n|---|---|\n" + "\n".join(top_rows),
            step=step,
        )
    means = {}
    for name in per_probe[0] if per_probe else []:
        values = np.array([diagnostics[name] for diagnostics in per_probe])
        means[name] = float(values.mean())
        tf.summary.scalar(f"attention/{name}", means[name], step=step)
        tf.summary.histogram(f"attention_per_probe/{name}", values, step=step)
    return means
