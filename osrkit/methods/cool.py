"""COOL, the Competitive Overcomplete Output Layer (Kardan & Stanley 2017), as paper 004
compares it: ω softmax units per class, and a class confidence Π_j ω·p_kj that only
inputs activating all of a class's units reach (lesson 02)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..data import OpenSetSplit
from ..nets import PaperCNN
from ..scoring import ConfidenceScorer, Scorer
from ..train import model_device, predict_batches, seed_everything
from .base import AdamConfig, Method, train_network


class COOLClassifier(PaperCNN):
    """PaperCNN with a Competitive Overcomplete Output Layer (Kardan & Stanley, 2017):
    ω units per class share one softmax over all C·ω units; ``forward`` returns the C·ω
    logits, unit j of class k at index k·ω + j."""

    def __init__(self, num_classes: int = 10, omega: int = 10, **kwargs) -> None:
        if omega < 1:
            raise ValueError(f"omega (units per class) must be >= 1, got {omega}")
        super().__init__(num_classes, outputs=num_classes * omega, **kwargs)
        self.omega = omega


def cool_confidence(logits: torch.Tensor, num_classes: int, omega: int) -> torch.Tensor:
    """Class confidences of COOL: Π_j (ω·p_kj) over the class's ω units, with p the softmax
    over all C·ω units. By the AM–GM inequality it is at most 1, reached when the class's
    units each hold 1/ω."""
    log_p = torch.log_softmax(logits, dim=1).view(-1, num_classes, omega)
    return torch.exp((log_p + torch.log(torch.tensor(float(omega)))).sum(2))


def cool_loss(model: nn.Module, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
    """COOL training objective: cross-entropy of the softmax over all C·ω units against a
    target that puts 1/ω on each of the true class's ω units (Kardan & Stanley, 2017)."""
    omega = model.omega
    log_p = torch.log_softmax(model(xb), dim=1).view(len(xb), -1, omega)
    return -log_p[torch.arange(len(xb)), yb].mean(1).mean()


class COOLScorer(ConfidenceScorer):
    """COOL (Kardan & Stanley, 2017; paper 004 §II): class confidence Π_j ω·p_kj over the
    class's ω units; novelty = 1 − max_k confidence_k."""

    native_name = "COOL class confidence"
    requires = ("omega", "no COOL output layer (attribute omega)")

    def __init__(self, batch_size: int = 256, *, name: str = "COOL") -> None:
        self.batch_size, self.name = batch_size, name
        self.model: nn.Module | None = None


    def class_confidences(self, X: np.ndarray) -> np.ndarray:
        model = self._fitted_model()
        return predict_batches(lambda xb: cool_confidence(model(xb), model.num_classes, model.omega), X,
                               batch_size=self.batch_size, device=model_device(model)).numpy()

    def score(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        conf = self.class_confidences(X)
        return conf.argmax(1), 1.0 - conf.max(1)


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


@dataclass(frozen=True)
class COOLConfig(AdamConfig):
    """The paper CNN with ω = ``omega`` output units per class (10 in paper 004's
    comparison), trained as the dAE is (Adam; quick: 5 epochs at lr 2e-3 in batches of 32;
    full: 100 epochs at 1e-3 in batches of 64)."""

    epochs: int = 5
    batch_size: int = 32
    lr: float = 2e-3
    omega: int = 10
    FULL = {"epochs": 100, "lr": 1e-3, "batch_size": 64}


def train_cool(task: OpenSetSplit, config: COOLConfig, *, seed: int = 0, device: str = "auto",
               cache_dir: str | None = None, progress: bool = True, desc: str = "") -> COOLClassifier:
    """A :class:`COOLClassifier` trained with :func:`cool_loss` on the task's known classes."""
    seed_everything(seed)
    X = task.X_train
    model = COOLClassifier(task.num_known, omega=config.omega, in_channels=X.shape[1], image_size=X.shape[-1])
    train_network(model, cool_loss, task, config, seed=seed, device=device, cache_dir=cache_dir, progress=progress,
                  desc=desc or f"COOL ({len(task.y_train)} images)")
    return model


def _train_and_score(task: OpenSetSplit, config: COOLConfig, *, seed: int, device: str, cache_dir: str | None,
                     progress: bool) -> dict[str, Scorer]:
    return {"COOL": COOLScorer().fit(train_cool(task, config, seed=seed, device=device, cache_dir=cache_dir,
                                                progress=progress))}


METHOD = Method("cool", "02_fooling_and_overgeneralization", COOLConfig, ("COOL",), _train_and_score,
                "an overcomplete softmax layer whose class confidence needs all of a class's units")
