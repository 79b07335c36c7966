"""Interactive explorers. Each has three layers (DESIGN.md, "Widgets"):

1. a pure function, numbers in → a report of numbers out (tested by pytest);
2. a draw function, report → matplotlib figure (called plainly after each widget cell,
   so a headless run still shows the figure);
3. the ipywidgets wrapper, sliders → (1) and (2) in an Output area.

ipywidgets swallows exceptions raised in callbacks, so the wrappers print them into the
output area instead of failing silently.
"""
from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np

from . import metrics, plots
from .scorers import DAEComponents, curvature_gate, dae_confidence, reconstruction_confidence


# ------------------------------------------------------------ threshold explorer
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
                          to_native: Callable[[np.ndarray], np.ndarray] | None = None) -> plt.Figure:
    """Histograms with the threshold, ROC with the operating point, confusion matrix."""
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
    fig.suptitle(text, fontsize=10)
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

    return _slider_panel([slider], draw)


# ------------------------------------------------------------ dAE map explorer (lesson 01)
@dataclass
class DAEMapReport:
    """The dAE confidence over a 2D grid and its test metrics at (α, β, threshold)."""

    alpha: float
    beta: float
    threshold: float                 # on the confidence c̃: accept when c̃ >= threshold
    reconstruction_grid: np.ndarray  # exp(−α/D‖r(x)−x‖²)
    gate_grid: np.ndarray            # Γ(x)
    confidence_grid: np.ndarray      # c̃(x)
    scaled_probs_grid: np.ndarray    # ỹ = c̃(x)·y
    auroc: float                     # known test points vs background, novelty 1 − c̃
    known_accepted: float
    unknown_rejected: float
    accuracy: float                  # thresholded accuracy on known + background points

    def summary(self) -> dict[str, float]:
        return {"alpha": self.alpha, "beta": self.beta, "threshold": self.threshold, "AUROC": self.auroc,
                "known accepted": self.known_accepted, "unknown rejected": self.unknown_rejected,
                "accuracy": self.accuracy}


def dae_map_report(grid_parts: DAEComponents, known_parts: DAEComponents, known_labels: np.ndarray,
                   unknown_parts: DAEComponents, alpha: float, beta: float, threshold: float) -> DAEMapReport:
    """Recompute the confidence maps and metrics for new α, β and threshold from
    precomputed components (no network pass: instant for sliders)."""
    c_known = dae_confidence(known_parts.sq_error, known_parts.gamma, alpha, beta)
    c_unknown = dae_confidence(unknown_parts.sq_error, unknown_parts.gamma, alpha, beta)
    recon_grid = reconstruction_confidence(grid_parts.sq_error, alpha)
    gate_grid = curvature_gate(grid_parts.gamma, beta)
    c_grid = recon_grid * gate_grid  # eq. 3
    y_all = np.concatenate([np.asarray(known_labels), np.full(len(c_unknown), metrics.UNKNOWN)])
    pred_all = np.concatenate([known_parts.probs.argmax(1), unknown_parts.probs.argmax(1)])
    novelty_all = 1.0 - np.concatenate([c_known, c_unknown])
    novelty_threshold = 1.0 - float(threshold)
    return DAEMapReport(
        alpha=float(alpha), beta=float(beta), threshold=float(threshold),
        reconstruction_grid=recon_grid,
        gate_grid=gate_grid,
        confidence_grid=c_grid,
        scaled_probs_grid=grid_parts.probs * c_grid[:, None],
        auroc=metrics.auroc(1.0 - c_known, 1.0 - c_unknown),
        known_accepted=float(np.mean(c_known >= threshold)),
        unknown_rejected=float(np.mean(c_unknown < threshold)),
        accuracy=metrics.thresholded_accuracy(y_all, pred_all, novelty_all, novelty_threshold))


def draw_dae_map(grid: plots.Grid, report: DAEMapReport, X_known: np.ndarray | None = None,
                 X_unknown: np.ndarray | None = None) -> plt.Figure:
    """Four panels: raw reconstruction confidence, Γ, c̃ with the threshold contour,
    and the scaled labels ỹ (paper 004 Fig. 2B and 2D)."""
    fig, axes = plt.subplots(1, 4, figsize=(16, 4.3))
    plots.plot_map(grid, report.reconstruction_grid, ax=axes[0], title="exp(−α/D‖r(x)−x‖²)")
    plots.plot_map(grid, report.gate_grid, ax=axes[1], title="Γ(x) (curvature gate)")
    plots.plot_map(grid, report.confidence_grid, ax=axes[2], title="confidence c̃(x) = product")
    axes[2].contour(grid.xs, grid.ys, grid.as_image(report.confidence_grid), levels=[report.threshold],
                    colors=["#D55E00"], linewidths=1.5)
    plots.plot_labels(grid, report.scaled_probs_grid, ax=axes[3], title="scaled labels ỹ = c̃(x)·y")
    if X_unknown is not None:
        axes[3].scatter(X_unknown[:, 0], X_unknown[:, 1], s=1, c=plots.UNKNOWN_COLOR, alpha=0.5)
    if X_known is not None:
        axes[3].scatter(X_known[:, 0], X_known[:, 1], s=1, c="k", alpha=0.3)
    fig.suptitle(f"α = {report.alpha:g}, β = {report.beta:g}, threshold c̃ ≥ {report.threshold:.2f}:  "
                 f"AUROC {report.auroc:.3f}  |  known accepted {report.known_accepted:.1%}  |  "
                 f"background rejected {report.unknown_rejected:.1%}  |  accuracy {report.accuracy:.3f}",
                 fontsize=10)
    fig.tight_layout()
    return fig


