"""Gradient-based attribution maps: Grad-CAM and LayerCAM (paper 003 §3.2, eq. 4–7).

Both read the activations A of chosen convolutional layers and the gradients ∂l/∂A of a
scalar l of the model's output: a class score (the predicted class by default) or, for
GradMix, the contrastive loss itself (``target`` a callable).

- Grad-CAM (eq. 4–5): α_k = mean over positions of ∂l/∂A^k, M = ReLU(Σ_k α_k A^k).
- LayerCAM (eq. 6–7): Ã^k_ij = ReLU(∂l/∂A^k_ij)·A^k_ij, M = ReLU(Σ_k Ã^k).

Several layers (paper 003 Appendix A.2, and its code): each layer's map is resized to the
input size and the maps are summed — a linear aggregation — then every sample's map is
min–max scaled to [0, 1]. (pytorch-grad-cam scales each layer's map before averaging;
for one layer the two agree.)
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

Target = int | Callable[[torch.Tensor], torch.Tensor] | None


def _scalar(output: torch.Tensor, target: Target) -> torch.Tensor:
    """The quantity l whose gradient is taken: the sum over the batch of the target class's
    output (the predicted class when ``target`` is None), or ``target(output)``."""
    if callable(target):
        value = target(output)
        if value.ndim != 0:
            raise ValueError(f"target(output) must return a scalar loss, got shape {tuple(value.shape)}")
        return value
    if output.ndim != 2:
        raise ValueError("a class-index target needs (B, classes) outputs; pass a callable for other outputs")
    classes = output.argmax(1) if target is None else torch.full((len(output),), int(target), device=output.device)
    return output.gather(1, classes[:, None]).sum()


def _layer_maps(model: nn.Module, layers: Sequence[nn.Module], x: torch.Tensor,
                target: Target) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(activation, gradient) of each layer for the batch ``x``; hooks are removed even
    when the forward pass or the target raises."""
    if not layers:
        raise ValueError("give at least one layer to read the activations from")
    captured: list[torch.Tensor | None] = [None] * len(layers)

    def keep(index: int):
        def hook(_module, _inputs, output):
            captured[index] = output
        return hook

    handles = [layer.register_forward_hook(keep(i)) for i, layer in enumerate(layers)]
    try:
        with torch.enable_grad():
            out = model(x)
            missing = [i for i, a in enumerate(captured) if a is None]
            if missing:
                raise ValueError(f"layers {missing} were not used in the forward pass: give modules of this model")
            grads = torch.autograd.grad(_scalar(out, target), captured, allow_unused=False)
    finally:
        for h in handles:
            h.remove()
    return [(a.detach(), g.detach()) for a, g in zip(captured, grads)]


def _combine(maps: list[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
    """Resize every (B, h, w) map to ``size``, sum them, min–max scale each sample."""
    total = sum(F.interpolate(m[:, None], size=size, mode="bilinear", align_corners=False)[:, 0] for m in maps)
    flat = total.flatten(1)
    low, high = flat.min(1, keepdim=True).values, flat.max(1, keepdim=True).values
    scaled = (flat - low) / (high - low).clamp_min(1e-12)
    return scaled.view_as(total)


def grad_cam(model: nn.Module, layers: Sequence[nn.Module], x: torch.Tensor, target: Target = None) -> torch.Tensor:
    """Grad-CAM maps (B, H, W) in [0, 1] at the input's size (paper 003 eq. 4–5)."""
    maps = [F.relu((g.mean(dim=(2, 3), keepdim=True) * a).sum(1)) for a, g in _layer_maps(model, layers, x, target)]
    return _combine(maps, tuple(x.shape[-2:]))


def layer_cam_map(activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    """One layer's LayerCAM map (paper 003 eq. 6–7) at the layer's own resolution:
    M = ReLU(Σ_k ReLU(∂y/∂A_k) ⊙ A_k), each position's activation weighted by its own
    positive gradient; activations and gradients (B, K, H, W) → (B, H, W)."""
    if activations.shape != gradients.shape or activations.ndim != 4:
        raise ValueError(f"activations and gradients must both be (B, K, H, W), got {tuple(activations.shape)} "
                         f"and {tuple(gradients.shape)}")
    return F.relu((F.relu(gradients) * activations).sum(1))


def layer_cam(model: nn.Module, layers: Sequence[nn.Module], x: torch.Tensor, target: Target = None) -> torch.Tensor:
    """LayerCAM maps (B, H, W) in [0, 1] at the input's size (paper 003 eq. 6–7): the
    :func:`layer_cam_map` of each layer, upsampled, summed and min–max normalised."""
    maps = [layer_cam_map(a, g) for a, g in _layer_maps(model, layers, x, target)]
    return _combine(maps, tuple(x.shape[-2:]))
