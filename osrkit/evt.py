"""Extreme-value theory for open-set recognition: Weibull models of the largest distances
to a class's mean, and the OpenMax recalibration built on them.

CROSR+EVT, the baseline of paper 000 (§5, threshold 0.5), and OpenMax, a baseline of
paper 001, both fit one Weibull per class to the *tail* of the training distances
between correctly classified samples and their class's mean activation vector; its CDF
at a new sample's distance is the probability that the sample lies beyond the class
(Bendale & Boult, 2016). libmr, the original fitter, no longer builds; scipy fits here.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.stats import weibull_min

from .data import known_labels


class OpenSetWarning(UserWarning):
    """A result was computed, but not the way the paper does it (e.g. too little data after
    a short training run); the message says what was done instead."""


def distances_to_centres(features: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Euclidean distance of each sample to each centre, shape (N, number of centres)."""
    F = np.asarray(features, dtype=np.float64)
    return np.linalg.norm(F[:, None, :] - np.asarray(centres)[None], axis=2)


@dataclass(frozen=True)
class Weibull:
    """A two-parameter Weibull (location 0): CDF 1 − exp(−(d/scale)^shape)."""

    shape: float
    scale: float

    def cdf(self, d: np.ndarray) -> np.ndarray:
        return weibull_min.cdf(np.asarray(d, dtype=np.float64), self.shape, loc=0.0, scale=self.scale)


def fit_weibull(samples: np.ndarray) -> Weibull:
    """Maximum-likelihood Weibull (location fixed at 0) of positive samples."""
    x = np.asarray(samples, dtype=np.float64).ravel()
    if len(x) < 3 or not np.all(np.isfinite(x)) or np.any(x <= 0):
        raise ValueError(f"need at least 3 finite positive samples to fit a Weibull, got {len(x)} "
                         f"(min {x.min() if len(x) else 'n/a'})")
    shape, _, scale = weibull_min.fit(x, floc=0.0)
    return Weibull(float(shape), float(scale))


def fit_weibull_tail(distances: np.ndarray, tail_size: int = 20) -> Weibull:
    """The Weibull of the ``tail_size`` largest distances (libmr's ``FitHigh``): its CDF is
    ≈ 0 inside the class and rises to 1 past the farthest training samples."""
    d = np.sort(np.asarray(distances, dtype=np.float64).ravel())
    if tail_size < 3:
        raise ValueError(f"tail_size must be at least 3, got {tail_size}")
    if len(d) < tail_size:
        raise ValueError(f"only {len(d)} distances for a tail of {tail_size}: lower tail_size or give more samples")
    return fit_weibull(d[-tail_size:])


def class_means(features: np.ndarray, labels: np.ndarray, predicted: np.ndarray | None = None,
                min_samples: int = 1) -> tuple[np.ndarray, list[np.ndarray]]:
    """Mean vector of each known class 0..C−1 and the features it averaged. ``predicted``
    keeps only the correctly classified samples: OpenMax's mean activation vectors, and the
    anchors of a CAC network after training (paper 001 §3.3). A class with fewer than
    ``min_samples`` correctly classified samples (a short training run) falls back to all
    its samples, with a warning that says so."""
    F, y = np.asarray(features, dtype=np.float64), np.asarray(labels)
    keep = np.ones(len(y), bool) if predicted is None else np.asarray(predicted) == y
    means, members, short = [], [], []
    for c in known_labels(y):
        Fc = F[keep & (y == c)]
        if predicted is not None and len(Fc) < max(1, min_samples):
            short.append(f"class {c} has {len(Fc)} of {np.sum(y == c)}")
            Fc = F[y == c]
        means.append(Fc.mean(0))
        members.append(Fc)
    if short:
        warnings.warn(f"too few correctly classified training samples (at least {max(1, min_samples)} wanted per "
                      f"class): {', '.join(short)}; those classes' means are taken over all their samples instead. "
                      f"Train longer for the paper's estimate", OpenSetWarning, stacklevel=2)
    return np.stack(means), members


class ClassMeanEVT:
    """Per-class mean vectors of correctly classified training features and one Weibull
    tail per class on the Euclidean distances to that mean (CROSR's EVT on [y, z]; OpenMax
    on logits)."""

    def __init__(self, tail_size: int = 20) -> None:
        self.tail_size = tail_size
        self.means: np.ndarray | None = None
        self.weibulls: list[Weibull] = []

    def fit(self, features: np.ndarray, labels: np.ndarray, predicted: np.ndarray | None = None) -> "ClassMeanEVT":
        """``predicted`` (optional) keeps only the correctly classified samples, as OpenMax does.
        A class with fewer than ``tail_size`` of them gets a shorter tail, with a warning."""
        self.means, members = class_means(features, labels, predicted, min_samples=3)
        self.weibulls = []
        for c, (mean, Fc) in enumerate(zip(self.means, members)):
            tail = self.tail_size
            if len(Fc) < 3:
                raise ValueError(f"class {c} has {len(Fc)} training samples; a Weibull tail needs at least 3: "
                                 f"give more training data")
            if len(Fc) < tail:
                tail = len(Fc)
                warnings.warn(f"class {c} keeps {len(Fc)} training samples for a Weibull tail of {self.tail_size}: "
                              f"its tail is fitted on all {len(Fc)} (train longer or give more training data for the "
                              f"paper's fit)",
                              OpenSetWarning, stacklevel=2)
            self.weibulls.append(fit_weibull_tail(np.linalg.norm(Fc - mean, axis=1), tail))
        return self

    def distances(self, features: np.ndarray) -> np.ndarray:
        """Euclidean distance of each sample to each class mean, shape (N, C)."""
        if self.means is None:
            raise RuntimeError("ClassMeanEVT is not fitted: call .fit(features, labels) first")
        return distances_to_centres(features, self.means)

    def outlier_probability(self, features: np.ndarray) -> np.ndarray:
        """w_c(x) = Weibull_c CDF of the distance to class c's mean, shape (N, C)."""
        d = self.distances(features)
        return np.stack([w.cdf(d[:, c]) for c, w in enumerate(self.weibulls)], axis=1)


def openmax_recalibrate(logits: np.ndarray, outlier_probability: np.ndarray, alpha: int = 10) -> np.ndarray:
    """OpenMax (Bendale & Boult 2016, Alg. 2): the top-``alpha`` logits of each sample are
    damped by ω_c = 1 − ((α − r)/α)·w_c (rank r = 0 for the largest), the removed mass
    becomes an "unknown" logit, and a softmax over C + 1 outputs follows. Returns
    probabilities of shape (N, C + 1); the last column is the unknown class."""
    v = np.asarray(logits, dtype=np.float64)
    w = np.asarray(outlier_probability, dtype=np.float64)
    if v.shape != w.shape or v.ndim != 2:
        raise ValueError(f"logits and outlier probabilities must both be (N, C), got {v.shape} and {w.shape}")
    alpha = int(min(alpha, v.shape[1]))
    if alpha < 1:
        raise ValueError(f"alpha must be >= 1, got {alpha}")
    order = np.argsort(-v, axis=1)[:, :alpha]
    damp = np.zeros_like(v)
    rows = np.arange(len(v))[:, None]
    damp[rows, order] = (alpha - np.arange(alpha)) / alpha * w[rows, order]
    revised = v * (1.0 - damp)
    unknown = (v * damp).sum(1, keepdims=True)
    z = np.concatenate([revised, unknown], axis=1)
    z -= z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)
