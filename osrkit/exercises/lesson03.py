"""Lesson 03 (paper 000, Algorithm 2 and §5.1): the NC-U score and the saturation pick of τ."""
import numpy as np

from .. import metrics
from ..scoring import nearest_centroid_novelty
from .core import Case, Exercise


def nc_uncertainty_reference(D):
    return nearest_centroid_novelty(D, "uncertainty")


def _nc_cases():
    rng = np.random.default_rng(5)
    return [Case("5 samples, 4 centroids", (rng.uniform(0.5, 4, (5, 4)),)),
            Case("a sample on a centroid (U = 0)", (np.array([[0.0, 2.0, 3.0], [1.0, 1.5, 2.0]]),)),
            Case("ties: all centroids equally far (U = 1)", (np.full((2, 3), 2.5),)),
            Case("two centroids", (rng.uniform(0.1, 3, (4, 2)),)),
            Case("an empty batch", (np.zeros((0, 3)),))]


def _curve(tau, centre, width, top=0.9):
    return top / (1 + np.exp(-(tau - centre) / width))


def _saturation_cases():
    tau = np.linspace(0, 1, 101)
    stairs = np.floor(_curve(tau, 0.3, 0.06) * 20) / 20
    return [Case("a smooth F1 curve rising around τ = 0.3", (tau, _curve(tau, 0.3, 0.05))),
            Case("a staircase curve (a finite validation set)", (tau, stairs)),
            Case("a curve that rises and never flattens (gives the last τ)", (tau, 1.2 * tau ** 3)),
            Case("other ε1 and ε2", (tau, _curve(tau, 0.5, 0.1)), {"eps1": 1.0, "eps2": 0.2})]


EXERCISES = [
    Exercise("03.nc_uncertainty", "03",
             prompt="NC-U (Algorithm 2): from the distances D (samples × centroids), U = d / mean distance to the other "
                    "N − 1 centroids, where d is the distance to the nearest centroid.",
             signature="nc_uncertainty(D: np.ndarray) -> np.ndarray",
             hint="d = D.min(axis=1); the other centroids' mean is (D.sum(axis=1) - d) / (D.shape[1] - 1) — "
                  "leave the nearest one out of the mean.",
             solution=nc_uncertainty_reference, cases=_nc_cases),
    Exercise("03.saturation_threshold", "03",
             prompt="The saturation pick of §5.1 on a validation F1 curve: with the forward difference "
                    "F1′(τ) = (F1(τ + h) − F1(τ))/h (h = step, F1 between grid points by np.interp, only τ ≤ τ_max − h), "
                    "τ̃ = the first τ with F1′ ≥ ε1, and the pick is the first τ after τ̃ with F1′ ≤ ε2 "
                    "(the last τ if there is none).",
             signature="saturation_threshold(tau, f1, eps1=1.5, eps2=0.4, step=0.05) -> float",
             hint="inside = tau <= tau[-1] - step + 1e-12; slope = (np.interp(tau[inside] + step, tau, f1) - "
                  "f1[inside]) / step; then np.flatnonzero for the two conditions. A step of one grid point "
                  "(np.diff) is not h.",
             solution=metrics.saturation_threshold, cases=_saturation_cases),
]
