"""Lesson 02 (paper 004, Table I and §IV-C): thresholded accuracy and the open-set F-measure."""
import numpy as np

from .. import metrics
from .core import Case, Exercise


def _accuracy_cases():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 10)
    pred = np.where(rng.random(10) < 0.8, y, (y + 1) % 3)
    y_open = np.concatenate([y, -np.ones(4, dtype=int)])
    pred_open = np.concatenate([pred, rng.integers(0, 3, 4)])
    return [Case("known samples only, threshold 0.1", (y, pred, rng.uniform(0, 0.2, 10), 0.1)),
            Case("known and unknown (−1) samples", (y_open, pred_open, rng.uniform(0, 1, 14), 0.5)),
            Case("novelty exactly at the threshold (accepted)", (np.array([0, 1, 2, -1]), np.array([0, 1, 1, 0]),
                                                                np.array([0.3, 0.3, 0.1, 0.3]), 0.3)),
            Case("everything rejected", (np.array([0, 1, -1]), np.array([0, 1, 0]), np.ones(3), 0.5))]


def _f_measure_cases():
    rng = np.random.default_rng(4)
    y = np.concatenate([rng.integers(0, 4, 12), -np.ones(6, dtype=int)])
    decided = np.where(rng.random(18) < 0.6, y, rng.integers(-1, 4, 18))
    return [Case("random decisions on knowns and unknowns", (y, decided)),
            Case("perfect decisions (F = 1)", (y, y.copy())),
            Case("every sample rejected (no true positive: F = 0)", (y, -np.ones(18, dtype=int))),
            Case("unknowns accepted as class 0, knowns right",
                 (np.array([0, 1, -1, -1]), np.array([0, 1, 0, 0]))),
            Case("knowns misclassified, unknowns rejected", (np.array([0, 1, 2, -1]), np.array([1, 1, 0, -1])))]


EXERCISES = [
    Exercise("02.thresholded_accuracy", "02",
             prompt="The share of samples handled correctly at a threshold: a known sample must get its class and "
                    "be accepted (novelty ≤ threshold), an unknown one (label −1) must be rejected.",
             signature="thresholded_accuracy(y_true, pred, novelty, threshold) -> float",
             hint="decided = np.where(novelty > threshold, -1, pred); then the mean of decided == y_true "
                  "(novelty equal to the threshold is accepted).",
             solution=metrics.thresholded_accuracy, cases=_accuracy_cases),
    Exercise("02.open_set_f_measure", "02",
             prompt="F = 2PR/(P + R) with open-set precision P = TP/(TP + FP) and recall R = TP/(TP + FN): TP = a known "
                    "sample given its class, FP = any sample given a wrong known class, FN = a known sample not given "
                    "its class; F = 0 when TP = 0.",
             signature="open_set_f_measure(y_true, y_decided) -> float",
             hint="a rejected unknown (−1 decided for −1) is neither TP nor FP; an accepted unknown is an FP; "
                  "a misclassified known is both an FP (wrong class given) and an FN.",
             solution=metrics.open_set_f_measure, cases=_f_measure_cases),
]
