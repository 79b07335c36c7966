"""The shared threshold explorer and the slider panel every lesson widget is built on.

Each widget has three layers (DESIGN.md, "Widgets"):

1. a pure function, numbers in → a report of numbers out (tested by pytest);
2. a draw function, report → matplotlib figure (called plainly after each widget cell,
   so a headless run still shows the figure);
3. the ipywidgets wrapper, sliders → (1) and (2) in an Output area (:func:`slider_panel`).

ipywidgets swallows exceptions raised in callbacks, so the panel prints them into the
output area instead of failing silently. The lessons' own explorers live with their
method (``osrkit.methods``) or study (``osrkit.studies``).
"""
from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np

from . import metrics, plots


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


def draw_threshold_report(report: ThresholdReport, y_true: np.ndarray, novelty: np.ndarray, *,
                          native_name: str | None = None,
                          to_native: Callable[[np.ndarray], np.ndarray] | None = None,
                          title: str = "") -> plt.Figure:
    """Histograms with the threshold, ROC with the operating point, confusion matrix;
    ``title`` (e.g. the rule's name) leads the line of numbers above them."""
    y_true, novelty = np.asarray(y_true), np.asarray(novelty)
    unknown = y_true == metrics.UNKNOWN
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    plots.plot_score_histograms(novelty[~unknown], novelty[unknown], report.threshold, ax=axes[0])
    plots.plot_roc(report.roc_fpr, report.roc_tpr, operating_point=report.operating_point,
                   auc=report.auroc, ax=axes[1])
    plots.plot_confusion(report.confusion, report.labels, ax=axes[2], title="at this threshold")
    text = (f"threshold {report.threshold:.4g}  |  known accepted {report.known_accepted:.1%}  |  "
            f"unknown rejected {report.unknown_rejected:.1%}  |  accuracy {report.accuracy:.3f}  |  "
            f"macro-F1 {report.macro_f1:.3f}")
    if native_name and to_native is not None:
        text += f"  |  {native_name} = {float(to_native(np.array([report.threshold]))[0]):.4g}"
    fig.suptitle(f"{title}: {text}" if title else text, fontsize=10)
    fig.tight_layout()
    return fig


def threshold_explorer(y_true: np.ndarray, pred: np.ndarray, novelty: np.ndarray, *,
                       class_names: Sequence[str] | None = None, native_name: str | None = None,
                       to_native: Callable[[np.ndarray], np.ndarray] | None = None,
                       initial: float | None = None):
    """A threshold slider over the novelty range driving :func:`threshold_report`."""
    import ipywidgets as w

    novelty = np.asarray(novelty, dtype=np.float64)
    lo, hi = float(novelty.min()), float(novelty.max())
    start = float(np.median(novelty)) if initial is None else float(initial)
    slider = w.FloatSlider(value=start, min=lo, max=hi, step=(hi - lo) / 200 or 1e-3,
                           description="threshold", readout_format=".4g", continuous_update=False,
                           layout=w.Layout(width="60%"))

    def draw(threshold: float) -> None:
        report = threshold_report(y_true, pred, novelty, threshold, class_names=class_names)
        draw_threshold_report(report, y_true, novelty, native_name=native_name, to_native=to_native)

    return slider_panel([slider], draw)


def slider_panel(sliders: list, draw: Callable[..., None]):
    """Sliders above an Output area; ``draw(*values)`` runs on every change and its
    errors are printed in the output area (ipywidgets would swallow them)."""
    import ipywidgets as w
    from IPython.display import display

    out = w.Output()

    def refresh(_change=None) -> None:
        with out:
            out.clear_output(wait=True)
            try:
                draw(*[s.value for s in sliders])
                plt.show()
            except Exception:  # shown to the student instead of vanishing
                traceback.print_exc()

    for s in sliders:
        s.observe(refresh, names="value")
    refresh()
    panel = w.VBox([*sliders, out])
    display(panel)
    return panel


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


def draw_rule_report(report: ThresholdReport, choices: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
                     rule: str) -> plt.Figure:
    """:func:`draw_threshold_report` for the chosen rule, titled with its name."""
    y_true, _, novelty = choices[rule]
    return draw_threshold_report(report, y_true, novelty, title=rule)


def rule_threshold_explorer(choices: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], *,
                            class_names: Sequence[str] | None = None, initial: str | None = None,
                            percentile: float = 50.0):
    """A dropdown that swaps the rule and a slider over the percentile of its test novelty
    (reject the samples above it), driving :func:`rule_report`."""
    import ipywidgets as w

    rule = w.Dropdown(options=list(choices), value=initial or next(iter(choices)), description="rule")
    slider = w.FloatSlider(value=percentile, min=0.0, max=100.0, step=0.5, description="percentile",
                           readout_format=".1f", continuous_update=False, layout=w.Layout(width="60%"))

    def draw(name: str, pct: float) -> None:
        draw_rule_report(rule_report(choices, name, pct, class_names=class_names), choices, name)

    return slider_panel([rule, slider], draw)