def dae_map_explorer(grid: plots.Grid, grid_parts: DAEComponents, known_parts: DAEComponents,
                     known_labels: np.ndarray, unknown_parts: DAEComponents, *, alpha: float = 40.0,
                     beta: float = 5.0, threshold: float = 0.5, X_known: np.ndarray | None = None,
                     X_unknown: np.ndarray | None = None):
    """Sliders for α, β and the confidence threshold redrawing :func:`draw_dae_map`."""
    import ipywidgets as w

    sliders = [
        w.FloatLogSlider(value=alpha, base=10, min=-1, max=3, step=0.05, description="α", continuous_update=False),
        w.FloatLogSlider(value=max(beta, 1e-2), base=10, min=-2, max=2, step=0.05, description="β",
                         continuous_update=False),
        w.FloatSlider(value=threshold, min=0.0, max=1.0, step=0.01, description="threshold",
                      continuous_update=False),
    ]

    def draw(a: float, b: float, t: float) -> None:
        report = dae_map_report(grid_parts, known_parts, known_labels, unknown_parts, a, b, t)
        draw_dae_map(grid, report, X_known, X_unknown)

    return _slider_panel(sliders, draw)


def _slider_panel(sliders: list, draw: Callable[..., None]):
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


# ------------------------------------------------------------ fooling explorer (lesson 02)
@dataclass
class FoolingReport:
    """At one confidence threshold: thresholded accuracy on test digits and the fraction
    of fooling images that pass, per model."""

    threshold: float
    thresholded_accuracy: dict[str, float]
    fooled: dict[str, float]
    passing: dict[str, np.ndarray]   # boolean per fooling image: confidence >= threshold


def fooling_report(test_correct: dict[str, np.ndarray], test_confidence: dict[str, np.ndarray],
                   fooling_confidence: dict[str, np.ndarray], threshold: float) -> FoolingReport:
    """Pure numbers for the fooling explorer: a test digit counts when it is classified
    correctly *and* its confidence reaches the threshold (paper 004 Table I); a fooling
    image passes when its confidence for the target reaches the threshold."""
    threshold = float(threshold)
    acc = {k: float(np.mean(np.asarray(test_correct[k]) & (np.asarray(test_confidence[k]) >= threshold)))
           for k in test_correct}
    passing = {k: np.asarray(v) >= threshold for k, v in fooling_confidence.items()}
    return FoolingReport(threshold, acc, {k: float(v.mean()) for k, v in passing.items()}, passing)


def draw_fooling_report(report: FoolingReport, fooling_images: dict[str, np.ndarray]) -> plt.Figure:
    """Bars of thresholded accuracy and fooled fraction per model, then the fooling
    images with those that pass framed."""
    names = list(report.thresholded_accuracy)
    fig, ax = plt.subplots(figsize=(7, 3))
    pos = np.arange(len(names))
    ax.bar(pos - 0.2, [report.thresholded_accuracy[n] for n in names], 0.4, label="thresholded accuracy (test digits)")
    ax.bar(pos + 0.2, [report.fooled.get(n, np.nan) for n in names], 0.4, label="fooling images passing",
           color=plots.CLASS_COLORS[1])
    ax.set_xticks(pos, names)
    ax.set_ylim(0, 1.05)
    ax.set_title(f"confidence threshold {report.threshold:.3f}", fontsize=10)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    plots.plot_image_grid(fooling_images, marks=report.passing,
                          title="fooling images (framed: pass the threshold)")
    return fig


def fooling_explorer(test_correct: dict[str, np.ndarray], test_confidence: dict[str, np.ndarray],
                     fooling_confidence: dict[str, np.ndarray], fooling_images: dict[str, np.ndarray],
                     threshold: float = 0.9):
    """A confidence-threshold slider driving :func:`fooling_report`."""
    import ipywidgets as w

    slider = w.FloatSlider(value=threshold, min=0.5, max=0.999, step=0.001, description="threshold",
                           readout_format=".3f", continuous_update=False, layout=w.Layout(width="60%"))

    def draw(t: float) -> None:
        draw_fooling_report(fooling_report(test_correct, test_confidence, fooling_confidence, t), fooling_images)

    return _slider_panel([slider], draw)


