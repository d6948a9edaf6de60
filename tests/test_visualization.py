"""Heatmaps: predictable PNG size, readable labels up to ~30 tokens."""

import io

import numpy as np
import pytest

from kerattn import visualization

pytest.importorskip("matplotlib")


def _png_size(png: bytes) -> tuple[int, int]:
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        return image.height, image.width


@pytest.mark.parametrize("source_count, target_count", [(1, 1), (5, 3), (30, 30)])
def test_png_has_the_announced_size(source_count, target_count):
    weights = np.random.default_rng(0).dirichlet(np.ones(source_count), size=target_count)
    png = visualization.heatmap_png(
        weights, [f"s{i}" for i in range(source_count)], [f"t{i}" for i in range(target_count)],
        title="probe")
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
