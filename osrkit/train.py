"""One fit loop for every model of the workbook, devices and the checkpoint cache.

``fit`` seeds everything once, picks the device ("auto": CUDA, else Apple MPS, else CPU),
batches in-memory arrays without a DataLoader (fast for small data on a CPU), shows a
``tqdm.auto`` progress bar and stops with a clear error when the loss becomes NaN.
:func:`model_device` is the one way to find where a model lives: every tensor that meets
a model goes there. :func:`bilevel_fit` is the alternating weights/architecture loop of
a differentiable architecture search (first-order DARTS), with the same cache.

With ``cache_dir`` the trained weights are kept in a checkpoint whose key covers
everything that determines them (:func:`training_key`): the model's architecture and
initial weights, the loss and augmentation with their settings, a fingerprint of the
training data, the optimiser settings, the seed and osrkit's code. A hit loads the
weights (``weights_only=True``), returns the history recorded in training (losses,
per-epoch logs, seconds) and leaves the random streams where training left them, so a
lesson records the same numbers with a warm cache as without one.
"""
from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import random
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np
import torch
from torch import nn

from .progress import progress_bar

#: ``loss_fn(model, xb, yb)`` returns a scalar loss tensor.
LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]

#: Below this many parameters a training step is too small to share among CPU threads:
#: one thread is as fast (rings dAE, 3,000 steps: 8.0 s with 1 thread, 8.4 s with 2), and
#: it stops two notebooks running at once on a 2-core laptop from slowing each other
#: down severalfold (the same run, twice at once: 9–10 s each with 1 thread, 38 s with 2).
#: Convolutions do far more work per parameter, so a network with any is never "small"
#: (lesson 04's 114k-parameter CNN: 0.83 s an epoch with 1 thread, 0.53 s with 2).
SMALL_MODEL_PARAMETERS = 200_000


def training_threads(device: torch.device, threads: int | None = None) -> int | None:
    """The CPU threads a training on ``device`` runs with (None on a GPU): part of the
    checkpoint key, since CPU kernels sum in an order that depends on it."""
    return None if device.type != "cpu" else threads if threads is not None else torch.get_num_threads()


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


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (or buffer); CPU for a model with none."""
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


def resolve_cache_dir(cache_dir: str | os.PathLike | None = "auto") -> Path | None:
    """Where checkpoints go: ``"auto"`` → the ``cache`` folder of the data root
    (:func:`osrkit.data.data_root`, a user-writable place also when osrkit is installed
    without ``-e``); ``None`` → no cache; anything else is taken as the folder."""
    if cache_dir is None:
        return None
    if isinstance(cache_dir, str) and cache_dir == "auto":
        from .data import data_root

        return data_root() / "cache"
    return Path(cache_dir)


@dataclass
class History:
    """What training recorded: the loss of every step, the mean loss per epoch, whatever
    ``on_epoch_end`` returned after each epoch (``epoch_logs``) and the training time.
    A checkpoint stores it, so a cache hit gives the same history as training did."""

    step_losses: list[float] = field(default_factory=list)
    epoch_losses: list[float] = field(default_factory=list)
    epoch_logs: list[Any] = field(default_factory=list)
    seconds: float = 0.0
    from_cache: bool = False


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """osrkit's version and a hash of its source files: changed code never loads weights
    trained by the old code."""
    from . import __version__

    digest = hashlib.sha256(__version__.encode())
    for path in sorted(Path(__file__).resolve().parent.rglob("*.py")):
        digest.update(path.read_bytes())
    return f"{__version__}+{digest.hexdigest()[:12]}"


def _tensor_digest(t: torch.Tensor) -> str:
    return hashlib.sha256(t.detach().cpu().contiguous().numpy().tobytes()).hexdigest()[:16]


def describe(obj: Any) -> Any:
    """A JSON-able description of a loss, an augmentation or a setting, for
    :func:`training_key`: functions by qualified name, partials by function and arguments,
    tensors and generators by a hash of their contents, other objects by type and
    attributes (recursively)."""
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, (np.integer, np.floating)):
        return obj.item()
    if isinstance(obj, (list, tuple)):
        return [describe(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): describe(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, torch.Tensor):
        return {"tensor": _tensor_digest(obj), "shape": list(obj.shape)}
    if isinstance(obj, np.ndarray):
        return {"array": hashlib.sha256(np.ascontiguousarray(obj).tobytes()).hexdigest()[:16], "shape": list(obj.shape)}
    if isinstance(obj, torch.Generator):
        return {"generator": _tensor_digest(obj.get_state())}
    if isinstance(obj, functools.partial):
        return {"partial": describe(obj.func), "args": describe(obj.args), "keywords": describe(obj.keywords)}
    if isinstance(obj, nn.Module):
        return {"module": repr(obj)}
    if callable(obj) and hasattr(obj, "__qualname__"):
        return f"{getattr(obj, '__module__', '')}.{obj.__qualname__}"
    attrs = getattr(obj, "__dict__", None)
    kind = f"{type(obj).__module__}.{type(obj).__qualname__}"
    return {"type": kind, **({k: describe(v) for k, v in sorted(attrs.items())} if attrs is not None else {})}


def training_key(model: nn.Module, loss_fn: Any, X: torch.Tensor, y: torch.Tensor, settings: Mapping) -> str:
    """A hash of everything that determines the trained weights: the architecture and the
    initial weights, the loss and the other settings (:func:`describe`), the training
    data and osrkit's code (:func:`code_fingerprint`)."""
    spec = {"model": repr(model), "initial_weights": {k: _tensor_digest(v) for k, v in model.state_dict().items()},
            "loss": describe(loss_fn), "settings": describe(dict(settings)),
            "X": _tensor_digest(X), "y": _tensor_digest(y), "code": code_fingerprint()}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:20]


