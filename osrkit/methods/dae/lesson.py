"""Lesson 01's map explorer: the dAE confidence c̃(x) over the plane at any α, β and
threshold, recomputed from precomputed components (paper 004 Fig. 2)."""
from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np

from ... import metrics, plots
from ...explorer import Explorer, LiveFigure, log_slider, logit_slider, numbers_title, short_number
from .model import DAEComponents, curvature_gate, dae_confidence, reconstruction_confidence


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


class DAEMapFigure(LiveFigure):
    """Four panels: raw reconstruction confidence, Γ, c̃ with the threshold contour,
    and the scaled labels ỹ (paper 004 Fig. 2B and 2D); new α, β or threshold redraw the
    four maps, the contour and the points over them in place."""

    def __init__(self, grid: plots.Grid, report: DAEMapReport, X_known: np.ndarray | None = None,
                 X_unknown: np.ndarray | None = None) -> None:
        fig, axes = plt.subplots(1, 4, figsize=(16, 4.3))
        plots.plot_map(grid, report.reconstruction_grid, ax=axes[0], title="exp(−α/D‖r(x)−x‖²)")
        plots.plot_map(grid, report.gate_grid, ax=axes[1], title="Γ(x) (curvature gate)")
        plots.plot_map(grid, report.confidence_grid, ax=axes[2], title="confidence c̃(x) = product")
        plots.plot_labels(grid, report.scaled_probs_grid, ax=axes[3], title="scaled labels ỹ = c̃(x)·y")
        points = []
        if X_unknown is not None:
            points.append(axes[3].scatter(X_unknown[:, 0], X_unknown[:, 1], s=1, c=plots.UNKNOWN_COLOR, alpha=0.5))
        if X_known is not None:
            points.append(axes[3].scatter(X_known[:, 0], X_known[:, 1], s=1, c="k", alpha=0.3))
        self.grid, self.axes = grid, axes
        self.maps = [ax.images[0] for ax in axes]
        self.contour = self._contour(report)
        fig.suptitle(numbers_title(dae_map_numbers(report)), fontsize=10)
        fig.tight_layout()
        super().__init__(fig, [*self.maps, self.contour, *points, fig._suptitle])

    def _contour(self, report: DAEMapReport):
        return self.axes[2].contour(self.grid.xs, self.grid.ys, self.grid.as_image(report.confidence_grid),
                                    levels=[report.threshold], colors=["#D55E00"], linewidths=1.5)

    def update(self, report: DAEMapReport) -> bool:
        images = (report.reconstruction_grid, report.gate_grid, report.confidence_grid,
                  plots.label_image(report.scaled_probs_grid))
        for artist, values in zip(self.maps, images):
            artist.set_data(self.grid.as_image(values))
        old, self.contour = self.contour, self._contour(report)
        old.remove()
        self.dynamic[self.dynamic.index(old)] = self.contour
        self.contour.set_animated(True)
        self.fig._suptitle.set_text(numbers_title(dae_map_numbers(report)))
        return False


def draw_dae_map(grid: plots.Grid, report: DAEMapReport, X_known: np.ndarray | None = None,
                 X_unknown: np.ndarray | None = None) -> plt.Figure:
    """Four panels: raw reconstruction confidence, Γ, c̃ with the threshold contour,
    and the scaled labels ỹ (paper 004 Fig. 2B and 2D)."""
    return DAEMapFigure(grid, report, X_known, X_unknown).fig


def dae_map_numbers(report: DAEMapReport) -> dict[str, str]:
    """The map explorer's printed numbers."""
    return {"α": short_number(report.alpha), "β": short_number(report.beta),
            "threshold c̃ ≥": short_number(report.threshold),
            "AUROC": f"{report.auroc:.3f}", "known accepted": f"{report.known_accepted:.1%}",
            "background rejected": f"{report.unknown_rejected:.1%}", "accuracy": f"{report.accuracy:.3f}"}


def dae_map_explorer(grid: plots.Grid, grid_parts: DAEComponents, known_parts: DAEComponents,
                     known_labels: np.ndarray, unknown_parts: DAEComponents, *, alpha: float = 40.0,
                     beta: float = 5.0, threshold: float = 0.5, X_known: np.ndarray | None = None,
                     X_unknown: np.ndarray | None = None) -> Explorer:
    """Sliders for α and β (log scales) and the confidence threshold (a logit scale)
    redrawing :class:`DAEMapFigure`."""
    sliders = [
        log_slider(value=alpha, low=0.1, high=1000.0, description="α"),
        log_slider(value=max(beta, 1e-2), low=0.01, high=100.0, description="β"),
        logit_slider(value=threshold, description="threshold c̃ ≥"),
    ]
    return Explorer(
        sliders, lambda a, b, t: dae_map_report(grid_parts, known_parts, known_labels, unknown_parts, a, b, t),
        lambda r: DAEMapFigure(grid, r, X_known, X_unknown), dae_map_numbers, name="dAE map").show()
