"""One fit loop for every model of the workbook.

It seeds everything once, picks the device ("auto": CUDA, else Apple MPS, else CPU),
batches in-memory arrays without a DataLoader (fast for small data on a CPU), shows a
``tqdm.auto`` progress bar, stops with a clear error when the loss becomes NaN, and can
cache the trained weights in a checkpoint keyed by the training configuration.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import random
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Mapping

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

#: ``loss_fn(model, xb, yb)`` returns a scalar loss tensor.
LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]

#: Below this many parameters a training step is too small to share among CPU threads:
#: one thread is as fast (rings dAE, 3,000 steps: 8.0 s with 1 thread, 8.4 s with 2), and
#: it stops two notebooks running at once on a 2-core laptop from slowing each other
#: down severalfold (the same run, twice at once: 9–10 s each with 1 thread, 38 s with 2).
#: Convolutions do far more work per parameter, so a network with any is never "small"
#: (lesson 04's 114k-parameter CNN: 0.83 s an epoch with 1 thread, 0.53 s with 2).
SMALL_MODEL_PARAMETERS = 200_000


@contextmanager
def cpu_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch CPU threads (``None``: leave as is), then restore."""
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) for repeatable runs."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    torch.manual_seed(int(seed))


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` → CUDA if available, else MPS, else CPU; other names are checked."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as err:
        raise ValueError(f"unknown device {device!r}; use 'auto', 'cpu', 'cuda' or 'mps'") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was asked for but CUDA is not available here; use device='auto' or 'cpu'")
    return dev


@dataclass
class History:
    """Mean training loss per epoch and the loss of every step."""

    step_losses: list[float] = field(default_factory=list)
    epoch_losses: list[float] = field(default_factory=list)
    from_cache: bool = False


def checkpoint_path(cache_dir: str | os.PathLike, config: Mapping) -> Path:
    """File name for a model trained with ``config`` (a JSON-serialisable mapping)."""
    key = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return Path(cache_dir) / f"{config.get('name', 'model')}-{key}.pt"


def _atomic_torch_save(obj, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def fit(model: nn.Module, loss_fn: LossFn, X: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor, *,
        epochs: int | None = None, steps: int | None = None, batch_size: int = 64, lr: float = 1e-3,
        weight_decay: float = 0.0, optimizer: str = "adam", seed: int = 0, device: str | torch.device = "auto",
        augment: Callable[[torch.Tensor], torch.Tensor] | None = None, progress: bool = True,
        desc: str = "training", cache_dir: str | os.PathLike | None = None,
        config: Mapping | None = None, on_epoch_end: Callable[[int, nn.Module], None] | None = None) -> History:
    """Train ``model`` in place on in-memory arrays and return its loss history.

    Give either ``epochs`` or ``steps`` (minibatch updates; the paper-004 rings were
    trained by steps). ``optimizer`` is ``"adam"`` (paper 004 Appendix: lr 1e-3) or
    ``"sgd"`` (momentum 0.9). ``augment`` maps a batch to an augmented batch. With
    ``cache_dir`` and ``config`` the weights are loaded from a checkpoint if one exists for
    that exact configuration, else trained and saved there atomically.
    ``on_epoch_end(epoch, model)`` runs after every full pass over the data (epoch counts
    from 1), e.g. to log per-term losses; the model is back in training mode afterwards.
    """
    if (epochs is None) == (steps is None):
        raise ValueError("give exactly one of epochs= or steps=")
    budget = epochs if epochs is not None else steps
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < 1:
        raise ValueError(f"epochs/steps must be a positive integer, got {budget!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    dev = resolve_device(device)
    seed_everything(seed)
    model.to(dev)

    ckpt = None
    if cache_dir is not None:
        if config is None:
            raise ValueError("cache_dir needs config= (the settings that make this model unique)")
        ckpt = checkpoint_path(cache_dir, {**config, "seed": seed, "epochs": epochs, "steps": steps,
                                           "batch_size": batch_size, "lr": lr, "optimizer": optimizer})
        if ckpt.exists():
            model.load_state_dict(torch.load(ckpt, map_location=dev, weights_only=True))
            model.eval()
            return History(from_cache=True)

    X_t = torch.as_tensor(np.asarray(X) if not torch.is_tensor(X) else X, dtype=torch.float32).to(dev)
    y_t = torch.as_tensor(np.asarray(y) if not torch.is_tensor(y) else y, dtype=torch.long).to(dev)
    if len(X_t) != len(y_t) or len(X_t) == 0:
        raise ValueError(f"X and y must be non-empty and of equal length, got {len(X_t)} and {len(y_t)}")
    opt = make_optimizer(optimizer, model.parameters(), lr, weight_decay)

    small = (sum(p.numel() for p in model.parameters()) < SMALL_MODEL_PARAMETERS
             and not any(isinstance(m, nn.modules.conv._ConvNd) for m in model.modules()))
    with cpu_threads(1 if dev.type == "cpu" and small else None):
        history = _train_loop(model, loss_fn, X_t, y_t, opt, steps=steps, epochs=epochs, batch_size=batch_size,
                              seed=seed, augment=augment, progress=progress, desc=desc, lr=lr,
                              on_epoch_end=on_epoch_end)
    model.eval()
    if ckpt is not None:
        _atomic_torch_save(model.state_dict(), ckpt)
    return history


def _train_loop(model: nn.Module, loss_fn: LossFn, X_t: torch.Tensor, y_t: torch.Tensor,
                opt: torch.optim.Optimizer, *, steps: int | None, epochs: int | None, batch_size: int,
                seed: int, augment, progress: bool, desc: str, lr: float, on_epoch_end=None) -> History:
    """Minibatch updates over shuffled in-memory tensors; stops on a non-finite loss."""
    n, dev = len(X_t), X_t.device
    batches_per_epoch = max(1, math.ceil(n / batch_size))
    total = steps if steps is not None else epochs * batches_per_epoch
    generator = torch.Generator(device="cpu").manual_seed(seed)
    history = History()
    model.train()
    bar = tqdm(total=total, desc=desc, disable=not progress, leave=False)
    step = 0
    epoch_sum, epoch_count = 0.0, 0
    while step < total:
        order = torch.randperm(n, generator=generator).to(dev)
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            xb, yb = X_t[idx], y_t[idx]
            if augment is not None:
                xb = augment(xb)
            loss = loss_fn(model, xb, yb)
            value = float(loss.detach())
            if not math.isfinite(value):
                bar.close()
                raise FloatingPointError(
                    f"the loss became {value} at step {step + 1} of {total} ({desc}); training stopped. "
                    f"Lower the learning rate (lr={lr}), check the inputs for NaN/inf, or reduce the loss weights.")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            history.step_losses.append(value)
            epoch_sum, epoch_count = epoch_sum + value, epoch_count + 1
            step += 1
            bar.update(1)
            if step % 50 == 0 or step == total:
                bar.set_postfix(loss=f"{value:.4f}", refresh=False)
            if step >= total:
                break
        history.epoch_losses.append(epoch_sum / epoch_count)
        epoch_sum, epoch_count = 0.0, 0
        if on_epoch_end is not None and (step % batches_per_epoch == 0):
            on_epoch_end(len(history.epoch_losses), model)
            model.train()
    bar.close()
    return history


def make_optimizer(name: str, params, lr: float, weight_decay: float = 0.0, *,
                   fused: bool = False) -> torch.optim.Optimizer:
    """``"adam"`` or ``"sgd"`` (momentum 0.9). ``fused=True`` asks for torch's fused Adam
    kernel, which halves the update time of large parameter tensors (the fooling
    generators' 10 × 784 × 784 weights: 37 → 19 ms a step on 2 CPU cores); where this
    torch build or device has no fused kernel (CPU before torch 2.4), the usual one runs."""
    params = list(params)
    if name == "adam":
        if fused:
            try:
                return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=True)
            except (RuntimeError, TypeError):
                pass
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}; use 'adam' or 'sgd'")


@torch.no_grad()
def predict_batches(fn: Callable[[torch.Tensor], torch.Tensor], X: np.ndarray | torch.Tensor,
                    *, batch_size: int = 1024, device: str | torch.device | None = None) -> torch.Tensor:
    """Apply ``fn`` to ``X`` in batches without gradients and return the CPU result."""
    X_t = torch.as_tensor(np.asarray(X) if not torch.is_tensor(X) else X, dtype=torch.float32)
    dev = resolve_device(device) if device is not None else torch.device("cpu")
    outs = [fn(X_t[i:i + batch_size].to(dev)).cpu() for i in range(0, len(X_t), batch_size)]
    return torch.cat(outs) if outs else torch.empty(0)
