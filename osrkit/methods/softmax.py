"""The softmax baseline: a cross-entropy network and the post-hoc rules read off it.

Rules: max softmax probability ("MSP"), OpenMax (Bendale & Boult 2016) and the
logit-space class-mean distance ("CE distance"), all from :mod:`osrkit.scoring`. Other
methods import this module for their baselines (lessons 02 and 04 compare against it).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..data import OpenSetSplit
from ..nets import build_classifier
from ..scoring import LogitDistanceScorer, MaxSoftmaxScorer, OpenMaxScorer, Scorer
from ..train import seed_everything
from .base import Method, NetworkConfig, train_network


def cross_entropy_loss(model: nn.Module, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
    """The usual classifier objective, as ``loss(model, xb, yb)`` for :func:`osrkit.train.fit`."""
    return F.cross_entropy(model(xb), yb)


@dataclass(frozen=True)
class ClassifierConfig(NetworkConfig):
    """A classifier network (:func:`osrkit.nets.build_classifier`) trained with CAC's
    official optimiser settings (SGD, momentum 0.9, batches of 128, weight decay 5e-6).
    Quick: the "small" CNN, 40 epochs at lr 0.03 (about 560 steps on mnist5k: 14 batches of 128 × 40); full: the
    paper's classifier32, 35 epochs at lr 0.01 (paper 001's MNIST schedule)."""

    network: str = "small"
    FULL = {"network": "classifier32", "epochs": 35, "lr": 0.01}


def build_network(task: OpenSetSplit, config: ClassifierConfig) -> nn.Module:
    """The config's classifier for the task's images and known classes."""
    return build_classifier(config.network, task.num_known, in_channels=task.X_train.shape[1],
                            image_size=task.X_train.shape[-1])


def train_classifier(task: OpenSetSplit, loss, config: ClassifierConfig, *, seed: int = 0, device: str = "auto",
                     cache_dir: str | None = None, progress: bool = True, desc: str = "") -> nn.Module:
    """Build the config's network from ``seed`` and train it with ``loss`` (cross-entropy,
    or another method's loss on the same network, e.g. CAC's)."""
    seed_everything(seed)
    model = build_network(task, config)
    train_network(model, loss, task, config, seed=seed, device=device, cache_dir=cache_dir, progress=progress,
                  desc=desc or f"{config.network} network")
    return model


def softmax_rules(model: nn.Module, task: OpenSetSplit) -> dict[str, Scorer]:
    """MSP, OpenMax (all known logits revised) and the CE class-mean distance, fitted on
    the task's known training data."""
    return {"MSP": MaxSoftmaxScorer().fit(model),
            "OpenMax": OpenMaxScorer(alpha=task.num_known).fit(model, task.X_train, task.y_train),
            "CE distance": LogitDistanceScorer().fit(model, task.X_train, task.y_train)}


def _train_and_score(task: OpenSetSplit, config: ClassifierConfig, *, seed: int, device: str,
                     cache_dir: str | None, progress: bool) -> dict[str, Scorer]:
    model = train_classifier(task, cross_entropy_loss, config, seed=seed, device=device, cache_dir=cache_dir,
                             progress=progress, desc="cross-entropy")
    return softmax_rules(model, task)


METHOD = Method("softmax", "04_cac_anchors", ClassifierConfig, ("MSP", "OpenMax", "CE distance"), _train_and_score,
                "a cross-entropy network scored by max softmax, OpenMax and the class-mean distance")
