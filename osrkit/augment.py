"""Batch augmentations for :func:`osrkit.train.fit` (``augment=``): tensors in, tensors out,
on whatever device the batch is."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def random_resized_crop(xb: torch.Tensor, scale: tuple[float, float] = (0.7, 1.0),
                        ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> torch.Tensor:
    """torchvision's RandomResizedCrop for a whole batch at once: each image gets its own
    crop of area ∈ ``scale`` × the image and aspect ratio ∈ ``ratio`` (log-uniform), at a
    random place, resized back to the full size (bilinear). CAC's code uses scale
    (0.7, 1) on the digit datasets."""
    if xb.ndim != 4:
        raise ValueError(f"need a batch of images (B, C, H, W), got shape {tuple(xb.shape)}")
    lo, hi = scale
    if not 0 < lo <= hi <= 1:
        raise ValueError(f"scale must satisfy 0 < low <= high <= 1, got {scale}")
    n, dev = len(xb), xb.device
    area = torch.empty(n, device=dev).uniform_(lo, hi)
    log_ratio = torch.empty(n, device=dev).uniform_(math.log(ratio[0]), math.log(ratio[1]))
    aspect = log_ratio.exp()
    # crop width and height as fractions of the image, clipped to fit inside it
    w = (area * aspect).sqrt().clamp(max=1.0)
    h = (area / aspect).sqrt().clamp(max=1.0)
    cx = (torch.rand(n, device=dev) * 2 - 1) * (1 - w)
    cy = (torch.rand(n, device=dev) * 2 - 1) * (1 - h)
    theta = torch.zeros(n, 2, 3, device=dev, dtype=xb.dtype)
    theta[:, 0, 0], theta[:, 0, 2] = w, cx
    theta[:, 1, 1], theta[:, 1, 2] = h, cy
    grid = F.affine_grid(theta, list(xb.shape), align_corners=False)
    return F.grid_sample(xb, grid, mode="bilinear", padding_mode="border", align_corners=False)
