"""What GradMix does to attention (paper 003 §4.4, Fig. 6; lesson 05): LayerCAM maps of the
top-k score, their activated area over paired runs, and accuracy under corruptions."""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from ..attribution import grad_cam, layer_cam
from ..augment import corrupt
from ..data import OpenSetSplit
from ..methods.gradmix import TopKSimilarityScorer, top_k_scorer, train_contrastive
from ..scoring import Scorer
from ..train import model_device


def top_k_target(scorer: TopKSimilarityScorer) -> Callable[[torch.Tensor], torch.Tensor]:
    """The attribution target ``z -> Σ_batch max_c G_c(z)`` of a fitted top-k scorer: the
    score that the open-set rule thresholds (paper 003 Algorithm 1). Its LayerCAM map is
    what in an image makes it look known — the analogue of Grad-CAM's predicted-class
    score for a classifier. (The contrastive losses and the scorer use z/‖z‖ alone, so
    the raw embedding, or its norm, would explain a quantity the model never uses.)"""
    return lambda z: scorer.class_scores_of_embeddings(z).max(dim=1).values.sum()


def method_maps(encoders: dict[str, tuple[nn.Module, TopKSimilarityScorer]], X: np.ndarray) -> dict[str, np.ndarray]:
    """Grad-CAM and LayerCAM maps (N, H, W) of the top-k score (:func:`top_k_target`) for each
    named (encoder, its fitted top-k scorer), keyed "grad_cam, name" and "layer_cam, name";
    the images go to each encoder's own device (lesson 05, Fig. 2 of paper 003)."""
    maps = {}
    for name, (model, scorer) in encoders.items():
        model.eval()
        xb = torch.as_tensor(np.asarray(X, dtype=np.float32), device=model_device(model))
        for method in (grad_cam, layer_cam):
            maps[f"{method.__name__}, {name}"] = method(model, model.attribution_layers(), xb,
                                                        target=top_k_target(scorer)).cpu().numpy()
    return maps


def attention_maps(model: nn.Module, scorer: TopKSimilarityScorer, X: np.ndarray, *,
                   batch_size: int = 256) -> np.ndarray:
    """LayerCAM maps (N, H, W) of an encoder on its ``attribution_layers()`` for the
    top-k score of ``scorer`` fitted on this encoder (:func:`top_k_target`); the maps of
    paper 003 Fig. 6, whose activated area :func:`activated_area` measures."""
    model.eval()
    dev = model_device(model)
    target = top_k_target(scorer)
    out = []
    for i in range(0, len(X), batch_size):
        xb = torch.as_tensor(np.asarray(X[i:i + batch_size], dtype=np.float32), device=dev)
        out.append(layer_cam(model, model.attribution_layers(), xb, target=target).cpu().numpy())
    return np.concatenate(out)


def activated_area(maps: np.ndarray, taus: np.ndarray) -> np.ndarray:
    """S_M(τ) of paper 003 Fig. 6: for each threshold τ, the fraction of pixels whose
    attribution (maps (N, H, W), scaled to [0, 1] per image) is at least τ, averaged over
    the images. A model that attends to more of the image has a larger area at every τ."""
    M = np.asarray(maps, dtype=np.float64)
    if M.ndim != 3:
        raise ValueError(f"maps must be (N, H, W), got shape {M.shape}")
    taus = np.asarray(taus, dtype=np.float64)
    return np.array([(M >= t).mean() for t in taus])


def activated_area_runs(split: OpenSetSplit, taus: np.ndarray, *, trained: dict[str, nn.Module] | None = None,
                        names: Sequence[str] = ("plain", "gradmix"), runs: int = 3, k: int = 10, seed: int = 0,
                        **train_kwargs) -> dict[str, np.ndarray]:
    """S_M(τ) (paper 003 Fig. 6 right) of each named training — ``"plain"`` or a mixing of
    :func:`train_contrastive` — over ``runs`` paired runs with seeds seed + 1000·r: the
    activated area of the LayerCAM maps of the top-k score (:func:`attention_maps`) on every
    test image. Returns name → (runs, len(taus)). ``trained`` holds models already trained
    with ``seed``, used for run 0. On digits the change GradMix makes to the area is about
    the spread between runs, so one run can point either way; the mean over paired runs is
    the measurement (as lesson 03 averages its drops over paired runs)."""
    if runs < 1:
        raise ValueError(f"runs must be at least 1, got {runs}")
    trained = trained or {}
    per_run: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for r in range(runs):
        for name in names:
            model = trained.get(name) if r == 0 else None
            if model is None:
                model = train_contrastive(split, None if name == "plain" else name, seed=seed + 1000 * r, **train_kwargs)
            maps = attention_maps(model, top_k_scorer(model, split, k), split.X_test)
            per_run[name].append(activated_area(maps, taus))
    return {name: np.stack(areas) for name, areas in per_run.items()}


def corruption_accuracy(scorer: Scorer, split: OpenSetSplit,
                        kinds=("gaussian_noise", "blur", "contrast"), *, severity: int = 3,
                        seed: int = 0) -> dict[str, float]:
    """Closed-set accuracy of a fitted scorer (e.g. :func:`top_k_scorer`) on the known test
    images, clean and under each corruption (:func:`osrkit.augment.corrupt`; paper 003
    §4.4 reports the drop)."""
    known = split.y_test >= 0
    X, y = split.X_test[known], split.y_test[known]
    result = {"clean": float(np.mean(scorer.score(X)[0] == y))}
    gen = torch.Generator().manual_seed(seed)
    for kind in kinds:
        Xc = corrupt(torch.as_tensor(X), kind, severity, generator=gen).numpy()
        result[kind] = float(np.mean(scorer.score(Xc)[0] == y))
    return result
