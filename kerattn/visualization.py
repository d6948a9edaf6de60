"""Showing attention to people: labelled heatmaps (PNG) and plain-text renderings.

The one place heatmaps are drawn: TensorBoard's probe images, `kerattn translate --plot` and the
notebooks all call `heatmap_png`/`heatmap_figure`. `alignment_text` and `token_weights_text`
render the same weights for a terminal.
"""

from __future__ import annotations

import os

import numpy as np

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


def write_heatmap(
    path: str | os.PathLike,
    weights,
    source_tokens: list[str],
    target_tokens: list[str],
    title: str = "",
) -> None:
    """Writes `heatmap_png` to `path` atomically (parent folders must exist)."""
    from kerattn.atomic_files import atomic_write_bytes

    atomic_write_bytes(path, heatmap_png(weights, source_tokens, target_tokens, title))


_SHADES = " .:-=+*#%@"  # weight 0 → " ", weight 1 → "@"


def _shade(weight: float) -> str:
    return _SHADES[min(len(_SHADES) - 1, int(round(float(weight) * (len(_SHADES) - 1))))]


def alignment_text(weights, source_tokens: list[str], target_tokens: list[str]) -> str:
    """A terminal rendering of attention weights (T, S): one row per output token.

    The source tokens are listed once with their column letters; each row then shows the
    output token, one shade character per source column (" " = 0 … "@" = 1), and the source
    token it attended to most with that weight. Stays readable for ~60 source tokens.
    """
    weights = np.asarray(weights, np.float32).reshape(len(target_tokens), len(source_tokens))
    columns = [_column_name(i) for i in range(len(source_tokens))]
    width = max([len(token) for token in target_tokens] + [6])
    lines = ["source: " + "  ".join(f"{c}={t}" for c, t in zip(columns, source_tokens))]
    header_width = max((len(c) for c in columns), default=1)
    for row in range(header_width):  # column letters, written vertically when two long
        cells = "".join(c.rjust(header_width)[row] for c in columns)
        lines.append(f"{'':{width}} |{cells}|")
    for token, row in zip(target_tokens, weights):
        best = int(np.argmax(row)) if row.size else 0
        cells = "".join(_shade(w) for w in row)
        pointer = f"<- {source_tokens[best]} ({row[best]:.2f})" if row.size else ""
        lines.append(f"{token:{width}} |{cells}| {pointer}")
    return "\n".join(lines)


def _column_name(index: int) -> str:
    """a, b, …, z, A, …, Z, then 52→"ba"-style two-letter names."""
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    name = letters[index % len(letters)]
    index //= len(letters)
    while index:
        name = letters[index % len(letters)] + name
        index //= len(letters)
    return name


def token_weights_text(tokens: list[str], weights, top: int = 10, bar_width: int = 30) -> str:
    """The `top` most attended tokens as "token  weight  bar" lines, strongest first."""
    weights = np.asarray(weights, np.float32)
    order = np.argsort(-weights, kind="stable")[:top]
    width = max([len(tokens[i]) for i in order] + [5])
    peak = float(weights[order[0]]) if len(order) else 1.0
    lines = []
    for i in order:
        bar = "#" * max(1, int(round(bar_width * float(weights[i]) / peak))) if peak > 0 else ""
        lines.append(f"{tokens[i]:{width}}  {weights[i]:.3f}  {bar}")
    return "\n".join(lines)


def token_weights_html(tokens: list[str], weights) -> str:
    """The text as HTML with each token's background shaded by its attention weight (strongest
    token fully shaded), for notebooks (`IPython.display.HTML`). WordPiece continuations
    ("##ful") join the previous token; hovering a token shows its weight."""
    import html

    weights = np.asarray(weights, np.float32)
    if weights.shape != (len(tokens),):
        raise ValueError(
            f"token_weights_html needs one weight per token: {len(tokens)} tokens, "
            f"weights of shape {weights.shape}."
        )
    peak = float(weights.max()) if len(tokens) and weights.max() > 0 else 1.0
    pieces = []
    for token, weight in zip(tokens, weights):
        joined = token.startswith("##") and pieces
        text = token[2:] if joined else token
        pieces.append(
            ("" if joined or not pieces else " ")
            + f'<span title="{weight:.3f}" style="background: rgba(255, 140, 0, '
            f'{float(weight) / peak:.2f})">{html.escape(text)}</span>'
        )
    return '<p style="line-height: 1.8">' + "".join(pieces) + "</p>"


def log_attention(
    name: str,
    source_tokens: list[str],
    weights,
    target_tokens: list[str] | None = None,
    *,
    step: int | None = None,
    text: str = "",
    description: str = "",
) -> bool:
    """Writes one probe's attention as data for TensorBoard's attention dashboard.

    Three tensor summaries under the default `tf.summary` writer, tags `<name>/weights`,
    `<name>/source_tokens`, `<name>/target_tokens`, with plugin name `attention` (format:
    `kerattn.tensorboard_plugin.metadata`). Call it at every step you want to replay; the
    dashboard's step slider moves through them. The trainer calls it for each recipe probe
    (`attention/probe_<i>`), next to the PNG heatmap image it keeps writing.

    Args:
        name: the probe's name, e.g. "attention/probe_0" (one per probe, the same at every step).
        source_tokens: the S input tokens.
        weights: (T, S) attention of each output token over the source, or (S,) token weights
            of a classifier.
        target_tokens: the T output tokens; for token weights, optionally the predicted label.
        step: the step (default: `tf.summary.experimental.get_step()`).
        text: the probe's input text, shown as its title.
        description: shown by TensorBoard next to the tag (default: a sentence naming `text`).

    Returns:
        True if written, False if there is no default summary writer.

    Example (in your own training loop):
        with tf.summary.create_file_writer("logs/valid").as_default():
            log_attention("attention/probe_0", result.source_tokens, result.attention,
                          result.tokens, step=step, text=probe)
    """
    import tensorflow as tf

    from kerattn.tensorboard_plugin import metadata

    target_tokens = list(target_tokens or [])
    weights = np.asarray(weights, np.float32)
    if weights.ndim == 1:
        kind, expected = "token_weights", (len(source_tokens),)
    else:
        kind, expected = "alignment", (len(target_tokens), len(source_tokens))
    if weights.shape != expected:
        raise ValueError(
            f"log_attention needs weights of shape {expected} for {len(source_tokens)} source "
            f"and {len(target_tokens)} target tokens ({kind}); received {weights.shape}."
        )
    description = description or (f"Attention on {text!r}." if text else "Attention of a probe.")
    values = {
        "weights": weights,
        "source_tokens": np.array(source_tokens, dtype=object),
        "target_tokens": np.array(target_tokens, dtype=object),
    }
    written = True
    for role, value in values.items():
        summary = metadata.summary_metadata(role, kind, text, f"{description} ({role})")
        tensor = tf.constant(value, dtype=tf.float32 if role == "weights" else tf.string)
        written &= bool(
            tf.summary.write(
                metadata.tag(name, role), tensor, step=step, metadata=summary.SerializeToString()
            )
        )
    return written
