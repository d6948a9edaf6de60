"""Heatmaps: predictable PNG size, readable labels up to ~30 tokens."""

import io

import matplotlib  # noqa: F401  (the plot extra; dev installs it, and a missing one must fail)
import numpy as np
import pytest

from kerattn import visualization


def _png_size(png: bytes) -> tuple[int, int]:
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        return image.height, image.width


@pytest.mark.parametrize("source_count, target_count", [(1, 1), (5, 3), (30, 30)])
def test_png_has_the_announced_size(source_count, target_count):
    weights = np.random.default_rng(0).dirichlet(np.ones(source_count), size=target_count)
    png = visualization.heatmap_png(
        weights,
        [f"s{i}" for i in range(source_count)],
        [f"t{i}" for i in range(target_count)],
        title="probe",
    )
    assert png.startswith(b"\x89PNG")
    assert _png_size(png) == visualization.heatmap_pixel_size(source_count, target_count)


def test_thirty_token_labels_do_not_overlap():
    count = 30
    source = [f"word{i:02d}" for i in range(count)]
    target = [f"palabra{i:02d}" for i in range(count)]
    figure = visualization.heatmap_figure(np.eye(count), source, target)
    renderer = figure.canvas.get_renderer()
    axes = figure.axes[0]
    for labels, axis in ((axes.get_xticklabels(), 0), (axes.get_yticklabels(), 1)):
        boxes = [label.get_window_extent(renderer) for label in labels]
        assert len(boxes) == count
        # Rotated x labels: their anchor points must be further apart than the text height.
        starts = sorted(box.x1 if axis == 0 else box.y0 for box in boxes)
        gaps = np.diff(starts)
        height = min(box.height for box in boxes) if axis == 1 else 9 * figure.dpi / 72
        assert gaps.min() >= height * 0.9, (axis, gaps.min(), height)
    # Every label lies inside the figure.
    for label in axes.get_xticklabels() + axes.get_yticklabels():
        box = label.get_window_extent(renderer)
        assert box.x0 >= 0 and box.y0 >= 0
        assert box.x1 <= figure.bbox.width + 1 and box.y1 <= figure.bbox.height + 1


def test_token_weights_html_shades_by_relative_weight_and_escapes():
    html = visualization.token_weights_html(["a", "<b>", "wonder", "##ful"], [0.1, 0.2, 0.2, 0.5])
    spans = html.split("<span")[1:]
    assert len(spans) == 4
    assert 'rgba(255, 140, 0, 0.20)">a</span>' in spans[0]  # 0.1 / 0.5
    assert "&lt;b&gt;" in spans[1] and "<b>" not in html
    assert 'title="0.500"' in spans[3] and "1.00)" in spans[3]
    assert ">a</span> <span" in html  # words are separated by a space
    assert ">wonder</span><span" in html  # a continuation joins its word
    assert ">ful</span>" in html and "##" not in html


def test_token_weights_html_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="one weight per token: 2 tokens, weights of shape"):
        visualization.token_weights_html(["a", "b"], [1.0])
