"""Searching, retraining and the method interface of NAS-OSR (paper 002 Algorithm 1,
"Training procedure", Pseudo Auxiliary Searching).

The search sees the known classes only: :func:`search_architecture` takes arrays of known
training and validation samples (labels 0..C−1) and refuses anything else; the task's test
set, where the real unknown classes live, never reaches it. The known training data are
halved (stratified) into a weights part and an architecture part. With PAS, a few known
classes become **pseudo-unknowns**: they are held out of both parts' training and serve,
with the validation data, to score the decoded architecture after every search epoch by
macro-F1 (the counterfactual rule at the threshold keeping 95% of the weights part); the
best-scoring architecture is kept. Without PAS the architecture with the best closed-set
validation accuracy is kept.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from ... import metrics
from ...data import OpenSetSplit, known_labels
from ...scoring import MaxSoftmaxScorer
from ...train import bilevel_fit, seed_everything
from ..base import AdamConfig, train_network
from .rules import CounterfactualScorer, nas_rules, training_threshold
from .space import (Architecture, ChosenNet, SuperNet, feature_side, fixed_architecture, random_architecture)
from .vae import LossWeights, NASLoss, OpenSetVAE


@dataclass(frozen=True)
class NASConfig(AdamConfig):
    """NAS-OSR's search space, VAE, loss weights and budgets.

    Quick (28×28 digits on a 2-core CPU): L = 4 layers over two resolutions (14×14 with 8
    filters, 7×7 with 16), a warm-up of 5 epochs and 25 search epochs of about 9 steps,
    architecture lr 0.05 (the official code's 3e-4 would move α by at most 0.07 in these ~225 steps)
    and an entropy penalty on softmax(α) (``arch_entropy`` 4; without it α still wanders
    between 0.4 and 0.6 after 30 epochs), retraining 15 epochs at lr 2e-3.
    Full (32×32 images): L = 6 over the paper's 1/4, 1/8, 1/16 (``resolutions`` 3 after two
    stride-2 stem convs), the paper's 30 + 30 search epochs, weights lr 5e-4, architecture
    lr 3e-4 and no entropy penalty. Loss weights (eq. 4): γ_ce = γ_kl = γ_re = 1 and γ_cr = 30; the paper fixes
    γ_kl, γ_re and tunes γ_ce, γ_cr in a small range without giving them; γ_cr from 1 to 30
    raised the counterfactual rule's AUROC on mnist5k split 0 from 0.82 to 0.92."""

    epochs: int = 15
    lr: float = 2e-3
    layers: int = 4
    resolutions: int = 2
    stem_downsamplings: int = 1
    channels: int = 8
    u_dim: int = 16
    z_dim: int = 8
    decoder_width: int = 32
    ce: float = 1.0
    kl: float = 1.0
    re: float = 1.0
    cr: float = 30.0
    temperature: float = 1.0
    warmup_epochs: int = 5
    search_epochs: int = 25
    arch_lr: float = 0.05
    grad_clip: float = 5.0
    arch_entropy: float = 4.0
    pseudo_unknowns: int = 2
    FULL = {"epochs": 100, "lr": 5e-4, "layers": 6, "resolutions": 3, "stem_downsamplings": 2, "channels": 32,
            "u_dim": 32, "z_dim": 32, "decoder_width": 64, "warmup_epochs": 30, "search_epochs": 30,
            "arch_lr": 3e-4, "arch_entropy": 0.0}

    def loss_weights(self, contrastive: bool = True) -> LossWeights:
        return LossWeights(self.ce, self.kl, self.re, self.cr if contrastive else 0.0, self.temperature)


def build_vae(encoder: nn.Module, image_shape: tuple[int, int, int], num_classes: int, config: NASConfig) -> OpenSetVAE:
    """The VAE of ``config`` on an encoder (:class:`SuperNet` or :class:`ChosenNet`)."""
    side = feature_side(image_shape[-1], config.stem_downsamplings + config.resolutions - 1)
    return OpenSetVAE(encoder, (encoder.out_channels, side, side), num_classes, image_shape=image_shape,
                      u_dim=config.u_dim, z_dim=config.z_dim, decoder_width=config.decoder_width)


