"""Paper 000's comparison (§5, lesson 03): its open-set tasks, GMVAE (NC-U, NC-D) against
CROSR (NC-D, EVT), and its evaluation protocol.

Evaluating an open-set rule the way paper 000 does (§5): pick the threshold on known
validation data only, then report test macro-F1 as unknown classes join one by one.

A nearest-centroid rule (NC-D, NC-U) gets its τ from the saturation of the validation
F1 curve (:func:`osrkit.metrics.saturation_threshold`); CROSR+EVT uses its fixed
threshold (0.5 on the inclusion probability).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import ipywidgets as w
import matplotlib.pyplot as plt
import numpy as np

from .. import data, metrics, plots
from ..data import OpenSetSplit
from ..explorer import Explorer, KeyedFigure, LiveFigure, numbers_title
from ..methods import crosr, gmvae
from ..scoring import Scorer


#: The open-set tasks of paper 000 §5 on grey images: known classes (a tuple is one class
#: made of several labels), their names, and the validation share of the known training data.
GMVAE_TASKS = {
    # §5.3: "even" = {0, 2}, "odd" = {1, 3}; 4,000 of MNIST's ~24,700 known training digits validate
    "even_odd": {"known": [(0, 2), (1, 3)], "names": ["even", "odd"], "val_fraction": 4000 / 24754},
    # §5.1: six clothing classes known, sandals/sneakers/bags/ankle boots unknown; 6,000 of 36,000 validate
    "fashion_6_4": {"known": [0, 1, 2, 3, 4, 6], "names": ["t-shirt", "trouser", "pullover", "dress", "coat", "shirt"],
                    "val_fraction": 1 / 6},
}


def gmvae_task(task: str, dataset: str, *, seed: int = 0, root=None) -> data.OpenSetSplit:
    """The split of a paper-000 task (:data:`GMVAE_TASKS`). Offline pools (``mnist5k``)
    are cut into 60% train, 15% validation and 25% test per digit; the real datasets keep
    their official test set whole, as the paper does."""
    if task not in GMVAE_TASKS:
        raise ValueError(f"unknown task {task!r}; use one of {sorted(GMVAE_TASKS)}")
    spec = GMVAE_TASKS[task]
    offline = dataset in data.OFFLINE_DATASETS
    return data.load_task(dataset, spec["known"], val_fraction=0.2 if offline else spec["val_fraction"],
                          test_fraction=0.25, seed=seed, root=root)


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


@dataclass
class GMVAEComparison:
    """Paper 000's four combinations on one split: the trained GMVAE and DHRNet, each
    rule's fitted scorer and its :class:`osrkit.RuleEvaluation`."""

    gmvae: gmvae.SupervisedGMVAE
    dhrnet: crosr.DHRNet
    subclusters: tuple[int, ...]
    scorers: dict[str, Scorer]
    evaluations: dict[str, RuleEvaluation]

    def mean_f1(self) -> dict[str, float]:
        """Test macro-F1 averaged over Q for every rule."""
        return {name: ev.mean_f1 for name, ev in self.evaluations.items()}


def gmvae_vs_crosr(split: OpenSetSplit, subclusters, *, epochs: int, crosr_epochs: int, z_dim: int = 10,
                   hidden: Sequence[int] = (256, 128), batch_size: int = 64, lr: float = 1e-3,
                   evt_threshold: float = 0.5, seed: int = 0, device: str = "auto",
                   cache_dir: str | None = None, progress: bool = True) -> GMVAEComparison:
    """Train a supervised GMVAE (modified ELBO, K_c subclusters per class) and a DHRNet
    (cross-entropy + reconstruction), then evaluate GMVAE+NC-U, GMVAE+NC-D, CROSR+NC-D
    (τ from the saturation of the known-validation F1) and CROSR+EVT (inclusion
    probability threshold ``evt_threshold``, 0.5 in the paper). NC-D on CROSR uses the same
    K_c centroids per class as the GMVAE (Algorithm 1 takes K_c as input)."""
    gmvae_config = gmvae.GMVAEConfig(epochs=epochs, batch_size=batch_size, lr=lr, subclusters=subclusters,
                                     z_dim=z_dim, hidden=tuple(hidden))
    ks = gmvae_config.subclusters_per_class(split.num_known)
    common = dict(seed=seed, device=device, cache_dir=cache_dir, progress=progress)
    g_model = gmvae.train_gmvae(split, gmvae_config, **common)
    crosr_config = crosr.CROSRConfig(epochs=crosr_epochs, batch_size=batch_size, lr=lr, centroids_per_class=ks)
    dhrnet = crosr.train_dhrnet(split, crosr_config, **common)
    crosr_fitted = crosr.crosr_rules(dhrnet, split, crosr_config, seed=seed)
    fitted = {**gmvae.gmvae_rules(g_model, split, seed=seed), "CROSR+NC-D": crosr_fitted["CROSR+NC-D"],
              "CROSR+EVT": crosr_fitted["CROSR+EVT"]}
    evaluations = {name: evaluate_rule(name, sc, split, threshold=evt_threshold if name == "CROSR+EVT" else None)
                   for name, sc in fitted.items()}
    return GMVAEComparison(g_model, dhrnet, ks, fitted, evaluations)


@dataclass
class NCThresholdReport:
    """A rule's numbers at one normalised τ: validation F1 there, test macro-F1 with all
    unknown classes, the F1-versus-Q curve and the test confusion matrix."""

    tau: float
    val_f1: float
    test_macro_f1: float
    f1_by_q: np.ndarray
    confusion: np.ndarray
    labels: list[str]


