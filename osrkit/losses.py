"""Training objectives, each as ``loss(model, xb, yb) -> scalar`` for :func:`osrkit.train.fit`
or as a plain function of tensors."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def cross_entropy_loss(model: nn.Module, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
    """Plain softmax cross-entropy of a classifier."""
    return F.cross_entropy(model(xb), yb)


def denoising_reconstruction(model: nn.Module, xb: torch.Tensor, noise_std: float) -> torch.Tensor:
    """Mean over the batch of ‖r(x + ε) − x‖² / D with ε ~ N(0, σ²I): the denoising
    autoencoder objective of paper 004 (§III; Appendix A: σ = 0.2)."""
    noisy = xb + noise_std * torch.randn_like(xb)
    return (model.reconstruct(noisy) - xb).pow(2).flatten(1).mean(1).mean()


class DenoisingClassifierLoss:
    """Cross-entropy on clean inputs + ``rec_weight`` × denoising reconstruction
    (paper 004 Appendix B: "a supplementary reconstruction loss was added to the
    cross-entropy loss")."""

    def __init__(self, noise_std: float = 0.2, rec_weight: float = 1.0) -> None:
        if noise_std < 0:
            raise ValueError(f"noise_std must be >= 0, got {noise_std}")
        self.noise_std = noise_std
        self.rec_weight = rec_weight

    def __call__(self, model: nn.Module, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(model(xb), yb) + self.rec_weight * denoising_reconstruction(model, xb, self.noise_std)


def cool_loss(model: nn.Module, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
    """COOL training objective: cross-entropy of the softmax over all C·ω units against a
    target that puts 1/ω on each of the true class's ω units (Kardan & Stanley, 2017)."""
    omega = model.omega
    log_p = torch.log_softmax(model(xb), dim=1).view(len(xb), -1, omega)
    return -log_p[torch.arange(len(xb)), yb].mean(1).mean()