def _random_states() -> dict:
    """The global random streams (Python, NumPy, torch CPU and CUDA) as tensors and plain
    numbers, which ``torch.load(weights_only=True)`` reads back."""
    version, py_state, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    states = {"python": [version, list(py_state), gauss], "numpy": [kind, torch.from_numpy(keys.astype(np.int64)),
                                                                    int(pos), int(has_gauss), float(cached)],
              "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _restore_random_states(states: dict) -> None:
    version, py_state, gauss = states["python"]
    random.setstate((version, tuple(py_state), gauss))
    kind, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


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
        config: Mapping | None = None, on_epoch_end: Callable[[int, nn.Module], Any] | None = None) -> History:
    """Train ``model`` in place on in-memory arrays and return its :class:`History`.

    Give either ``epochs`` or ``steps`` (minibatch updates; the paper-004 rings were
    trained by steps). ``optimizer`` is ``"adam"`` (paper 004 Appendix: lr 1e-3) or
    ``"sgd"`` (momentum 0.9). ``augment`` maps a batch to an augmented batch.
    ``on_epoch_end(epoch, model)`` runs after every full pass over the data (epoch counts
    from 1), e.g. to log per-term losses; what it returns (if not None) is kept in
    ``History.epoch_logs``, and the model is back in training mode afterwards.
    With ``cache_dir`` (a folder, or ``"auto"``: :func:`resolve_cache_dir`) the weights,
    the history and the random streams after training are stored under
    :func:`training_key`, and a later call with the same key loads them instead of
    training (``on_epoch_end`` does not run then: read ``epoch_logs``). ``config`` adds
    settings of your own to the key.
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
    X_t, y_t = _as_tensors(X, y, dev)

    small = (sum(p.numel() for p in model.parameters()) < SMALL_MODEL_PARAMETERS
             and not any(isinstance(m, nn.modules.conv._ConvNd) for m in model.modules()))
    threads = 1 if dev.type == "cpu" and small else None
    settings = {"epochs": epochs, "steps": steps, "batch_size": batch_size, "lr": lr, "weight_decay": weight_decay,
                "optimizer": optimizer, "seed": seed, "device": dev.type, "augment": augment, "config": config,
                "cpu_threads": training_threads(dev, threads)}
    ckpt = _checkpoint_path(cache_dir, model, loss_fn, X_t, y_t, settings)
    if ckpt is not None and ckpt.exists():
        return _load_checkpoint(model, ckpt)

    opt = make_optimizer(optimizer, model.parameters(), lr, weight_decay)
    start = time.perf_counter()
    with cpu_threads(threads):
        history = _train_loop(model, loss_fn, X_t, y_t, opt, steps=steps, epochs=epochs, batch_size=batch_size,
                              seed=seed, augment=augment, progress=progress, desc=desc, lr=lr,
                              on_epoch_end=on_epoch_end)
    history.seconds = time.perf_counter() - start
    model.eval()
    if ckpt is not None:
        _save_checkpoint(model, history, ckpt)
    return history


def _as_tensors(X, y, dev: torch.device, what: str = "X and y") -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs as float32 and labels as int64 tensors on ``dev``, checked non-empty and equal in length."""
    X_t = torch.as_tensor(np.asarray(X) if not torch.is_tensor(X) else X, dtype=torch.float32).to(dev)
    y_t = torch.as_tensor(np.asarray(y) if not torch.is_tensor(y) else y, dtype=torch.long).to(dev)
    if len(X_t) != len(y_t) or len(X_t) == 0:
        raise ValueError(f"{what} must be non-empty and of equal length, got {len(X_t)} and {len(y_t)}")
    return X_t, y_t


