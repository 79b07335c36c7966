"""Lesson 04 (paper 001, eq. 2, 6–7 and 9–11): the CAC loss terms and the rejection score."""
import numpy as np
import torch

from ..methods import cac
from .core import Case, Exercise


def _terms_cases():
    g = torch.Generator().manual_seed(6)
    anchors4 = cac.class_anchors(4, 10.0)
    logits = torch.randn(6, 4, generator=g) * 5
    targets = torch.tensor([0, 1, 2, 3, 0, 2])
    at_anchor = anchors4[[1, 3]].clone()
    far = torch.randn(3, 3, generator=g) * 400
    return [Case("6 random logit vectors, 4 classes, α = 10", (logits, targets, anchors4)),
            Case("logits exactly on their anchors (L_A = 0)", (at_anchor, torch.tensor([1, 3]), anchors4)),
            Case("a batch of one, α = 2", (torch.randn(1, 3, generator=g), torch.tensor([2]), cac.class_anchors(3, 2.0))),
            Case("logits far away (exp of distance differences overflows)", (far, torch.tensor([0, 1, 2]),
                                                                                cac.class_anchors(3, 10.0)))]


def _rejection_cases():
    rng = np.random.default_rng(7)
    return [Case("the paper's d = [1, 4, 5] and [101, 104, 105]", (np.array([[1.0, 4, 5], [101, 104, 105]]),)),
            Case("random distances, 6 samples × 4 classes", (rng.uniform(0, 20, (6, 4)),)),
            Case("ties: two classes equally near", (np.array([[2.0, 2.0, 7.0], [3.0, 3.0, 3.0]]),)),
            Case("one known class", (rng.uniform(0, 5, (3, 1)),)),
            Case("an empty batch", (np.zeros((0, 4)),)),
            Case("large distances (exp(−d) underflows)", (np.array([[1000.0, 1003.0, 1010.0]]),))]


EXERCISES = [
    Exercise("04.cac_terms", "04",
             prompt="The two CAC loss terms, batch means: d = distances of each logit vector to every anchor (eq. 2, "
                    "not squared); tuplet L_T = log(1 + Σ_{j≠y} exp(d_y − d_j)) (eq. 6) and anchor L_A = d_y (eq. 7).",
             signature="cac_terms(logits, targets, anchors) -> tuple[torch.Tensor, torch.Tensor]",
             hint="d = torch.cdist(logits, anchors) (or the norm of logits[:, None] - anchors[None]); d_y = "
                  "d.gather(1, targets[:, None]); log(1 + Σ_{j≠y} e^{d_y−d_j}) = torch.logsumexp(d_y - d, dim=1), "
                  "which cannot overflow; return (tuplet.mean(), d_y.mean()).",
             solution=cac.cac_terms, cases=_terms_cases, rtol=1e-4, atol=1e-5),
    Exercise("04.rejection_scores", "04",
             prompt="CAC's rejection score s = (1 − softmin(d)) ∘ d (eq. 9–11), row by row, for distances d "
                    "(samples × classes).",
             signature="rejection_scores(distances: np.ndarray) -> np.ndarray",
             hint="softmin(d) = softmax(−d): subtract each row's minimum distance before np.exp, or large distances "
                  "give 0/0; then multiply (1 − softmin) by d element by element.",
             solution=cac.cac_rejection_scores, cases=_rejection_cases),
]