def build_supernet(image_shape: tuple[int, int, int], num_classes: int, config: NASConfig) -> OpenSetVAE:
    return build_vae(SuperNet(image_shape[0], config.channels, config.layers, config.resolutions,
                              config.stem_downsamplings), image_shape, num_classes, config)


def build_network(architecture: Architecture, image_shape: tuple[int, int, int], num_classes: int,
                  config: NASConfig) -> OpenSetVAE:
    if architecture.layers != config.layers or architecture.path[-1] != config.resolutions - 1:
        raise ValueError(f"architecture {architecture.describe()} does not fit {config.layers} layers ending at "
                         f"resolution {config.resolutions - 1}")
    return build_vae(ChosenNet(image_shape[0], config.channels, architecture, config.stem_downsamplings),
                     image_shape, num_classes, config)


def count_parameters(model: nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))


# --------------------------------------------------------------------------- the search
@dataclass
class SearchResult:
    """What a search found: the kept architecture, the epoch it came from, and per search
    epoch the softmax weights α, the edge probabilities of β, the decoded architecture and
    its selection score (``logs``); the pseudo-unknown classes (known-class indices)."""

    architecture: Architecture
    best_epoch: int
    logs: list[dict[str, Any]]
    pseudo_unknown_classes: tuple[int, ...]
    selection: str
    seconds: float
    from_cache: bool = False
    supernet: OpenSetVAE | None = field(default=None, repr=False)

    @property
    def alpha_history(self) -> np.ndarray:
        """softmax(α) after every epoch (warm-up included), (epochs, L, 3)."""
        return np.array([log["alpha"] for log in self.logs])

    @property
    def alpha_final(self) -> np.ndarray:
        return self.alpha_history[-1]


def choose_pseudo_unknowns(num_known: int, count: int, seed: int) -> tuple[int, ...]:
    """``count`` of the known classes 0..C−1, drawn with ``seed``, to play the unknowns
    during the search (PAS); at least two classes stay known."""
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or not 0 <= count <= num_known - 2:
        raise ValueError(f"pseudo_unknowns must be an integer in 0..{num_known - 2} (two known classes must stay "
                         f"known), got {count!r}")
    rng = np.random.default_rng(seed)
    return tuple(sorted(int(c) for c in rng.choice(num_known, size=count, replace=False)))


