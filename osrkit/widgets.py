"""The shared threshold explorers: one rule's (:func:`threshold_explorer`) and several rules'
(:func:`rule_threshold_explorer`).

Each widget has three layers (DESIGN.md, "Widgets"):

1. a pure function, numbers in → a report of numbers out (tested by pytest);
2. a draw function, report → matplotlib figure (called plainly after each widget cell,
   so a headless run still shows the figure), built as a :class:`osrkit.explorer.LiveFigure`
   that the explorer updates in place;
3. the explorer, controls → (1) and (2) (:class:`osrkit.explorer.Explorer`).

The lessons' own explorers live with their method (``osrkit.methods``) or study
(``osrkit.studies``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np

import ipywidgets as w

from . import metrics, plots
from .explorer import Explorer, KeyedFigure, LiveFigure, numbers_title, quantile_slider


@dataclass
class ThresholdReport:
    """Everything the threshold explorer shows at one threshold (reject novelty > t)."""

    threshold: float
    known_accepted: float        # fraction of known samples accepted (TPR of knowns)
    unknown_rejected: float      # fraction of unknown samples rejected (TNR)
    accuracy: float              # thresholded (open-set) accuracy over all samples
    macro_f1: float              # over the C known classes + unknown
    auroc: float
    confusion: np.ndarray        # (C+1)×(C+1), rows true, columns predicted, unknown last
    labels: list[str]
    roc_fpr: np.ndarray
    roc_tpr: np.ndarray

    @property
    def operating_point(self) -> tuple[float, float]:
        """(known rejected, unknown rejected): this threshold on the ROC curve."""
        return 1.0 - self.known_accepted, self.unknown_rejected

    def summary(self) -> dict[str, float]:
        return {"threshold": self.threshold, "known accepted": self.known_accepted,
                "unknown rejected": self.unknown_rejected, "accuracy": self.accuracy,
                "macro-F1": self.macro_f1, "AUROC": self.auroc}


def threshold_report(y_true: np.ndarray, pred: np.ndarray, novelty: np.ndarray, threshold: float, *,
                     num_known: int | None = None, class_names: Sequence[str] | None = None) -> ThresholdReport:
    """The numbers of the threshold explorer: y_true uses −1 for unknown samples."""
    from sklearn.metrics import confusion_matrix

    y_true, pred, novelty = np.asarray(y_true), np.asarray(pred), np.asarray(novelty, dtype=np.float64)
    is_unknown = y_true == metrics.UNKNOWN
    if is_unknown.all() or not is_unknown.any():
        raise ValueError("the threshold explorer needs both known (label >= 0) and unknown (label −1) samples")
    if num_known is None:
        num_known = int(max(y_true.max(), pred.max())) + 1
    decided = metrics.predict_with_rejection(pred, novelty, threshold)
    labels_idx = list(range(num_known)) + [metrics.UNKNOWN]
    names = list(class_names) if class_names is not None else [str(k) for k in range(num_known)]
    if len(names) != num_known:
        raise ValueError(f"class_names has {len(names)} names for {num_known} known classes")
    fpr, tpr, _ = metrics.roc_curve_points(novelty[~is_unknown], novelty[is_unknown])
    return ThresholdReport(
        threshold=float(threshold),
        known_accepted=float(np.mean(novelty[~is_unknown] <= threshold)),
        unknown_rejected=float(np.mean(novelty[is_unknown] > threshold)),
        accuracy=metrics.thresholded_accuracy(y_true, pred, novelty, threshold),
        macro_f1=metrics.macro_f1(y_true, decided, num_known),
        auroc=metrics.auroc(novelty[~is_unknown], novelty[is_unknown]),
        confusion=confusion_matrix(y_true, decided, labels=labels_idx),
        labels=names + ["unknown"],
        roc_fpr=fpr, roc_tpr=tpr)


class ThresholdFigure(LiveFigure):
    """Histograms with the threshold, ROC with the operating point, confusion matrix; a
    new threshold moves the line and the point and rewrites the matrix in place."""

    def __init__(self, report: ThresholdReport, y_true: np.ndarray, novelty: np.ndarray, *,
                 native_name: str | None = None, to_native: Callable[[np.ndarray], np.ndarray] | None = None,
                 title: str = "") -> None:
        y_true, novelty = np.asarray(y_true), np.asarray(novelty)
        unknown = y_true == metrics.UNKNOWN
        fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
        plots.plot_score_histograms(novelty[~unknown], novelty[unknown], report.threshold, ax=axes[0])
        plots.plot_roc(report.roc_fpr, report.roc_tpr, operating_point=report.operating_point,
                       auc=report.auroc, ax=axes[1])
        plots.plot_confusion(report.confusion, report.labels, ax=axes[2], title="at this threshold")
        self.native_name, self.to_native, self.title, self.axes = native_name, to_native, title, axes
        self.line, self.point = axes[0].lines[-1], axes[1].lines[-1]
        fig.suptitle(self._title(report), fontsize=10)
        fig.tight_layout()
        super().__init__(fig, [self.line, self.point, fig._suptitle,
                               *plots.update_confusion(axes[2], report.confusion)])

    def update(self, report: ThresholdReport) -> bool:
        self.line.set_xdata([report.threshold, report.threshold])
        self.point.set_data(*[[v] for v in report.operating_point])
        plots.update_confusion(self.axes[2], report.confusion)
        self.fig._suptitle.set_text(self._title(report))
        return False

    def _title(self, report: ThresholdReport) -> str:
        return numbers_title(threshold_numbers(report, self.native_name, self.to_native), self.title)


def draw_threshold_report(report: ThresholdReport, y_true: np.ndarray, novelty: np.ndarray, *,
                          native_name: str | None = None,
                          to_native: Callable[[np.ndarray], np.ndarray] | None = None,
                          title: str = "") -> plt.Figure:
    """Histograms with the threshold, ROC with the operating point, confusion matrix;
    ``title`` (e.g. the rule's name) leads the line of numbers above them."""
    return ThresholdFigure(report, y_true, novelty, native_name=native_name, to_native=to_native, title=title).fig


def threshold_numbers(report: ThresholdReport, native_name: str | None = None,
                      to_native: Callable[[np.ndarray], np.ndarray] | None = None) -> dict[str, str]:
    """The explorer's printed numbers at one threshold."""
    numbers = {"threshold": f"{report.threshold:.4g}"}
    if native_name and to_native is not None:
        numbers[native_name] = f"{float(to_native(np.array([report.threshold]))[0]):.4g}"
    numbers.update({"known accepted": f"{report.known_accepted:.1%}", "unknown rejected": f"{report.unknown_rejected:.1%}",
                    "accuracy": f"{report.accuracy:.3f}", "macro-F1": f"{report.macro_f1:.3f}",
                    "AUROC": f"{report.auroc:.3f}"})
    return numbers


def threshold_explorer(y_true: np.ndarray, pred: np.ndarray, novelty: np.ndarray, *,
                       class_names: Sequence[str] | None = None, native_name: str | None = None,
                       to_native: Callable[[np.ndarray], np.ndarray] | None = None,
                       initial: float | None = None) -> Explorer:
    """A threshold slider over the quantiles of the novelty (:func:`osrkit.explorer.quantile_slider`)
    driving :func:`threshold_report` (reject novelty > threshold)."""
    novelty = np.asarray(novelty, dtype=np.float64)
    slider = quantile_slider(novelty, value=initial)
    return Explorer(
        [slider], lambda t: threshold_report(y_true, pred, novelty, t, class_names=class_names),
        lambda r: ThresholdFigure(r, y_true, novelty, native_name=native_name, to_native=to_native),
        lambda r: threshold_numbers(r, native_name, to_native), name="threshold").show()


def rule_report(choices: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], rule: str, percentile: float, *,
                class_names: Sequence[str] | None = None) -> ThresholdReport:
    """The threshold explorer of one of several rules: ``choices`` maps a rule name to
    (y_true, pred, novelty) on the same test set; the threshold is the ``percentile``-th
    percentile of that rule's test novelty, so one slider means the same rejection rate
    for rules whose scores live on different scales."""
    if rule not in choices:
        raise ValueError(f"unknown rule {rule!r}; choose one of {list(choices)}")
    if not 0 <= percentile <= 100:
        raise ValueError(f"percentile must be in [0, 100], got {percentile}")
    y_true, pred, novelty = choices[rule]
    threshold = float(np.percentile(np.asarray(novelty, dtype=np.float64), percentile))
    return threshold_report(y_true, pred, novelty, threshold, class_names=class_names)


