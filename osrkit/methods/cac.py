"""Class Anchor Clustering (Miller et al., paper 001): a distance-based loss for open-set
classifiers, its rejection score and the lesson-04 comparison against the softmax baselines.

Anchors are fixed points α·e_i in the N-dimensional logit space (eq. 3–5); the loss
pulls each sample's logits to its class anchor (anchor term) and away from the others
(tuplet term, eq. 6–8); after training the anchors are re-estimated as class means and a
sample is rejected by s = (1 − softmin(d)) ∘ d (eq. 9–11).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..data import OpenSetSplit
from ..evaluation import OpenSetResult, evaluate
from ..scoring import LogitDistanceScorer, Scorer
from .base import Method
from .softmax import ClassifierConfig, cross_entropy_loss, softmax_rules, train_classifier


def class_anchors(num_classes: int, magnitude: float = 10.0) -> torch.Tensor:
    """The fixed class anchors of paper 001 (eq. 3–5): C_i = α·e_i, row i of α·I (N × N).
    They are not trained; α = 10 in the paper."""
    if num_classes < 2 or magnitude <= 0:
        raise ValueError(f"need num_classes >= 2 and magnitude > 0, got {num_classes} and {magnitude}")
    return magnitude * torch.eye(num_classes)


def anchor_distances(logits: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """d = e(z, C) of paper 001 eq. 2: the plain (not squared) Euclidean distance of each
    logit vector z (B, N) to each class anchor C_i (rows of ``anchors``, N × N), shape (B, N)."""
    if logits.ndim != 2 or anchors.ndim != 2 or logits.shape[1] != anchors.shape[1]:
        raise ValueError(f"logits (B, N) and anchors (classes, N) must share N, got {tuple(logits.shape)} "
                         f"and {tuple(anchors.shape)}")
    return (logits[:, None, :] - anchors[None].to(logits)).norm(dim=2)


def cac_terms(logits: torch.Tensor, targets: torch.Tensor, anchors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The two terms of the CAC loss, batch means (paper 001 eq. 6–7):
    - tuplet L_T = log(1 + Σ_{j≠y} exp(d_y − d_j)), computed as logsumexp_j (d_y − d_j)
      over *all* j: the j = y term is exp(0) = 1, the "1 +";
    - anchor L_A = d_y, the distance to the true class's anchor."""
    d = anchor_distances(logits, anchors)
    d_true = d.gather(1, targets[:, None])
    tuplet = torch.logsumexp(d_true - d, dim=1)
    return tuplet.mean(), d_true.squeeze(1).mean()


def cac_loss(logits: torch.Tensor, targets: torch.Tensor, anchors: torch.Tensor, lam: float = 0.1) -> torch.Tensor:
    """L_CAC = L_T + λ·L_A (paper 001 eq. 8), the batch mean; λ = 0.1 in the paper."""
    tuplet, anchor = cac_terms(logits, targets, anchors)
    return tuplet + lam * anchor


