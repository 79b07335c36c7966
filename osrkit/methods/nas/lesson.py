"""Lesson 06's figures and widgets: the search space, α over the epochs, counterfactual
decodes, the paper's training-threshold F1 and the openness curve (paper 002 Fig. 1–3)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import ipywidgets as w
import matplotlib.pyplot as plt
import numpy as np
import torch

from ... import metrics
from ...data import OpenSetSplit
from ...evaluation import evaluate
from ...explorer import Explorer, LiveFigure
from ...plots import CLASS_COLORS
from ...scoring import Scorer
from ...train import model_device
from .rules import CounterfactualScorer, training_threshold
from .space import OPERATIONS, Architecture, edge_mask, reachable
from .vae import OpenSetVAE, image_distances


def plot_search_space(layers: int, resolutions: int, architecture: Architecture | None = None, *,
                      edge_probabilities: np.ndarray | None = None, ax=None, title: str = "") -> plt.Figure:
    """The network-level trellis (Fig. 1): one node per layer and resolution, keep/halve
    edges (width ∝ β's probability when given), and the decoded path in orange with each
    layer's chosen operation written on it."""
    fig, ax = plt.subplots(figsize=(1.4 * layers + 2.5, 1.0 * resolutions + 1.8)) if ax is None else (ax.figure, ax)
    mask = edge_mask(layers, resolutions)
    on_path = set()
    if architecture is not None:
        steps = list(zip((0,) + architecture.path[:-1], architecture.path))
        on_path = {(layer, s_to, s_to - s_from) for layer, (s_from, s_to) in enumerate(steps)}
    for layer in range(layers):
        for s in range(resolutions):
            for kind in (0, 1):
                if not mask[layer, s, kind]:
                    continue
                chosen = (layer, s, kind) in on_path
                width = 1.0 if edge_probabilities is None else 0.5 + 4 * float(edge_probabilities[layer, s, kind])
                ax.plot([layer, layer + 1], [-(s - kind), -s], color="#D55E00" if chosen else "#999999",
                        lw=width + (2 if chosen else 0), zorder=1)
    nodes = reachable(layers, resolutions)
    for layer in range(layers + 1):
        for s in range(resolutions):
            if not nodes[layer, s]:
                continue
            ax.scatter([layer], [-s], s=160, c="#0072B2" if layer else "#444444", zorder=2)
    if architecture is not None:
        for layer, (op, s) in enumerate(zip(architecture.operations, architecture.path), start=1):
            ax.annotate(op, (layer, -s), textcoords="offset points", xytext=(0, 10), ha="center", fontsize=8)
    ax.set_xticks(range(layers + 1), ["stem"] + [f"layer {i}" for i in range(1, layers + 1)])
    ax.set_yticks([-s for s in range(resolutions)],
                  [f"resolution {s}\n(×{2 ** s} filters)" for s in range(resolutions)])
    ax.set_ylim(-resolutions + 0.4, 0.6)
    ax.set_title(title or "search space: keep or halve the resolution at every layer (orange: decoded path)",
                 fontsize=10)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig


def plot_alpha_history(alpha_history: np.ndarray, *, warmup_epochs: int = 0,
                       best_epoch: int | None = None) -> plt.Figure:
    """softmax(α) of every layer's three operations after each epoch (eq. 1), one panel per
    layer; the warm-up (weights only) is shaded, the kept epoch marked."""
    alpha_history = np.asarray(alpha_history)
    epochs, layers, _ = alpha_history.shape
    fig, axes = plt.subplots(1, layers, figsize=(3.0 * layers, 2.8), sharey=True, squeeze=False)
    x = np.arange(1, epochs + 1)
    for layer, ax in enumerate(axes[0]):
        for i, name in enumerate(OPERATIONS):
            ax.plot(x, alpha_history[:, layer, i], color=CLASS_COLORS[i], label=name)
        if warmup_epochs:
            ax.axvspan(0.5, warmup_epochs + 0.5, color="#dddddd", zorder=0)
        if best_epoch is not None:
            ax.axvline(best_epoch, color="k", ls=":", lw=1)
        ax.axhline(0.5, color="#999999", lw=0.6)
        ax.set_title(f"layer {layer + 1}", fontsize=10)
        ax.set_xlabel("epoch")
        ax.set_ylim(0, 1)
    axes[0, 0].set_ylabel("softmax(α)")
    axes[0, -1].legend(fontsize=8)
    fig.tight_layout()
    return fig


@dataclass
class CounterfactualView:
    """One test image, its decodes D(µ_m, z) with every known class's mean, the distances
    ‖x − D(µ_m, z)‖ and the classifier's prediction."""

    image: np.ndarray
    decodes: np.ndarray
    distances: np.ndarray
    predicted: int


@torch.no_grad()
def counterfactual_view(model: OpenSetVAE, x: np.ndarray) -> CounterfactualView:
    """:class:`CounterfactualView` of one image (C, H, W)."""
    model.eval()
    xb = torch.as_tensor(np.asarray(x, dtype=np.float32)[None], device=model_device(model))
    mu_u, _, mu_z, _ = model.encode(xb)
    decodes = model.counterfactuals(mu_z)
    distances = image_distances(xb, decodes)[0].cpu().numpy().astype(np.float64)
    return CounterfactualView(xb[0].cpu().numpy(), decodes[0].cpu().numpy(), distances,
                              int(model.classifier(mu_u).argmax(1)[0]))


class CounterfactualFigure(LiveFigure):
    """One row per image: the input, then its decode with each class mean, titled with the
    distance; the nearest decode (the NAS-OSR score) framed. With one row, a new image
    redraws the images, titles and frames in place."""

    FRAME = "#D55E00"

    def __init__(self, views: dict[str, CounterfactualView], class_names: Sequence[str]) -> None:
        self.class_names = class_names
        n_cols = 1 + len(class_names)
        fig, axes = plt.subplots(len(views), n_cols, figsize=(1.25 * n_cols, 1.5 * len(views) + 0.3), squeeze=False)
        for row, (label, view) in enumerate(views.items()):
            for col, img in enumerate([view.image] + list(view.decodes)):
                axes[row, col].imshow(self._image(img), cmap="gray", vmin=0, vmax=1)
                axes[row, col].set_xticks([])
                axes[row, col].set_yticks([])
            self.axes = axes[row]
            self._label(label, view)
        fig.tight_layout()
        first = axes[0]
        super().__init__(fig, [*(ax.images[0] for ax in first), *(ax.title for ax in first), first[0].yaxis.label,
                               *(side for ax in first[1:] for side in ax.spines.values())])
        self.axes = first

    @staticmethod
    def _image(img: np.ndarray) -> np.ndarray:
        return np.asarray(img).transpose(1, 2, 0).squeeze()

    def _label(self, label: str, view: CounterfactualView) -> None:
        """Titles, the row label and the frame of the nearest decode on ``self.axes``."""
        best = int(view.distances.argmin())
        self.axes[0].set_ylabel(label, fontsize=9)
        self.axes[0].set_title(f"input → {self.class_names[view.predicted]}", fontsize=8)
        for col, ax in enumerate(self.axes[1:]):
            ax.set_title(f"µ of {self.class_names[col]}: {view.distances[col]:.2f}", fontsize=8)
            for side in ax.spines.values():
                side.set_color(self.FRAME if col == best else "black")
                side.set_linewidth(3 if col == best else 0.8)

    def update(self, views: dict[str, CounterfactualView]) -> bool:
        (label, view), = views.items()
        for ax, img in zip(self.axes, [view.image] + list(view.decodes)):
            ax.images[0].set_data(self._image(img))
        self._label(label, view)
        return False


def plot_counterfactuals(views: dict[str, CounterfactualView], class_names: Sequence[str]) -> plt.Figure:
    """One row per image: the input, then its decode with each class mean, titled with the
    distance; the nearest decode (the NAS-OSR score) framed."""
    return CounterfactualFigure(views, class_names).fig


def counterfactual_numbers(views: dict[str, CounterfactualView], class_names: Sequence[str]) -> dict[str, str]:
    """The counterfactual explorer's printed numbers: the image, the prediction and the NAS-OSR score."""
    (label, view), = views.items()
    best = int(view.distances.argmin())
    return {"image": label, "predicted": str(class_names[view.predicted]), "nearest decode": str(class_names[best]),
            "score min distance": f"{view.distances[best]:.3f}"}


def counterfactual_explorer(model: OpenSetVAE, task: OpenSetSplit, class_names: Sequence[str]) -> Explorer:
    """A slider over the test images driving :func:`counterfactual_view` (label in the
    row title: the known digit, or "unknown")."""
    index = w.IntSlider(value=0, min=0, max=len(task.y_test) - 1, description="test image", continuous_update=False,
                        layout=w.Layout(width="60%"))
    return Explorer(
        [index], lambda i: {image_label(task, i): counterfactual_view(model, task.X_test[i])},
        lambda views: CounterfactualFigure(views, class_names), lambda views: counterfactual_numbers(views, class_names),
        name="counterfactuals").show()


def image_label(task: OpenSetSplit, index: int) -> str:
    """"known 4" or "unknown 7" for a test image (its digit in the source dataset)."""
    kind = "known" if task.y_test[index] >= 0 else "unknown"
    source = task.source_test[index] if task.source_test is not None else task.y_test[index]
    return f"{kind} {source}"


def paper_f1(scorer: Scorer, task: OpenSetSplit, keep: float = 0.95) -> tuple[float, float]:
    """(macro-F1 on the test set, threshold) at the paper's threshold: the novelty that keeps
    ``keep`` of the *training* samples (``evaluate`` keeps 95% of validation instead)."""
    threshold = training_threshold(scorer, task.X_train, keep)
    pred, novelty = scorer.score(task.X_test)
    return metrics.macro_f1(task.y_test, metrics.predict_with_rejection(pred, novelty, threshold),
                            task.num_known), threshold


def openness_f1(scorer: Scorer, task: OpenSetSplit, keep: float = 0.95) -> np.ndarray:
    """Test macro-F1 as the task's unknown classes join one at a time (Fig. 3), at the
    training threshold of :func:`paper_f1`."""
    threshold = training_threshold(scorer, task.X_train, keep)
    pred, novelty = scorer.score(task.X_test)
    return metrics.f1_versus_unknowns(task.y_test, metrics.predict_with_rejection(pred, novelty, threshold),
                                      task.source_test, task.unknown_classes, num_known=task.num_known)


def summarize(model: OpenSetVAE, task: OpenSetSplit, parameters: int | None = None) -> dict[str, float]:
    """One row of the ablation table (Table 4's columns): AUROC of the NAS-OSR rule (the
    validation policy of ``evaluate`` does not enter AUROC), macro-F1 at the paper's
    training threshold, closed-set accuracy and the parameter count."""
    scorer = CounterfactualScorer().fit(model)
    result = evaluate(scorer, task)
    return {"auroc": result.auroc, "f1": paper_f1(scorer, task)[0], "accuracy": result.closed_accuracy,
            "parameters": int(parameters if parameters is not None else sum(p.numel() for p in model.parameters()))}