def nc_threshold_report(evaluation, y_test: np.ndarray, source_test: np.ndarray, tau: float, *,
                        class_names: Sequence[str] | None = None) -> NCThresholdReport:
    """:class:`RuleEvaluation` of a validation-thresholded rule at
    normalised τ (raw threshold τ × scale)."""
    from sklearn.metrics import confusion_matrix

    if evaluation.val_tau is None:
        raise ValueError(f"{evaluation.name} has a fixed threshold, no validation F1 curve to explore")
    tau = float(tau)
    if not 0.0 <= tau <= 1.0:
        raise ValueError(f"the normalised τ lies in [0, 1], got {tau}")
    num_known = int(evaluation.test_pred.max()) + 1 if class_names is None else len(class_names)
    decided = evaluation.decisions(tau * evaluation.scale)
    names = list(class_names) if class_names is not None else [str(k) for k in range(num_known)]
    return NCThresholdReport(
        tau=tau, val_f1=float(np.interp(tau, evaluation.val_tau, evaluation.val_f1)),
        test_macro_f1=metrics.macro_f1(y_test, decided, num_known),
        f1_by_q=metrics.f1_versus_unknowns(y_test, decided, source_test, evaluation.unknown_order, num_known=num_known),
        confusion=confusion_matrix(y_test, decided, labels=list(range(num_known)) + [metrics.UNKNOWN]),
        labels=names + ["unknown"])


class NCThresholdFigure(LiveFigure):
    """Validation F1 against τ (picked τ dashed, this τ dotted), test F1 against Q at this τ
    and at the picked one, and the test confusion matrix at this τ; a new τ moves the
    dotted line and rewrites the F1 curve, its legend and the matrix in place."""

    def __init__(self, report: NCThresholdReport, evaluation) -> None:
        fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
        plots.plot_validation_f1(evaluation.val_tau, evaluation.val_f1, picked=evaluation.picked_tau,
                                 current=report.tau, ax=axes[0], label=evaluation.name)
        plots.plot_f1_versus_unknowns({f"τ = {report.tau:.2f}": report.f1_by_q,
                                       f"picked τ = {evaluation.picked_tau:.2f}": evaluation.f1_by_q}, ax=axes[1])
        plots.plot_confusion(report.confusion, report.labels, ax=axes[2], title="test, all unknown classes")
        self.evaluation, self.axes = evaluation, axes
        self.current, self.curve, self.legend = axes[0].lines[-1], axes[1].lines[0], axes[1].get_legend()
        fig.suptitle(numbers_title(nc_threshold_numbers(report, evaluation.name)), fontsize=10)
        fig.tight_layout()
        super().__init__(fig, [self.current, self.curve, self.legend, fig._suptitle,
                               *plots.update_confusion(axes[2], report.confusion)])

    def update(self, report: NCThresholdReport) -> bool:
        self.current.set_xdata([report.tau, report.tau])
        self.curve.set_ydata(report.f1_by_q)
        self.legend.get_texts()[0].set_text(f"τ = {report.tau:.2f} (mean {np.mean(report.f1_by_q):.2f})")  # as drawn
        plots.update_confusion(self.axes[2], report.confusion)
        self.fig._suptitle.set_text(numbers_title(nc_threshold_numbers(report, self.evaluation.name)))
        return False


def draw_nc_threshold_report(report: NCThresholdReport, evaluation) -> plt.Figure:
    """Validation F1 against τ (picked τ dashed, this τ dotted), test F1 against Q at this τ
    and at the picked one, and the test confusion matrix at this τ."""
    return NCThresholdFigure(report, evaluation).fig


def nc_threshold_numbers(report: NCThresholdReport, rule: str) -> dict[str, str]:
    """The NC threshold explorer's printed numbers."""
    return {"rule": rule, "τ": f"{report.tau:.3f}", "validation F1": f"{report.val_f1:.3f}",
            "test macro-F1": f"{report.test_macro_f1:.3f}", "mean over Q": f"{np.mean(report.f1_by_q):.3f}"}


def nc_threshold_explorer(evaluations: dict, y_test: np.ndarray, source_test: np.ndarray, *,
                          class_names: Sequence[str] | None = None) -> Explorer:
    """A rule selector (NC-D, NC-U, …) and a normalised-τ slider driving
    :func:`nc_threshold_report`. τ is already a normalised scale (0: every validation
    sample rejected, 1: every one accepted), so the slider steps evenly over [0, 1]."""
    names = [n for n, e in evaluations.items() if e.val_tau is not None]
    if not names:
        raise ValueError("no validation-thresholded rule to explore")
    rule = w.Dropdown(options=names, value=names[0], description="rule")
    slider = w.FloatSlider(value=evaluations[names[0]].picked_tau, min=0.0, max=1.0, step=0.005, description="τ",
                           readout_format=".3f", continuous_update=False, layout=w.Layout(width="60%"))

    def compute(name: str, tau: float) -> tuple[str, NCThresholdReport]:
        return name, nc_threshold_report(evaluations[name], y_test, source_test, tau, class_names=class_names)

    return Explorer([rule, slider], compute,
                    lambda r: KeyedFigure(lambda name, rep: NCThresholdFigure(rep, evaluations[name]), r),
                    lambda r: nc_threshold_numbers(r[1], r[0]), name="NC threshold").show()
