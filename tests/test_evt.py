import math

import numpy as np
import pytest

from osrkit import evt


def test_weibull_fit_recovers_known_shape_and_scale():
    rng = np.random.default_rng(0)
    samples = 3.0 * rng.weibull(2.0, size=5000)      # numpy's Weibull has scale 1
    fit = evt.fit_weibull(samples)
    assert fit.shape == pytest.approx(2.0, rel=0.05) and fit.scale == pytest.approx(3.0, rel=0.05)
    assert fit.cdf(3.0) == pytest.approx(1 - math.exp(-1.0), abs=0.02)


def test_weibull_fit_refuses_what_it_cannot_fit():
    with pytest.raises(ValueError, match="at least 3"):
        evt.fit_weibull([1.0, 2.0])
    with pytest.raises(ValueError, match="positive"):
        evt.fit_weibull([0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="lower tail_size"):
        evt.fit_weibull_tail(np.ones(5), tail_size=10)


def test_tail_fit_is_zero_inside_the_class_and_one_beyond_it():
    d = np.random.default_rng(1).chisquare(4, size=500) ** 0.5
    tail = evt.fit_weibull_tail(d, tail_size=20)
    assert tail.cdf(np.median(d)) < 0.01 and tail.cdf(2 * d.max()) > 0.99
    assert np.all(np.diff(tail.cdf(np.linspace(0, 3 * d.max(), 50))) >= 0)


def test_class_mean_evt_flags_far_points_and_uses_only_correct_samples():
    rng = np.random.default_rng(2)
    centers = np.array([[0.0, 0.0], [6.0, 0.0]])
    y = np.repeat([0, 1], 200)
    F = centers[y] + rng.normal(0, 0.5, (400, 2))
    model = evt.ClassMeanEVT(tail_size=20).fit(F, y)
    w = model.outlier_probability(F)
    assert np.mean(w[np.arange(400), y] < 0.5) > 0.95
    far = np.array([[3.0, 20.0], [-15.0, -15.0]])
    assert np.all(model.outlier_probability(far) > 0.99)
    # a sample labelled 0 but predicted 1 does not move class 0's mean
    F2, y2 = np.vstack([F, [[100.0, 100.0]]]), np.append(y, 0)
    pred = np.append(y, 1)
    assert np.allclose(evt.ClassMeanEVT(20).fit(F2, y2, predicted=pred).means, model.means)
    with pytest.raises(RuntimeError, match="not fitted"):
        evt.ClassMeanEVT().distances(F)


def test_openmax_recalibration_by_hand():
    p = evt.openmax_recalibrate(np.array([[2.0, 1.0, 0.0]]), np.array([[0.5, 0.0, 0.0]]), alpha=2)
    # ω = [1 − 0.5, 1 − 0, 1]: revised logits [1, 1, 0], unknown logit 2·0.5 = 1
    e = math.e
    assert p[0] == pytest.approx([e / (3 * e + 1), e / (3 * e + 1), 1 / (3 * e + 1), e / (3 * e + 1)])
    certain = evt.openmax_recalibrate(np.array([[2.0, 1.0, 0.0]]), np.zeros((1, 3)))
    z = np.exp([2.0, 1.0, 0.0, 0.0])
    assert certain[0] == pytest.approx(z / z.sum())
    with pytest.raises(ValueError, match=r"\(N, C\)"):
        evt.openmax_recalibrate(np.zeros((2, 3)), np.zeros((2, 4)))
