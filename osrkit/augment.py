"""Batch augmentations for :func:`osrkit.train.fit` (``augment=``): tensors in, tensors out,
on whatever device the batch is."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def random_resized_crop(xb: torch.Tensor, scale: tuple[float, float] = (0.7, 1.0),
                        ratio: tuple[float, float] = (3 / 4, 4 / 3), *,
                        generator: torch.Generator | None = None) -> torch.Tensor:
    """torchvision's RandomResizedCrop for a whole batch at once: each image gets its own
    crop of area ∈ ``scale`` × the image and aspect ratio ∈ ``ratio`` (log-uniform), at a
    random place, resized back to the full size (bilinear). CAC's code uses scale
    (0.7, 1) on the digit datasets. The crops are drawn on the CPU from ``generator``
    (torch's global one when None), whatever the batch's device, so that a generator of
    its own gives the same crops in runs that otherwise draw different random numbers."""
    if xb.ndim != 4:
        raise ValueError(f"need a batch of images (B, C, H, W), got shape {tuple(xb.shape)}")
    lo, hi = scale
    if not 0 < lo <= hi <= 1:
        raise ValueError(f"scale must satisfy 0 < low <= high <= 1, got {scale}")
    n, dev = len(xb), xb.device
    area = torch.empty(n).uniform_(lo, hi, generator=generator).to(dev)
    log_ratio = torch.empty(n).uniform_(math.log(ratio[0]), math.log(ratio[1]), generator=generator).to(dev)
    aspect = log_ratio.exp()
    # crop width and height as fractions of the image, clipped to fit inside it
    w = (area * aspect).sqrt().clamp(max=1.0)
    h = (area / aspect).sqrt().clamp(max=1.0)
    cx = (torch.rand(n, generator=generator).to(dev) * 2 - 1) * (1 - w)
    cy = (torch.rand(n, generator=generator).to(dev) * 2 - 1) * (1 - h)
    theta = torch.zeros(n, 2, 3, device=dev, dtype=xb.dtype)
    theta[:, 0, 0], theta[:, 0, 2] = w, cx
    theta[:, 1, 1], theta[:, 1, 2] = h, cy
    grid = F.affine_grid(theta, list(xb.shape), align_corners=False)
    return F.grid_sample(xb, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _other_images(n: int, generator: torch.Generator | None, device) -> torch.Tensor:
    """For each image of the batch, the index of a different one (a random cyclic shift)."""
    if n < 2:
        raise ValueError("mixing needs a batch of at least 2 images")
    shift = int(torch.randint(1, n, (1,), generator=generator))
    return (torch.arange(n, device=device) + shift) % n


def gradmix(xb: torch.Tensor, maps: torch.Tensor, gamma_range: tuple[float, float] = (0.1, 0.5), *,
            generator: torch.Generator | None = None) -> tuple[torch.Tensor, float]:
    """GradMix (paper 003 §3.2): a square patch of side γ·H, γ ~ U(γ_min, γ_max) (0.1–0.5
    in the paper), centred on each image's most activated point of its attribution map
    (B, H, W) — shifted, where needed, to stay inside the image — and filled with another
    image of the batch resized to the patch. Returns the mixed batch and γ (the mixed
    view's loss is weighted by γ², eq. 8)."""
    if xb.ndim != 4 or maps.shape != (xb.shape[0], *xb.shape[2:]):
        raise ValueError(f"need images (B, C, H, W) and maps (B, H, W) of the same size, got "
                         f"{tuple(xb.shape)} and {tuple(maps.shape)}")
    lo, hi = gamma_range
    if not 0 < lo <= hi <= 1:
        raise ValueError(f"gamma_range must satisfy 0 < low <= high <= 1, got {gamma_range}")
    n, _, h, w = xb.shape
    gamma = lo + (hi - lo) * float(torch.rand(1, generator=generator))
    ph, pw = max(1, round(gamma * h)), max(1, round(gamma * w))
    peak = maps.flatten(1).argmax(1)
    rows, cols = (peak // w).tolist(), (peak % w).tolist()
    others = F.interpolate(xb[_other_images(n, generator, xb.device)], size=(ph, pw), mode="bilinear",
                           align_corners=False)
    mixed = xb.clone()
    for i, (r, c) in enumerate(zip(rows, cols)):
        top = min(max(r - ph // 2, 0), h - ph)
        left = min(max(c - pw // 2, 0), w - pw)
        mixed[i, :, top:top + ph, left:left + pw] = others[i]
    return mixed, gamma


def mixup(xb: torch.Tensor, alpha: float = 1.0, *, generator: torch.Generator | None = None) -> tuple[torch.Tensor, float]:
    """Mixup (Zhang et al. 2018), GradMix's ablation: λ·x + (1 − λ)·x_other with
    λ ~ Beta(α, α) (torch's global generator), one λ per batch. Returns the mixed batch
    and 1 − λ, the share of the other images."""
    if alpha <= 0:
        raise ValueError(f"alpha must be positive, got {alpha}")
    lam = float(torch.distributions.Beta(alpha, alpha).sample())
    other = xb[_other_images(len(xb), generator, xb.device)]
    return lam * xb + (1.0 - lam) * other, 1.0 - lam


def cutmix(xb: torch.Tensor, alpha: float = 1.0, *, generator: torch.Generator | None = None) -> tuple[torch.Tensor, float]:
    """CutMix (Yun et al. 2019), GradMix's ablation: a box of area (1 − λ)·H·W,
    λ ~ Beta(α, α), at a random place (clipped to the image), filled with the same box of
    another image. Returns the mixed batch and the pasted fraction of the image."""
    if xb.ndim != 4:
        raise ValueError(f"need a batch of images (B, C, H, W), got shape {tuple(xb.shape)}")
    if alpha <= 0:
        raise ValueError(f"alpha must be positive, got {alpha}")
    n, _, h, w = xb.shape
    lam = float(torch.distributions.Beta(alpha, alpha).sample())
    bh, bw = round(h * (1 - lam) ** 0.5), round(w * (1 - lam) ** 0.5)
    cy, cx = int(torch.randint(0, h, (1,), generator=generator)), int(torch.randint(0, w, (1,), generator=generator))
    top, bottom = max(cy - bh // 2, 0), min(cy + (bh - bh // 2), h)
    left, right = max(cx - bw // 2, 0), min(cx + (bw - bw // 2), w)
    mixed = xb.clone()
    mixed[:, :, top:bottom, left:right] = xb[_other_images(n, generator, xb.device)][:, :, top:bottom, left:right]
    return mixed, (bottom - top) * (right - left) / (h * w)


CORRUPTIONS = ("gaussian_noise", "blur", "contrast")


def corrupt(xb: torch.Tensor, kind: str, severity: int = 3, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """A few of the common corruptions of Hendrycks & Dietterich (paper 003 §4.4) at
    severity 1–5, on images in [0, 1]: ``"gaussian_noise"`` (σ = 0.08·severity),
    ``"blur"`` (Gaussian blur, σ = 0.4·severity pixels) and ``"contrast"`` (pixels pulled
    towards the image mean, contrast 1 − 0.15·severity)."""
    if kind not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {kind!r}; use one of {CORRUPTIONS}")
    if not 1 <= severity <= 5:
        raise ValueError(f"severity must be 1..5, got {severity}")
    if kind == "gaussian_noise":
        noise = torch.randn(xb.shape, generator=generator).to(xb)
        out = xb + 0.08 * severity * noise
    elif kind == "blur":
        from torchvision.transforms.functional import gaussian_blur

        sigma = 0.4 * severity
        out = gaussian_blur(xb, kernel_size=2 * math.ceil(2 * sigma) + 1, sigma=sigma)
    else:
        mean = xb.mean(dim=(1, 2, 3), keepdim=True)
        out = mean + (1 - 0.15 * severity) * (xb - mean)
    return out.clamp(0.0, 1.0)
