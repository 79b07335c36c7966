"""Evaluating an open-set rule the way paper 000 does (§5): pick the threshold on known
validation data only, then report test macro-F1 as unknown classes join one by one.

A nearest-centroid rule (NC-D, NC-U) gets its τ from the saturation of the validation
F1 curve (:func:`osrkit.metrics.saturation_threshold`); CROSR+EVT uses its fixed
threshold (0.5 on the inclusion probability).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from . import metrics
from .data import OpenSetSplit
from .scorers import Scorer


@dataclass
class RuleEvaluation:
    """One rule on one split: its validation F1 curve (None for a fixed threshold), the
    threshold used, the test scores and the test macro-F1 for Q = 0 … number of unknowns."""

    name: str
    threshold: float                       # on the raw novelty
    test_pred: np.ndarray
    test_novelty: np.ndarray
    f1_by_q: np.ndarray
    unknown_order: tuple[int, ...]
    val_tau: np.ndarray | None = None      # normalised τ grid (1 = every validation sample accepted)
    val_f1: np.ndarray | None = None
    scale: float | None = None             # raw threshold = normalised τ × scale
    picked_tau: float | None = None        # the saturation pick, normalised

    @property
    def mean_f1(self) -> float:
        """Test macro-F1 averaged over Q (the paper's "on average … for all Q ≥ 0")."""
        return float(np.mean(self.f1_by_q))

    def decisions(self, threshold: float | None = None) -> np.ndarray:
        """Test labels with −1 for rejected samples at ``threshold`` (raw; default: the rule's)."""
        return metrics.predict_with_rejection(self.test_pred, self.test_novelty,
                                              self.threshold if threshold is None else threshold)


def evaluate_rule(name: str, scorer: Scorer, split: OpenSetSplit, *, threshold: float | None = None,
                  unknown_order: Sequence[int] | None = None, eps1: float = 1.5, eps2: float = 0.4,
                  n_points: int = 201) -> RuleEvaluation:
    """Score validation and test data with a fitted ``scorer``; with ``threshold=None`` pick
    τ where the known-validation F1 saturates (ε1, ε2 of paper 000 §5.1), else use the
    given raw threshold. ``unknown_order`` (default: ascending labels) is the order in which
    unknown classes join the test set; the split must carry ``source_test``."""
    if split.source_test is None:
        raise ValueError("the split has no source_test labels: build it with data.open_set_split")
    order = tuple(sorted(split.unknown_classes) if unknown_order is None else unknown_order)
    num_known = split.num_known
    extra = {}
    if threshold is None:
        pred_val, nov_val = scorer.score(split.X_val)
        tau, f1, scale = metrics.validation_f1_curve(split.y_val, pred_val, nov_val, num_known=num_known,
                                                     n_points=n_points)
        picked = metrics.saturation_threshold(tau, f1, eps1, eps2)
        threshold = picked * scale
        extra = dict(val_tau=tau, val_f1=f1, scale=scale, picked_tau=picked)
    pred, novelty = scorer.score(split.X_test)
    decided = metrics.predict_with_rejection(pred, novelty, threshold)
    f1_by_q = metrics.f1_versus_unknowns(split.y_test, decided, split.source_test, order, num_known=num_known)
    return RuleEvaluation(name, float(threshold), pred, novelty, f1_by_q, order, **extra)