# ------------------------------------------------------------ nearest-centroid τ explorer (lesson 03)
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
    """:class:`osrkit.thresholding.RuleEvaluation` of a validation-thresholded rule at
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


def draw_nc_threshold_report(report: NCThresholdReport, evaluation) -> plt.Figure:
    """Validation F1 against τ (picked τ dashed, this τ dotted), test F1 against Q at this τ
    and at the picked one, and the test confusion matrix at this τ."""
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    plots.plot_validation_f1(evaluation.val_tau, evaluation.val_f1, picked=evaluation.picked_tau,
                             current=report.tau, ax=axes[0], label=evaluation.name)
    plots.plot_f1_versus_unknowns({f"τ = {report.tau:.2f}": report.f1_by_q,
                                   f"picked τ = {evaluation.picked_tau:.2f}": evaluation.f1_by_q}, ax=axes[1])
    plots.plot_confusion(report.confusion, report.labels, ax=axes[2], title="test, all unknown classes")
    fig.suptitle(f"{evaluation.name}: τ = {report.tau:.3f}  |  validation F1 {report.val_f1:.3f}  |  "
                 f"test macro-F1 {report.test_macro_f1:.3f}  |  mean over Q {np.mean(report.f1_by_q):.3f}",
                 fontsize=10)
    fig.tight_layout()
    return fig


def nc_threshold_explorer(evaluations: dict, y_test: np.ndarray, source_test: np.ndarray, *,
                          class_names: Sequence[str] | None = None):
    """A rule selector (NC-D, NC-U, …) and a normalised-τ slider driving
    :func:`nc_threshold_report`."""
    import ipywidgets as w

    names = [n for n, e in evaluations.items() if e.val_tau is not None]
    if not names:
        raise ValueError("no validation-thresholded rule to explore")
    rule = w.Dropdown(options=names, value=names[0], description="rule")
    slider = w.FloatSlider(value=evaluations[names[0]].picked_tau, min=0.0, max=1.0, step=0.005, description="τ",
                           readout_format=".3f", continuous_update=False, layout=w.Layout(width="60%"))

    def draw(name: str, tau: float) -> None:
        ev = evaluations[name]
        draw_nc_threshold_report(nc_threshold_report(ev, y_test, source_test, tau, class_names=class_names), ev)

    return _slider_panel([rule, slider], draw)


# ------------------------------------------------------------ subcluster explorer (lesson 03)
@dataclass
class SubclusterReport:
    """How a single-class GMVAE with K subclusters splits its class: each image's most
    probable subcluster (eq. 1) against its original label (e.g. the digit)."""

    subclusters: int
    assignment: np.ndarray
    table: np.ndarray            # rows: original labels, columns: subclusters
    row_labels: list[int]
    purity: float                # fraction of images in their subcluster's majority label


def subcluster_report(model, X: np.ndarray, source: np.ndarray) -> SubclusterReport:
    """Assign each image to argmax_j p(v = j | z, w, y) and cross-tabulate with ``source``."""
    import torch

    X_t = torch.as_tensor(np.asarray(X, dtype=np.float32))
    assignment = model.subcluster_of(X_t, torch.zeros(len(X_t), dtype=torch.long)).numpy()
    source = np.asarray(source)
    rows = sorted(int(v) for v in np.unique(source))
    k = model.max_subclusters
    table = np.array([[np.sum((source == r) & (assignment == j)) for j in range(k)] for r in rows])
    return SubclusterReport(k, assignment, table, rows, float(table.max(0).sum() / max(len(source), 1)))


def draw_subcluster_report(report: SubclusterReport, features: np.ndarray, *, title: str = "") -> plt.Figure:
    """The class's latent µ(x) in 2-D (PCA) coloured by subcluster, and the table."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), gridspec_kw={"width_ratios": [1.3, 1]})
    plots.plot_embedding(features, report.assignment, names=[f"subcluster {j}" for j in range(report.subclusters)], ax=axes[0],
                         title=title or f"K = {report.subclusters}")
    axes[1].axis("off")
    cells = [[str(v) for v in row] for row in report.table]
    tab = axes[1].table(cellText=cells, rowLabels=[f"digit {r}" for r in report.row_labels],
                        colLabels=[f"sub {j}" for j in range(report.subclusters)], loc="center")
    tab.scale(1, 1.6)
    axes[1].set_title(f"images per subcluster (purity {report.purity:.2f})", fontsize=10)
    fig.tight_layout()
    return fig


