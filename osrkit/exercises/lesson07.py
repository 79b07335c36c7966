"""Lesson 07 (the capstone's metrics): AUROC and OSCR from novelty scores."""
import numpy as np

from .. import metrics
from .core import Case, Exercise


def _auroc_cases():
    rng = np.random.default_rng(14)
    return [Case("random scores, 8 knowns and 6 unknowns", (rng.normal(0, 1, 8), rng.normal(1, 1, 6))),
            Case("ties: every score equal (0.5)", (np.ones(4), np.ones(3))),
            Case("perfect separation (1.0)", (np.array([0.1, 0.2]), np.array([0.5, 0.9, 0.7]))),
            Case("reversed (0.0)", (np.array([5.0, 6.0]), np.array([1.0, 2.0]))),
            Case("some ties between a known and an unknown", (np.array([0.1, 0.4, 0.4]), np.array([0.4, 0.8])))]


def _oscr_cases():
    rng = np.random.default_rng(15)
    y = np.concatenate([rng.integers(0, 3, 10), -np.ones(6, dtype=int)])
    pred = np.where(rng.random(16) < 0.8, np.maximum(y, 0), rng.integers(0, 3, 16))
    novelty = np.where(y < 0, rng.normal(1, 1, 16), rng.normal(0, 1, 16))
    return [Case("random scores, 10 knowns and 6 unknowns", (y, pred, novelty)),
            Case("ties in the novelty (moved together)", (y, pred, np.round(novelty))),
            Case("every known correct and separated (OSCR = 1)", (np.array([0, 1, -1, -1]), np.array([0, 1, 0, 1]),
                                                                  np.array([0.1, 0.2, 0.8, 0.9]))),
            Case("a wrong known class caps the curve", (np.array([0, 1, 1, -1]), np.array([0, 0, 1, 0]),
                                                        np.array([0.1, 0.2, 0.3, 0.5])))]


EXERCISES = [
    Exercise("07.auroc", "07",
             prompt="AUROC of novelty scores, unknown = positive: the probability that a random unknown sample scores "
                    "higher than a random known one, ties counting one half.",
             signature="auroc(novelty_known, novelty_unknown) -> float",
             hint="compare every pair: (u[None, :] > k[:, None]).mean() + 0.5 * (u[None, :] == k[:, None]).mean().",
             solution=metrics.auroc, cases=_auroc_cases),
    Exercise("07.oscr", "07",
             prompt="OSCR: the area under the curve of the correct-classification rate of knowns (right class and "
                    "novelty ≤ t) against the false-positive rate of unknowns (novelty ≤ t), as t sweeps over every "
                    "distinct novelty value, starting from (0, 0).",
             signature="oscr(y_true, pred, novelty) -> float",
             hint="for t in np.unique(novelty): ccr = mean over knowns of (pred == y) & (novelty <= t), fpr = mean over "
                  "unknowns of (novelty <= t); prepend (0, 0) and integrate with np.trapezoid(ccr, fpr). Equal "
                  "novelties must move together (one point per distinct value).",
             solution=metrics.oscr, cases=_oscr_cases),
]
