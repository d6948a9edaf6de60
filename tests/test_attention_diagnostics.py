"""attention_diagnostics against hand-computed numpy cases."""

import numpy as np
import pytest

from kerattn import attention_diagnostics as diagnostics


def test_uniform_attention_has_entropy_log_source_length():
    weights = np.full((3, 5), 0.2)
    np.testing.assert_allclose(diagnostics.row_entropies(weights), np.log(5) * np.ones(3))
    assert diagnostics.mean_entropy(weights) == pytest.approx(np.log(5))


def test_one_hot_rows_have_zero_entropy():
    assert diagnostics.mean_entropy(np.eye(4)) == 0.0


def test_hand_computed_entropy():
    weights = np.array([[0.5, 0.5, 0.0], [0.25, 0.25, 0.5]])
    expected = (np.log(2) + (0.5 * np.log(4) + 0.5 * np.log(2))) / 2
    assert diagnostics.mean_entropy(weights) == pytest.approx(expected)


def test_one_hot_diagonal_is_monotonic_and_on_the_diagonal():
    weights = np.eye(6)
    assert diagnostics.monotonicity(weights) == 1.0
    assert diagnostics.diagonal_deviation(weights) == 0.0


def test_stretched_diagonal_is_on_the_length_scaled_diagonal():
    # 3 output steps over 5 source tokens: positions 0, 2, 4 are exactly on the diagonal.
    weights = np.zeros((3, 5))
    weights[[0, 1, 2], [0, 2, 4]] = 1.0
    assert diagnostics.diagonal_deviation(weights) == 0.0


def test_reversed_alignment_moves_backwards_and_is_far_from_the_diagonal():
    weights = np.eye(5)[::-1]
    assert diagnostics.monotonicity(weights) == 0.0
    # |a/4 - t/4| for a = 4 - t: 1, .5, 0, .5, 1 -> mean .6
    assert diagnostics.diagonal_deviation(weights) == pytest.approx(0.6)


def test_monotonicity_counts_backward_moves():
    positions = [0, 2, 1, 3, 3]  # transitions: up, down, up, stay -> 3 of 4 not backwards
    weights = np.eye(4)[positions]
    assert diagnostics.monotonicity(weights) == pytest.approx(0.75)
    assert diagnostics.monotonicity(np.eye(4)[:1]) == 1.0


def test_late_source_share():
    at_end = np.zeros((4, 10))
    at_end[:, -1] = 1.0
    assert diagnostics.late_source_share(at_end) == 1.0
    at_start = np.zeros((4, 10))
    at_start[:, 0] = 1.0
    assert diagnostics.late_source_share(at_start) == 0.0
    # Uniform over 10: the last 2 positions hold 1/5 of the mass.
    assert diagnostics.late_source_share(np.full((2, 10), 0.1)) == pytest.approx(0.2)
    # Over 3 tokens the last fifth rounds up to the last token.
    assert diagnostics.late_source_share(np.full((1, 3), 1 / 3)) == pytest.approx(1 / 3)


def test_classifier_row_vector_and_summary():
    summary = diagnostics.summarize(np.array([0.0, 0.0, 1.0]), translation=False)
    assert summary == {"entropy": 0.0, "late_source_share": 1.0}
    assert set(diagnostics.summarize(np.eye(3))) == {
        "entropy",
        "late_source_share",
        "monotonicity",
        "diagonal_deviation",
    }


def test_bad_shape_is_refused():
    with pytest.raises(ValueError, match=r"shape \(T, S\)"):
        diagnostics.mean_entropy(np.zeros((2, 2, 2)))
