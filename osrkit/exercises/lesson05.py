"""Lesson 05 (paper 003, Algorithm 1 and eq. 6–7): the top-k class score G_c and LayerCAM."""
import numpy as np
import torch

from ..attribution import layer_cam_map
from ..methods.gradmix import TopKSimilarityScorer
from .core import Case, Exercise


def top_k_class_scores_reference(Z, F_train, y_train, k):
    scorer = TopKSimilarityScorer(k).fit_features(F_train, y_train)
    return scorer.class_scores_of_embeddings(torch.as_tensor(np.asarray(Z, dtype=np.float32))).numpy()


def _top_k_cases():
    rng = np.random.default_rng(8)
    F = rng.normal(size=(15, 4)).astype(np.float32)
    y = np.repeat([0, 1, 2], 5)
    Z = rng.normal(size=(4, 4)).astype(np.float32)
    scaled = (F * rng.uniform(0.1, 10, (15, 1))).astype(np.float32)
    return [Case("4 embeddings, 3 classes of 5 training embeddings, k = 3", (Z, F, y, 3)),
            Case("k = 1 (the nearest neighbour of each class)", (Z, F, y, 1)),
            Case("training embeddings of very different lengths (cosine, not dot product)", (Z * 7, scaled, y, 2)),
            Case("an empty batch", (np.zeros((0, 4), dtype=np.float32), F, y, 3))]


def _cam_cases():
    g = torch.Generator().manual_seed(9)
    A = torch.rand(2, 3, 4, 4, generator=g)
    G = torch.randn(2, 3, 4, 4, generator=g)
    return [Case("2 images, 3 channels, 4 × 4", (A, G)),
            Case("only negative gradients (an empty map)", (A, -G.abs())),
            Case("negative activations with positive gradients (the outer ReLU)", (-A, G.abs())),
            Case("one channel, 1 × 3 × 5", (torch.randn(1, 1, 3, 5, generator=g), torch.randn(1, 1, 3, 5, generator=g)))]


EXERCISES = [
    Exercise("05.top_k_class_scores", "05",
             prompt="G_c(x) of Algorithm 1: for each embedding z and each class c, the sum of the k largest cosine "
                    "similarities between z and the training embeddings of class c (classes 0..C−1 in columns).",
             signature="top_k_class_scores(Z, F_train, y_train, k) -> np.ndarray  # (len(Z), C)",
             hint="normalise every row to unit length first (cosine similarity = dot product of unit vectors); "
                  "for class c: S = Zn @ Fn[y_train == c].T, then np.sort(S, axis=1)[:, -k:].sum(axis=1).",
             solution=top_k_class_scores_reference, cases=_top_k_cases, rtol=1e-4, atol=1e-5),
    Exercise("05.layer_cam", "05",
             prompt="One layer's LayerCAM map (eq. 6–7): M = ReLU(Σ_k ReLU(∂y/∂A_k) ⊙ A_k), from activations and "
                    "gradients (B, K, H, W) to a map (B, H, W), before upsampling and normalising.",
             signature="layer_cam(activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor",
             hint="each position keeps its own positive gradient (this is LayerCAM, not Grad-CAM's channel mean): "
                  "torch.relu((torch.relu(gradients) * activations).sum(dim=1)).",
             solution=layer_cam_map, cases=_cam_cases),
]
