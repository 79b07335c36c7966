"""One evaluation of any fitted rule on any task: the row every lesson and the capstone share.

``evaluate(scorer, task)`` scores the task's test set once and gives the threshold-free
AUROC (known vs unknown test samples) and OSCR, the closed-set accuracy on the known test
samples, TNR at 95% TPR, and macro-F1 over the known classes + "unknown" at a threshold
chosen on known validation data only (``"val95"``: the novelty that keeps 95% of them).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import metrics
from .data import OpenSetSplit
from .scoring import Scorer

#: Threshold policies that :func:`evaluate` knows by name: the share of known validation
#: samples the threshold keeps.
THRESHOLD_POLICIES = {"val95": 0.95, "val90": 0.90, "val99": 0.99}


@dataclass(frozen=True)
class OpenSetResult:
    """One rule on one task. The metrics are numbers (``as_dict``); ``pred`` and
    ``novelty`` are the test scores they came from (for plots and widgets)."""

    name: str
    auroc: float
    oscr: float
    macro_f1: float
    closed_accuracy: float
    tnr_at_95tpr: float
    threshold: float
    pred: np.ndarray = field(repr=False)
    novelty: np.ndarray = field(repr=False)

    def as_dict(self) -> dict[str, float]:
        """The metrics by name (the columns of results tables)."""
        return {"auroc": self.auroc, "oscr": self.oscr, "macro_f1": self.macro_f1,
                "closed_accuracy": self.closed_accuracy, "tnr_at_95tpr": self.tnr_at_95tpr,
                "threshold": self.threshold}

    def decisions(self, threshold: float | None = None) -> np.ndarray:
        """Test labels with −1 where the rule rejects, at ``threshold`` (default: the result's)."""
        return metrics.predict_with_rejection(self.pred, self.novelty, self.threshold if threshold is None else threshold)


def pick_task_threshold(scorer: Scorer, task: OpenSetSplit, threshold: str | float = "val95") -> float:
    """A raw novelty threshold: a number as given, or a policy of :data:`THRESHOLD_POLICIES`
    applied to the scores of the task's known validation samples."""
    if isinstance(threshold, str):
        if threshold not in THRESHOLD_POLICIES:
            raise ValueError(f"unknown threshold policy {threshold!r}; use one of {sorted(THRESHOLD_POLICIES)} "
                             f"or a number (a raw novelty threshold)")
        if len(task.y_val) == 0:
            raise ValueError(f"the task has no validation samples to pick a {threshold!r} threshold on; "
                             f"give a number instead")
        return metrics.pick_threshold(scorer.score(task.X_val)[1], keep=THRESHOLD_POLICIES[threshold])
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.integer, np.floating)):
        raise ValueError(f"threshold must be a policy name or a number, got {threshold!r}")
    return float(threshold)


def evaluate(scorer: Scorer, task: OpenSetSplit, *, threshold: str | float = "val95") -> OpenSetResult:
    """Score ``task.X_test`` with a fitted ``scorer`` and compute the metrics of
    :class:`OpenSetResult`; ``threshold`` is a policy (:data:`THRESHOLD_POLICIES`) or a
    raw novelty threshold."""
    y = np.asarray(task.y_test)
    known = y >= 0
    if known.all() or not known.any():
        raise ValueError("evaluate needs known (label >= 0) and unknown (label −1) test samples")
    t = pick_task_threshold(scorer, task, threshold)
    pred, novelty = scorer.score(task.X_test)
    decided = metrics.predict_with_rejection(pred, novelty, t)
    return OpenSetResult(
        name=scorer.name,
        auroc=metrics.auroc(novelty[known], novelty[~known]),
        oscr=metrics.oscr(y, pred, novelty),
        macro_f1=metrics.macro_f1(y, decided, task.num_known),
        closed_accuracy=float(np.mean(pred[known] == y[known])),
        tnr_at_95tpr=metrics.tnr_at_tpr(novelty[known], novelty[~known], 0.95),
        threshold=t, pred=pred, novelty=novelty)