def subcluster_explorer(models: dict, images: dict, sources: dict):
    """Pick a class and a K: the single-class GMVAE trained with that K (from
    :func:`osrkit.subclusters.subcluster_curves`) shows its subclusters."""
    import ipywidgets as w

    from .scorers import embedding

    classes = list(models)
    cls = w.Dropdown(options=classes, value=classes[0], description="class")
    ks = sorted(models[classes[0]])
    k = w.SelectionSlider(options=ks, value=ks[min(1, len(ks) - 1)], description="K")

    def draw(name: str, k_value: int) -> None:
        model = models[name][k_value]
        report = subcluster_report(model, images[name], sources[name])
        draw_subcluster_report(report, embedding(model)(images[name]), title=f"{name}, K = {k_value}")

    return _slider_panel([cls, k], draw)


# ------------------------------------------------------------ GradMix step (lesson 05)
@dataclass
class GradMixStep:
    """One GradMix augmentation of a batch (paper 003 Fig. 1): the LayerCAM maps of the
    SimCLR loss between two views, each map's most activated point, and the mixed view."""

    views: np.ndarray            # (B, C, H, W) the first view
    maps: np.ndarray             # (B, H, W) in [0, 1]
    peaks: np.ndarray            # (B, 2) row, column of each map's argmax
    mixed: np.ndarray            # (B, C, H, W)
    gamma: float


def gradmix_step(model, X: np.ndarray, gamma: float, layer: int | None = None, *, temperature: float = 0.05,
                 seed: int = 0) -> GradMixStep:
    """GradMix on the images ``X`` step by step: two random-resized-crop views, the LayerCAM
    map of their SimCLR loss on ``model.attribution_layers()`` (one of them with ``layer``,
    all of them with None), the peak, and a patch of side γ·H there."""
    import torch

    from . import augment, losses

    layers = model.attribution_layers()
    if layer is not None and not 0 <= layer < len(layers):
        raise ValueError(f"layer must be None or an index below {len(layers)}, got {layer}")
    generator = torch.Generator().manual_seed(seed)     # the same crops and partner images on every redraw
    model.eval()
    xb = torch.as_tensor(np.asarray(X, dtype=np.float32))
    v1, v2 = (augment.random_resized_crop(xb, generator=generator) for _ in range(2))
    with torch.no_grad():
        anchor = model(v2)
    mixed, g, maps = losses.gradmix_view(model, v1, anchor, temperature=temperature, gamma_range=(gamma, gamma),
                                         layers=None if layer is None else [layers[layer]], generator=generator)
    w = maps.shape[-1]
    peak = maps.flatten(1).argmax(1)
    return GradMixStep(v1.numpy(), maps.numpy(), np.stack([(peak // w).numpy(), (peak % w).numpy()], 1),
                       mixed.numpy(), g)


def draw_gradmix_step(step: GradMixStep, *, max_images: int = 6) -> plt.Figure:
    """Rows: the view, its map with the peak (star), the mixed view."""
    n = min(max_images, len(step.views))
    fig, axes = plt.subplots(3, n, figsize=(1.8 * n, 5.6), squeeze=False)
    for i in range(n):
        img = step.views[i].transpose(1, 2, 0).squeeze()
        axes[0, i].imshow(img, cmap="gray", vmin=0, vmax=1)
        axes[1, i].imshow(img, cmap="gray", vmin=0, vmax=1)
        axes[1, i].imshow(step.maps[i], cmap="jet", alpha=0.5, vmin=0, vmax=1)
        axes[1, i].scatter([step.peaks[i, 1]], [step.peaks[i, 0]], marker="*", s=120, c="white", edgecolors="k")
        axes[2, i].imshow(step.mixed[i].transpose(1, 2, 0).squeeze(), cmap="gray", vmin=0, vmax=1)
        for row in range(3):
            axes[row, i].set_xticks([])
            axes[row, i].set_yticks([])
    for row, name in enumerate(("view", "LayerCAM + peak", f"GradMix, γ = {step.gamma:.2f}")):
        axes[row, 0].set_ylabel(name, fontsize=9)
    fig.tight_layout()
    return fig


def gradmix_explorer(model, X: np.ndarray):
    """Sliders for γ and the layer (or all layers) driving :func:`gradmix_step`."""
    import ipywidgets as w

    options = [("all layers", None)] + [(f"layer {i}", i) for i in range(len(model.attribution_layers()))]
    gamma = w.FloatSlider(value=0.3, min=0.1, max=0.5, step=0.05, description="γ", continuous_update=False)
    layer = w.Dropdown(options=options, value=None, description="layer")
    return _slider_panel([gamma, layer], lambda g, lay: draw_gradmix_step(gradmix_step(model, X, g, lay)))
