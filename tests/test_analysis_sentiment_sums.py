"""The sentiment model's sums of word and bigram weights, added by numpy for a whole batch: the same floats, to the
bit, as Python's sum() of each post's weights in order (the logits, scores and labels of posts stay as they were)."""

from __future__ import annotations

import random

import numpy as np

from analysis.sentiment import _sums_in_order


def test_segment_sums_add_in_order_to_the_bit() -> None:
    rng = random.Random(2)
    for _ in range(200):
        # Lengths on both sides of each power of two (rows are grouped by bit length), empty segments among them;
        # values of very different sizes, so that another order of additions would round otherwise; zeros of both signs.
        lengths = [rng.choice([0, 0, 1, 2, 3, 7, 8, 9, 16, 17, 100, 1000]) for _ in range(rng.randint(0, 40))]
        values = [complex(rng.choice([-0.0, 0.0, rng.uniform(-5, 5), rng.uniform(-1e-8, 1e-8), rng.uniform(-1e8, 1e8)]),
                          rng.choice([-0.0, rng.gauss(0, 3)])) for _ in range(sum(lengths))]
        ends = np.cumsum(np.array(lengths, dtype=np.intp))
        starts = ends - np.array(lengths, dtype=np.intp)
        found = _sums_in_order(np.array(values, dtype=np.complex128), starts, ends)
        expected = [sum(values[start:end], 0j) for start, end in zip(starts.tolist(), ends.tolist(), strict=True)]
        assert [repr(value) for value in found] == [repr(value) for value in expected]  # repr tells -0.0 from 0.0


def test_pairwise_summation_would_not_do() -> None:
    # What the test above guards against: numpy's own sum of the same values is another float.
    values = np.array([1e16, 1.0, -1e16, 1.0] * 5, dtype=np.complex128)
    assert complex(values.sum()) != sum(values.tolist(), 0j)
    assert _sums_in_order(values, np.array([0]), np.array([values.size])) == [sum(values.tolist(), 0j)]