class CACLoss:
    """``loss(model, xb, yb)`` for :func:`osrkit.train.fit`: the CAC loss of the model's
    logits against fixed anchors α·e_i (:func:`class_anchors`).
    ``terms="both"`` (the paper), ``"anchor"`` (L_A alone) or ``"tuplet"`` (L_T alone)
    give the ablation of paper 001 Fig. 3."""

    def __init__(self, num_classes: int, magnitude: float = 10.0, lam: float = 0.1, terms: str = "both") -> None:
        if terms not in ("both", "anchor", "tuplet"):
            raise ValueError(f"terms must be 'both', 'anchor' or 'tuplet', got {terms!r}")
        if lam < 0:
            raise ValueError(f"lam must be >= 0, got {lam}")
        self.anchors = class_anchors(num_classes, magnitude)
        self.lam, self.terms = lam, terms

    def __call__(self, model: nn.Module, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        tuplet, anchor = cac_terms(model(xb), yb, self.anchors)
        if self.terms == "anchor":
            return anchor
        if self.terms == "tuplet":
            return tuplet
        return tuplet + self.lam * anchor


def cac_rejection_scores(distances: np.ndarray) -> np.ndarray:
    """s = (1 − softmin(d)) ∘ d (paper 001 eq. 9–11), row by row. SoftMin sees only the
    differences between distances ([1, 4, 5] and [101, 104, 105] give the same
    confidences); multiplying by d brings back how far the input is."""
    d = np.asarray(distances, dtype=np.float64)
    z = -d - (-d).max(1, keepdims=True)
    softmin = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    return (1.0 - softmin) * d


class CACScorer(LogitDistanceScorer):
    """The CAC classifier (paper 001 §3.3): class centres re-estimated after training as
    the mean logits of correctly classified training samples, rejection scores
    s = (1 − softmin(d)) ∘ d (:func:`cac_rejection_scores`); prediction argmin s,
    novelty min s."""

    native_name = "rejection score min s"

    def __init__(self, batch_size: int = 512, *, name: str = "CAC") -> None:
        super().__init__(batch_size, name=name)

    def rule_scores(self, distances: np.ndarray) -> np.ndarray:
        return cac_rejection_scores(distances)


@dataclass(frozen=True)
class CACConfig(ClassifierConfig):
    """CAC's network and training (:class:`osrkit.methods.softmax.ClassifierConfig`) plus
    the anchor magnitude α (``magnitude``, 10 in the paper), the anchor weight λ (``lam``:
    1 quick, from an early tuning run: over the 10-seed sweep λ = 1 and 0.1 are within 0.002
    AUROC at α = 10; 0.1 full, the paper) and the
    loss ``terms`` ("both", or "anchor"/"tuplet" for the ablation of Fig. 3)."""

    magnitude: float = 10.0
    lam: float = 1.0
    terms: str = "both"
    FULL = {**ClassifierConfig.FULL, "lam": 0.1}


def train_cac(task: OpenSetSplit, config: CACConfig, *, seed: int = 0, device: str = "auto",
              cache_dir: str | None = None, progress: bool = True, desc: str = "CAC") -> nn.Module:
    """A network of ``config`` trained with the CAC loss."""
    loss = CACLoss(task.num_known, config.magnitude, config.lam, terms=config.terms)
    return train_classifier(task, loss, config, seed=seed, device=device, cache_dir=cache_dir, progress=progress,
                            desc=desc)


@dataclass
class CACComparison:
    """Paper 001's comparison on one task: a cross-entropy network scored by max softmax,
    OpenMax and the post-hoc class-mean distance, and a CAC network scored by its
    rejection score (Table 2, Table 3); each rule's :class:`osrkit.evaluation.OpenSetResult`."""

    networks: dict[str, nn.Module]
    scorers: dict[str, Scorer]
    scores: dict[str, OpenSetResult]

    def auroc(self) -> dict[str, float]:
        return {name: s.auroc for name, s in self.scores.items()}


def cac_vs_baselines(task: OpenSetSplit, config: CACConfig, *, seed: int = 0, device: str = "auto",
                     cache_dir: str | None = None, progress: bool = True) -> CACComparison:
    """Train a cross-entropy and a CAC network (same architecture, seed and optimiser) and
    evaluate CAC, max softmax, OpenMax and the CE class-mean distance on the test set."""
    common = dict(seed=seed, device=device, cache_dir=cache_dir, progress=progress)
    ce = train_classifier(task, cross_entropy_loss, config, desc="cross-entropy", **common)
    cac = train_cac(task, config, **common)
    fitted = {"CAC": CACScorer().fit(cac, task.X_train, task.y_train), **softmax_rules(ce, task)}
    return CACComparison({"CE": ce, "CAC": cac}, fitted, {name: evaluate(sc, task) for name, sc in fitted.items()})


def cac_variant(task: OpenSetSplit, config: CACConfig, *, seed: int = 0, device: str = "auto",
                cache_dir: str | None = None, progress: bool = True) -> OpenSetResult:
    """Train one CAC network with ``config``'s loss terms (ablation, Fig. 3) or α, λ
    (sensitivity, Fig. 2) and evaluate its rejection score."""
    model = train_cac(task, config, seed=seed, device=device, cache_dir=cache_dir, progress=progress,
                      desc=f"CAC {config.terms}, α={config.magnitude:g}, λ={config.lam:g}")
    return evaluate(CACScorer().fit(model, task.X_train, task.y_train), task)


def _train_and_score(task: OpenSetSplit, config: CACConfig, *, seed: int, device: str, cache_dir: str | None,
                     progress: bool) -> dict[str, Scorer]:
    model = train_cac(task, config, seed=seed, device=device, cache_dir=cache_dir, progress=progress)
    return {"CAC": CACScorer().fit(model, task.X_train, task.y_train)}


METHOD = Method("cac", "04_cac_anchors", CACConfig, ("CAC",), _train_and_score,
                "Class Anchor Clustering: logits pulled to fixed anchors, rejected by distance")
