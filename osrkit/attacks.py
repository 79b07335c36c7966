"""Fooling attacks (paper 004 §IV-B, after Kardan & Stanley 2017).

A fooling generator network (FGN) is one sigmoid layer mapping a fixed random input z
to a 28×28 image, x = σ(W z + b); Adam updates W and b to raise a target class. A trial
succeeds at the first step where the model's *confidence* for the target reaches the
threshold. What the FGN descends and what counts as confidence are set by a target
object: the paper descends the cross-entropy of the unscaled output y and tests the
scaled confidence (ỹ = c̃·y for the dAE); ``attack_confidence=True`` descends −log of the
confidence itself (the paper's "fooling the confidence scores directly"). A target gives
both from one forward pass (``evaluate``).

All trials run as one batch: trial t has its own W_t, b_t, z_t and its own Adam
moments, and Adam's update is elementwise, so the batched attack equals running the
trials one at a time (tested).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .models import cool_confidence
from .scorers import jacobian_diagonal
from .train import make_optimizer


class FoolingTarget(Protocol):
    num_classes: int

    def evaluate(self, x: torch.Tensor, targets: torch.Tensor, at_least: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
        """From one forward pass: the per-trial loss the FGN descends, shape (T,), and the
        per-trial confidence for the target class, shape (T,), detached. The confidence is
        exact wherever it is ``>= at_least``; elsewhere it may be any value below
        ``at_least`` (a cheaper bound)."""


class SoftmaxTarget:
    """A plain classifier: descend cross-entropy, confidence = softmax probability."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model.eval()
        self.num_classes = model.num_classes

    def evaluate(self, x, targets, at_least: float = 0.0):
        logits = self.model(x)
        loss = nn.functional.cross_entropy(logits, targets, reduction="none")
        return loss, torch.softmax(logits.detach(), 1).gather(1, targets[:, None])[:, 0]


class COOLTarget:
    """COOL: descend the unit cross-entropy (targets 1/ω on the class's units), or −log of
    the class confidence Π_j ω·p_kj with ``attack_confidence=True``."""

    def __init__(self, model: nn.Module, attack_confidence: bool = False) -> None:
        self.model = model.eval()
        self.num_classes, self.omega = model.num_classes, model.omega
        self.attack_confidence = attack_confidence

    def evaluate(self, x, targets, at_least: float = 0.0):
        logits = self.model(x)
        conf = cool_confidence(logits, self.num_classes, self.omega).gather(1, targets[:, None])[:, 0]
        if self.attack_confidence:
            loss = -torch.log(conf + 1e-12)
        else:
            log_p = torch.log_softmax(logits, 1).view(len(x), self.num_classes, self.omega)
            loss = -log_p[torch.arange(len(x)), targets].mean(1)
        return loss, conf.detach()


class DAETarget:
    """The dAE classifier: descend the cross-entropy of y (the paper's protocol), or of the
    scaled output ỹ = c̃(x)·y with ``attack_confidence=True`` (reconstruction factor only,
    Γ is not differentiated); success is judged on ỹ_target = c̃(x)·y_target (eq. 6).

    The classifier and the decoder read one pass of the encoder. Γ ≤ 1, so a trial whose
    reconstruction factor times y is below ``at_least`` cannot pass it; the Jacobian
    estimate is only computed for the others (an exact shortcut)."""

    def __init__(self, model: nn.Module, alpha: float, beta: float, *, attack_confidence: bool = False,
                 n_probes: int = 4, seed: int = 0) -> None:
        self.model = model.eval()
        self.num_classes = model.num_classes
        self.alpha, self.beta = alpha, beta
        self.attack_confidence, self.n_probes, self.seed = attack_confidence, n_probes, seed

    def _log_recon_conf(self, h, x):
        return -self.alpha * (self.model.decode(h).view_as(x) - x).pow(2).flatten(1).mean(1)

    def evaluate(self, x, targets, at_least: float = 0.0):
        h = self.model.features(x)
        log_y = torch.log_softmax(self.model.head(h), 1).gather(1, targets[:, None])[:, 0]
        if self.attack_confidence:
            log_rc = self._log_recon_conf(h, x)
            loss = -(log_y + log_rc)
        else:
            with torch.no_grad():
                log_rc = self._log_recon_conf(h.detach(), x.detach())
            loss = -log_y
        upper = torch.exp(log_y.detach() + log_rc.detach())
        conf = upper.clone()
        check = upper >= at_least
        if check.any():
            diag, _ = jacobian_diagonal(self.model.reconstruct, x.detach()[check], method="hutchinson",
                                        n_probes=self.n_probes, seed=self.seed)
            gamma = (diag - 1.0).mean(1)
            conf[check] = upper[check] * torch.where(gamma > 0, torch.exp(-self.beta * gamma.clamp(min=0)),
                                                     torch.ones_like(gamma))
        return loss, conf


