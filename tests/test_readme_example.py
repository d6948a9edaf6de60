"""The README's seq2seq example runs as written, learns, and ignores padding in its loss."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_example(name: str) -> str:
    match = re.search(
        rf"<!-- readme-example: {name} -->\n```python\n(.*?)```", README.read_text(), re.S
    )
    assert match, f"README.md has no example marked {name!r}"
    return match.group(1)


def test_readme_seq2seq_example_trains_saves_and_reloads(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(readme_example("seq2seq"), "README.md", "exec"), namespace)
    model, restored = namespace["model"], namespace["restored"]
    x, y_in, y = namespace["x"], namespace["y_in"], namespace["y"]
    losses = model.history.history["loss"]
    assert losses[-1] < losses[0]
    np.testing.assert_array_equal(
        restored.predict([x[:8], y_in[:8]], verbose=0), model.predict([x[:8], y_in[:8]], verbose=0)
    )
    weights = namespace["weights"]
    source_length = int((x[0] > 0).sum())
    assert weights.shape == (1, 8, 8)
    np.testing.assert_allclose(weights[0, :source_length].sum(-1), 1.0, atol=1e-5)
    assert np.all(weights[0][:, source_length:] == 0)
    # Labels at padded target positions do not count.
    noisy_y = np.where(y > 0, y, np.random.default_rng(1).integers(1, 100, size=y.shape))
    clean = model.evaluate([x, y_in], y, verbose=0)
    noisy = model.evaluate([x, y_in], noisy_y, verbose=0)
    np.testing.assert_allclose(clean, noisy, rtol=1e-6)