#: Adam's β1 for the architecture parameters (DARTS: 0.5; overridable for experiments).
ARCH_BETA1 = 0.5


def bilevel_fit(model: nn.Module, loss_fn: LossFn, weights_data: tuple, arch_data: tuple, *,
                weight_params: list[nn.Parameter], arch_params: list[nn.Parameter], warmup_epochs: int,
                search_epochs: int, batch_size: int = 64, lr: float = 5e-4, arch_lr: float = 3e-4,
                arch_weight_decay: float = 1e-3, grad_clip: float = 5.0, seed: int = 0,
                device: str | torch.device = "auto", progress: bool = True, desc: str = "search",
                cache_dir: str | os.PathLike | None = None, config: Mapping | None = None,
                on_epoch_end: Callable[[int, nn.Module], Any] | None = None,
                arch_loss_fn: LossFn | None = None) -> History:
    """First-order bilevel optimisation (DARTS; paper 002 Algorithm 1): ``warmup_epochs``
    passes over ``weights_data`` updating the weights only (Adam, ``lr``, gradients clipped
    to norm ``grad_clip``), then ``search_epochs`` passes in which every weight step on a
    batch of ``weights_data`` follows an architecture step on a batch of ``arch_data``
    (Adam on ``arch_params``, ``arch_lr``, betas (0.5, 0.999) as in DARTS). The
    architecture gradient is taken at the current weights (first order: no unrolled step).
    ``arch_loss_fn`` (default ``loss_fn``) is the loss of the architecture steps, e.g. with a
    penalty on the architecture parameters. ``on_epoch_end``, the cache and the returned
    :class:`History` work as in :func:`fit`."""
    for name, value in (("warmup_epochs", warmup_epochs), ("search_epochs", search_epochs)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    if warmup_epochs + search_epochs < 1:
        raise ValueError("give at least one epoch of warm-up or search")
    arch_ids, weight_ids = {id(p) for p in arch_params}, {id(p) for p in weight_params}
    if not arch_params or not weight_params or arch_ids & weight_ids:
        raise ValueError("weight_params and arch_params must be non-empty and disjoint")
    dev = resolve_device(device)
    seed_everything(seed)
    model.to(dev)
    X_w, y_w = _as_tensors(*weights_data, dev, "the weights part")
    X_a, y_a = _as_tensors(*arch_data, dev, "the architecture part")
    settings = {"bilevel": True, "warmup_epochs": warmup_epochs, "search_epochs": search_epochs,
                "batch_size": batch_size, "lr": lr, "arch_lr": arch_lr, "arch_weight_decay": arch_weight_decay,
                "grad_clip": grad_clip, "seed": seed, "device": dev.type, "arch_data": [X_a, y_a], "config": config,
                "arch_loss": arch_loss_fn, "cpu_threads": training_threads(dev)}
    arch_loss_fn = arch_loss_fn or loss_fn
    ckpt = _checkpoint_path(cache_dir, model, loss_fn, X_w, y_w, settings)
    if ckpt is not None and ckpt.exists():
        return _load_checkpoint(model, ckpt)

    w_opt = make_optimizer("adam", weight_params, lr)
    a_opt = torch.optim.Adam(arch_params, lr=arch_lr, betas=(ARCH_BETA1, 0.999), weight_decay=arch_weight_decay)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    history = History()
    start = time.perf_counter()
    n_w, n_a = len(X_w), len(X_a)
    per_epoch = math.ceil(n_w / batch_size)
    bar = progress_bar(total=(warmup_epochs + search_epochs) * per_epoch, desc=desc, disable=not progress, leave=False)
    for epoch in range(1, warmup_epochs + search_epochs + 1):
        searching = epoch > warmup_epochs
        model.train()
        order_w = torch.randperm(n_w, generator=generator).to(dev)
        order_a = torch.randperm(n_a, generator=generator).to(dev)
        total = 0.0
        for b, first in enumerate(range(0, n_w, batch_size)):
            if searching:
                a_first = (b * batch_size) % n_a
                idx = order_a[a_first:a_first + batch_size]
                a_opt.zero_grad(set_to_none=True)
                _finite(arch_loss_fn(model, X_a[idx], y_a[idx]), desc, epoch, bar).backward()
                w_opt.zero_grad(set_to_none=True)       # only α, β move on the architecture part
                a_opt.step()
            idx = order_w[first:first + batch_size]
            loss = _finite(loss_fn(model, X_w[idx], y_w[idx]), desc, epoch, bar)
            w_opt.zero_grad(set_to_none=True)
            loss.backward()
            for p in arch_params:
                p.grad = None                           # only the weights move on the weights part
            nn.utils.clip_grad_norm_(weight_params, grad_clip)
            w_opt.step()
            value = float(loss.detach())
            history.step_losses.append(value)
            total += value
            bar.update(1)
        history.epoch_losses.append(total / per_epoch)
        bar.set_postfix(phase="search" if searching else "warm-up", loss=f"{history.epoch_losses[-1]:.2f}",
                        refresh=False)
        if on_epoch_end is not None:
            logged = on_epoch_end(epoch, model)
            if logged is not None:
                history.epoch_logs.append(logged)
    bar.close()
    history.seconds = time.perf_counter() - start
    model.eval()
    if ckpt is not None:
        _save_checkpoint(model, history, ckpt)
    return history


def _finite(loss: torch.Tensor, desc: str, epoch: int, bar) -> torch.Tensor:
    value = float(loss.detach())
    if not math.isfinite(value):
        bar.close()
        raise FloatingPointError(f"the loss became {value} in epoch {epoch} ({desc}); training stopped. "
                                 f"Lower the learning rates, check the inputs for NaN/inf, or reduce the loss weights.")
    return loss


def _checkpoint_path(cache_dir, model: nn.Module, loss_fn: Any, X: torch.Tensor, y: torch.Tensor,
                     settings: Mapping) -> Path | None:
    """Where the checkpoint of this training goes (None: no cache), named by :func:`training_key`."""
    folder = resolve_cache_dir(cache_dir)
    if folder is None:
        return None
    return folder / f"{type(model).__name__}-{training_key(model, loss_fn, X, y, settings)}.pt"


def _save_checkpoint(model: nn.Module, history: History, path: Path) -> None:
    _atomic_torch_save({"state_dict": model.state_dict(), "random_states": _random_states(),
                        "history": {"step_losses": history.step_losses, "epoch_losses": history.epoch_losses,
                                    "epoch_logs": history.epoch_logs, "seconds": history.seconds}}, path)


def _load_checkpoint(model: nn.Module, path: Path) -> History:
    """Weights, history and the random streams after training, from a checkpoint of :func:`fit`."""
    # CPU: random states must stay CPU tensors; load_state_dict moves the weights to the model's device
    saved = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(saved["state_dict"])
    model.eval()
    _restore_random_states(saved["random_states"])
    return History(**saved["history"], from_cache=True)


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
    bar = progress_bar(total=total, desc=desc, disable=not progress, leave=False)
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
            logged = on_epoch_end(len(history.epoch_losses), model)
            if logged is not None:
                history.epoch_logs.append(logged)
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
