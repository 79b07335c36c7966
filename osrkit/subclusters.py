"""Choosing the number of subclusters K_c of a class (paper 000, §4).

Train a GMVAE on one class alone for K = 1, 2, 3, …, record after every epoch its
latent-covering and reconstruction losses, and compare the curves of covering against
reconstruction (Fig. 6): the covering a model reaches at a given reconstruction level
drops while added subclusters still find structure, then the drops diminish. The
decision rule is :func:`osrkit.metrics.choose_subclusters`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .losses import GMVAELoss
from .metrics import choose_subclusters
from .models import SupervisedGMVAE
from .train import fit, resolve_device


@dataclass
class TermCurve:
    """Per-epoch ELBO terms of one single-class GMVAE (losses, averaged over the class)."""

    subclusters: int
    reconstruction: list[float] = field(default_factory=list)
    latent_covering: list[float] = field(default_factory=list)
    w_prior: list[float] = field(default_factory=list)

    def after(self, skip: int) -> tuple[np.ndarray, np.ndarray]:
        """(reconstruction, covering) without the first ``skip`` epochs (the paper truncates
        the early epochs, where both losses still fall steeply)."""
        return np.asarray(self.reconstruction[skip:]), np.asarray(self.latent_covering[skip:])


@torch.no_grad()
def mean_terms(model: SupervisedGMVAE, X: torch.Tensor, y: torch.Tensor, *, samples: int = 8,
               batch_size: int = 1024, seed: int = 0) -> dict[str, float]:
    """The ELBO terms of ``model`` averaged over the data and ``samples`` Monte-Carlo
    draws of (z, w) per input, with a fixed noise seed so that epochs and models compare
    without sampling noise of their own."""
    was_training = model.training
    model.eval()
    totals = {"reconstruction": 0.0, "latent_covering": 0.0, "w_prior": 0.0}
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        for _ in range(samples):
            for i in range(0, len(X), batch_size):
                t = model.terms(X[i:i + batch_size], y[i:i + batch_size])
                n = len(X[i:i + batch_size])
                for name in totals:
                    totals[name] += float(getattr(t, name)) * n
    finally:
        torch.random.set_rng_state(gen_state)
        model.train(was_training)
    return {name: v / (samples * len(X)) for name, v in totals.items()}


def subcluster_curves(X: np.ndarray, ks=(1, 2, 3), *, epochs: int = 40, batch_size: int = 64, lr: float = 1e-3,
                      z_dim: int = 10, hidden=(256, 128), samples: int = 8, seed: int = 0,
                      device: str | torch.device = "auto", progress: bool = True,
                      desc: str = "K") -> tuple[dict[int, TermCurve], dict[int, SupervisedGMVAE]]:
    """Train one single-class GMVAE (modified ELBO) per K on the images ``X`` of one class
    and log its terms after every epoch (:func:`mean_terms`). Returns the curves and the
    trained models, keyed by K."""
    X = np.asarray(X, dtype=np.float32)
    if len(X) < 2:
        raise ValueError(f"need the images of one class (at least 2), got {len(X)}")
    dev = resolve_device(device)
    Xt = torch.as_tensor(X.reshape(len(X), -1), device=dev)
    yt = torch.zeros(len(X), dtype=torch.long, device=dev)
    curves, models = {}, {}
    for k in tqdm(list(ks), desc=desc, disable=not progress, leave=False):
        model = SupervisedGMVAE(1, int(k), in_dim=Xt.shape[1], hidden=hidden, z_dim=z_dim).to(dev)
        curve = TermCurve(int(k))

        def log_terms(epoch: int, m: nn.Module, curve=curve) -> None:
            terms = mean_terms(m, Xt, yt, samples=samples, seed=seed)
            curve.reconstruction.append(terms["reconstruction"])
            curve.latent_covering.append(terms["latent_covering"])
            curve.w_prior.append(terms["w_prior"])

        fit(model, GMVAELoss(), Xt, yt, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, device=dev,
            progress=progress, desc=f"{desc}={k}", on_epoch_end=log_terms)
        curves[int(k)], models[int(k)] = curve, model
    return curves, models


def select_subclusters(curves: dict[int, TermCurve], *, skip: int, ratio: float = 0.5,
                       min_drop: float = 0.1) -> tuple[int, dict[tuple[int, int], float]]:
    """:func:`osrkit.metrics.choose_subclusters` on the curves without their first ``skip`` epochs."""
    return choose_subclusters({k: c.after(skip) for k, c in curves.items()}, ratio=ratio, min_drop=min_drop)