def _rule_figure(report: ThresholdReport, choices: dict, rule: str) -> ThresholdFigure:
    y_true, _, novelty = choices[rule]
    return ThresholdFigure(report, y_true, novelty, title=rule)


def draw_rule_report(report: ThresholdReport, choices: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
                     rule: str) -> plt.Figure:
    """:func:`draw_threshold_report` for the chosen rule, titled with its name."""
    return _rule_figure(report, choices, rule).fig


def rule_threshold_explorer(choices: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], *,
                            class_names: Sequence[str] | None = None, initial: str | None = None,
                            percentile: float = 50.0) -> Explorer:
    """A dropdown that swaps the rule and a slider over the percentile of its test novelty
    (reject the samples above it), driving :func:`rule_report`."""
    rule = w.Dropdown(options=list(choices), value=initial or next(iter(choices)), description="rule")
    slider = w.FloatSlider(value=percentile, min=0.0, max=100.0, step=0.5, description="percentile",
                           readout_format=".1f", continuous_update=False, layout=w.Layout(width="60%"))
    return Explorer(
        [rule, slider], lambda name, pct: (name, rule_report(choices, name, pct, class_names=class_names)),
        lambda r: KeyedFigure(lambda name, rep: _rule_figure(rep, choices, name), r),
        lambda r: {"rule": r[0], **threshold_numbers(r[1])}, name="rule threshold").show()