def halve(y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of two disjoint, stratified halves of the training data: the weights part
    (D_train_w) and the architecture part (D_train_p)."""
    rng = np.random.default_rng(seed)
    first, second = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        first.append(idx[: len(idx) // 2])
        second.append(idx[len(idx) // 2:])
    return np.sort(np.concatenate(first)), np.sort(np.concatenate(second))


def _relabel(y: np.ndarray, pseudo_unknown: tuple[int, ...]) -> np.ndarray:
    """Known classes outside ``pseudo_unknown`` re-indexed 0..C'−1; pseudo-unknowns → −1."""
    kept = [c for c in np.unique(y) if c not in pseudo_unknown]
    table = {c: i for i, c in enumerate(kept)}
    return np.array([table.get(int(v), -1) for v in y], dtype=np.int64)


class EntropyPenalty:
    """The architecture steps' loss: the search loss plus ``weight`` × the mean entropy of
    softmax(α) per layer, which pushes each layer to commit to one operation."""

    def __init__(self, loss, weight: float) -> None:
        self.loss, self.weight = loss, weight

    def __call__(self, model: OpenSetVAE, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        p = model.encoder.operation_weights()
        entropy = -(p * torch.log(p + 1e-12)).sum(1).mean()
        return self.loss(model, xb, yb) + self.weight * entropy


def search_architecture(X_train: np.ndarray, y_train: np.ndarray, X_val: np.ndarray, y_val: np.ndarray,
                        config: NASConfig, *, pas: bool = True, contrastive: bool = True, seed: int = 0,
                        device: str = "auto", cache_dir: str | None = None, progress: bool = True,
                        desc: str = "search") -> SearchResult:
    """Algorithm 1 on known-class data only (labels 0..C−1): halve the training data,
    with ``pas`` hold out ``config.pseudo_unknowns`` known classes as pseudo-unknowns, warm
    the supernet's weights up, alternate weight and architecture steps, and after every
    search epoch decode the architecture and score the supernet — macro-F1 over the
    pseudo-known classes + "unknown" on the validation data and the pseudo-unknowns (PAS),
    or closed-set validation accuracy (no PAS, which is also what ``pseudo_unknowns=0``
    means). ``contrastive=False`` drops L_cr from the search loss. Returns the
    best-scoring epoch's architecture."""
    y_train, y_val = np.asarray(y_train), np.asarray(y_val)
    for name, y in (("y_train", y_train), ("y_val", y_val)):
        if y.size and y.min() < 0:
            raise ValueError(f"the search sees known classes only, but {name} holds unknown (−1) labels: pass "
                             f"the task's known training/validation data, never its test set")
    classes = known_labels(y_train)
    pas = pas and config.pseudo_unknowns > 0
    pseudo = choose_pseudo_unknowns(len(classes), config.pseudo_unknowns, seed) if pas else ()
    part_w, part_a = halve(y_train, seed)
    y_tr, y_va = _relabel(y_train, pseudo), _relabel(y_val, pseudo)
    w_kkc, a_kkc = part_w[y_tr[part_w] >= 0], part_a[y_tr[part_a] >= 0]
    X_tr = np.asarray(X_train, dtype=np.float32)
    # scored after each search epoch: validation data (pseudo-known and pseudo-unknown) and,
    # with PAS, the pseudo-unknown training samples of both parts
    X_sel = np.concatenate([np.asarray(X_val, dtype=np.float32), X_tr[y_tr < 0]])
    y_sel = np.concatenate([y_va, y_tr[y_tr < 0]])
    n_known = len(classes) - len(pseudo)

    seed_everything(seed)
    model = build_supernet(tuple(X_tr.shape[1:]), n_known, config)
    encoder: SuperNet = model.encoder

    def after_epoch(epoch: int, net: OpenSetVAE) -> dict[str, Any]:
        log = {"epoch": epoch, "alpha": encoder.operation_weights().detach().cpu().tolist(),
               "beta": encoder.edge_probabilities().detach().cpu().tolist(),
               "architecture": encoder.decode().as_dict(), "score": None}
        if epoch > config.warmup_epochs:
            log["score"] = _selection_score(net, X_tr[w_kkc], X_sel, y_sel, n_known, pas)
        return log

    loss = NASLoss(config.loss_weights(contrastive))
    history = bilevel_fit(model, loss, (X_tr[w_kkc], y_tr[w_kkc]),
                          (X_tr[a_kkc], y_tr[a_kkc]), weight_params=encoder.weight_parameters() + [
                              p for name, p in model.named_parameters() if not name.startswith("encoder.")],
                          arch_params=encoder.arch_parameters(), warmup_epochs=config.warmup_epochs,
                          search_epochs=config.search_epochs, batch_size=config.batch_size, lr=config.lr,
                          arch_lr=config.arch_lr, grad_clip=config.grad_clip, seed=seed, device=device,
                          progress=progress, desc=desc, cache_dir=cache_dir,
                          config={"pas": pas, "contrastive": contrastive, "pseudo_unknowns": pseudo,
                                  "selection": [X_sel, y_sel]},
                          on_epoch_end=after_epoch,
                          arch_loss_fn=EntropyPenalty(loss, config.arch_entropy) if config.arch_entropy else None)
    scored = [log for log in history.epoch_logs if log["score"] is not None]
    if scored:
        best = max(scored, key=lambda log: log["score"])      # the first of equal scores
    else:
        best = history.epoch_logs[-1]
    arch = Architecture(tuple(best["architecture"]["operations"]), tuple(best["architecture"]["path"]))
    return SearchResult(arch, best["epoch"], history.epoch_logs, pseudo, "macro-F1 with pseudo-unknowns" if pas
                        else "closed-set validation accuracy", history.seconds,
                        history.from_cache, model)


def _selection_score(model: OpenSetVAE, X_fit: np.ndarray, X_sel: np.ndarray, y_sel: np.ndarray, n_known: int,
                     pas: bool) -> float:
    """PAS: macro-F1 (pseudo-known classes + unknown) of the counterfactual rule at the
    threshold keeping 95% of the weights part; no PAS: closed-set accuracy."""
    if not pas:
        pred, _ = MaxSoftmaxScorer().fit(model).score(X_sel)
        return float(np.mean(pred == y_sel))
    scorer = CounterfactualScorer().fit(model)
    pred, novelty = scorer.score(X_sel)
    decided = metrics.predict_with_rejection(pred, novelty, training_threshold(scorer, X_fit))
    return metrics.macro_f1(y_sel, decided, n_known)


def search_for_task(task: OpenSetSplit, config: NASConfig, **kwargs) -> SearchResult:
    """:func:`search_architecture` on the task's known training and validation data only."""
    return search_architecture(task.X_train, task.y_train, task.X_val, task.y_val, config, **kwargs)


# --------------------------------------------------------------------------- retraining
def train_architecture(task: OpenSetSplit, architecture: Architecture, config: NASConfig, *, contrastive: bool = True,
                       seed: int = 0, device: str = "auto", cache_dir: str | None = None, progress: bool = True,
                       desc: str = "") -> OpenSetVAE:
    """The discrete network of ``architecture``, initialised from ``seed`` and trained from
    scratch on all known training classes with the loss of eq. 4 ("Training procedure")."""
    seed_everything(seed)
    model = build_network(architecture, tuple(task.X_train.shape[1:]), task.num_known, config)
    train_network(model, NASLoss(config.loss_weights(contrastive)), task, config, seed=seed, device=device,
                  cache_dir=cache_dir, progress=progress, desc=desc or f"retraining {architecture.describe()}")
    return model


#: The ablations of paper 002 Tables 3–4 in this workbook: how each architecture is found.
ABLATIONS = ("searched (PAS + L_cr)", "searched without PAS", "searched without L_cr", "fixed (every layer one conv)",
             "random")


@dataclass
class Ablation:
    """One row of the ablation: how the architecture was found, the architecture, the
    retrained network and its parameter count, and the search (None for fixed/random)."""

    name: str
    architecture: Architecture
    model: OpenSetVAE
    parameters: int
    search: SearchResult | None = None


def run_ablation(name: str, task: OpenSetSplit, config: NASConfig, *, seed: int = 0, device: str = "auto",
                 cache_dir: str | None = None, progress: bool = True) -> Ablation:
    """One row of :data:`ABLATIONS` on ``task``: search (or fix, or draw with ``seed``) an
    architecture, then retrain it the same way for every row (the full loss of eq. 4, same budget,
    same seed)."""
    if name not in ABLATIONS:
        raise ValueError(f"unknown ablation {name!r}; choose from {ABLATIONS}")
    run = dict(seed=seed, device=device, cache_dir=cache_dir, progress=progress)
    searches = {ABLATIONS[0]: dict(pas=True, contrastive=True), ABLATIONS[1]: dict(pas=False, contrastive=True),
                ABLATIONS[2]: dict(pas=True, contrastive=False)}
    search = None
    if name in searches:
        search = search_for_task(task, config, desc=f"search: {name}", **searches[name], **run)
        arch = search.architecture
    elif name == "random":
        arch = random_architecture(config.layers, config.resolutions, np.random.default_rng(seed))
    else:
        arch = fixed_architecture(config.layers, config.resolutions)
    model = train_architecture(task, arch, config, desc=f"retraining: {name}", **run)
    return Ablation(name, arch, model, count_parameters(model), search)


def run_ablations(task: OpenSetSplit, config: NASConfig, *, names: tuple[str, ...] = ABLATIONS,
                  **kwargs: Any) -> dict[str, Ablation]:
    """:func:`run_ablation` for each of ``names``, same split and seed."""
    return {name: run_ablation(name, task, config, **kwargs) for name in names}


def _train_and_score(task: OpenSetSplit, config: NASConfig, *, seed: int, device: str, cache_dir: str | None,
                     progress: bool) -> dict[str, Any]:
    search = search_for_task(task, config, seed=seed, device=device, cache_dir=cache_dir, progress=progress)
    model = train_architecture(task, search.architecture, config, seed=seed, device=device, cache_dir=cache_dir,
                               progress=progress)
    return nas_rules(model, task.X_train, task.y_train)