@dataclass
class FoolingResult:
    """One row per trial."""

    targets: np.ndarray     # target class
    success: np.ndarray     # reached the threshold within the budget
    steps: np.ndarray       # updates needed (first success), −1 when never
    confidence: np.ndarray  # confidence at success, else after the last step
    images: np.ndarray      # the image at success, else after the last step, (T, *image_shape)

    @property
    def rate(self) -> float:
        return float(self.success.mean())

    @property
    def mean_steps(self) -> float:
        """Mean updates over the successful trials (NaN when none succeeded)."""
        return float(self.steps[self.success].mean()) if self.success.any() else float("nan")


def fooling_attack(target: FoolingTarget, targets: Sequence[int], *,
                   threshold: float | Sequence[float] = 0.9, max_steps: int = 1000, lr: float = 1e-3,
                   seed: int = 0, image_shape: tuple[int, ...] = (1, 28, 28), progress: bool = True,
                   desc: str = "fooling") -> FoolingResult | dict[float, FoolingResult]:
    """Run one FGN trial per entry of ``targets``, all at once (see the module docstring).

    Step 0 is the untouched generator; a trial that already passes there needs 0 steps.
    Trial t is seeded with ``seed + t``, so a batch equals its trials run one by one.
    The FGN's updates do not depend on the threshold, so one run serves several: give a
    list of thresholds to get ``{threshold: FoolingResult}`` (the run lasts until every
    trial passes the highest one, or the budget ends).
    """
    levels = [float(threshold)] if np.isscalar(threshold) else [float(t) for t in threshold]
    if not levels or any(not 0.0 < t <= 1.0 for t in levels):
        raise ValueError(f"threshold must be in (0, 1] (or a non-empty list of such), got {threshold}")
    if max_steps < 0:
        raise ValueError(f"max_steps must be >= 0, got {max_steps}")
    targets_t = torch.as_tensor(np.asarray(targets), dtype=torch.long)
    if targets_t.ndim != 1 or len(targets_t) == 0:
        raise ValueError("targets must be a non-empty list of class indices, one per trial")
    if targets_t.min() < 0 or targets_t.max() >= target.num_classes:
        raise ValueError(f"targets must lie in 0..{target.num_classes - 1}")
    dev = next(target.model.parameters()).device
    targets_t = targets_t.to(dev)
    n_trials, dim = len(targets_t), int(np.prod(image_shape))
    W, b, z = _init_generators(n_trials, dim, seed)
    W, b, z = W.to(dev).requires_grad_(), b.to(dev).requires_grad_(), z.to(dev)
    opt = make_optimizer("adam", [W, b], lr, fused=True)

    def generate():
        return torch.sigmoid(torch.bmm(W, z[:, :, None])[:, :, 0] + b).view(n_trials, *image_shape)

    lowest = min(levels)
    done = {t: torch.zeros(n_trials, dtype=torch.bool, device=dev) for t in levels}
    steps = {t: torch.full((n_trials,), -1, dtype=torch.long, device=dev) for t in levels}
    conf_at = {t: torch.zeros(n_trials, device=dev) for t in levels}
    images = {t: torch.zeros(n_trials, *image_shape, device=dev) for t in levels}
    for p in target.model.parameters():
        p.requires_grad_(False)
    try:
        bar = tqdm(total=max_steps, desc=desc, disable=not progress, leave=False)
        for step in range(max_steps + 1):
            x = generate()
            loss, conf = target.evaluate(x, targets_t, at_least=lowest)
            for t in levels:
                newly = (conf >= t) & ~done[t]
                steps[t][newly] = step
                images[t][newly] = x.detach()[newly]
                conf_at[t][newly] = conf[newly]
                done[t] |= newly
            if all(d.all() for d in done.values()) or step == max_steps:
                break
            opt.zero_grad(set_to_none=True)
            loss.sum().backward()
            opt.step()
            bar.update(1)
            if step % 20 == 0:
                bar.set_postfix(fooled=f"{int(done[lowest].sum())}/{n_trials}", refresh=False)
        bar.close()
        final_conf = target.evaluate(x.detach(), targets_t, at_least=0.0)[1]  # exact
    finally:
        for p in target.model.parameters():
            p.requires_grad_(True)
    results = {}
    for t in levels:
        rest = ~done[t]
        images[t][rest] = x.detach()[rest]
        conf_at[t][rest] = final_conf[rest]
        results[t] = FoolingResult(targets_t.cpu().numpy(), done[t].cpu().numpy(), steps[t].cpu().numpy(),
                                   conf_at[t].cpu().numpy(), images[t].cpu().numpy())
    return results[levels[0]] if np.isscalar(threshold) else results


def _init_generators(n_trials: int, dim: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-trial FGN weights (PyTorch's Linear initialisation) and random input, trial t
    drawn from a generator seeded with seed + t."""
    bound = 1.0 / np.sqrt(dim)
    Ws, bs, zs = [], [], []
    for t in range(n_trials):
        g = torch.Generator().manual_seed(seed + t)
        Ws.append((torch.rand(dim, dim, generator=g) * 2 - 1) * bound)
        bs.append((torch.rand(dim, generator=g) * 2 - 1) * bound)
        zs.append(torch.rand(dim, generator=g))
    return torch.stack(Ws), torch.stack(bs), torch.stack(zs)
