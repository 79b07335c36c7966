"""CROSR (Yoshihashi et al. 2019) as paper 000 uses it for its baseline: a Deep
Hierarchical Reconstruction Net whose latent [y, z] feeds per-class Weibull tails (EVT)
or nearest centroids (lesson 03)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data import OpenSetSplit
from ..evt import ClassMeanEVT
from ..scoring import ConfidenceScorer, NearestCentroidScorer, Scorer, embedder, require_training_data
from ..train import seed_everything
from .base import AdamConfig, Method, train_network


class DHRNet(nn.Module):
    """A small Deep Hierarchical Reconstruction Net, the model of CROSR (Yoshihashi et al.
    2019) that paper 000 compares against (§2): a classifier f whose internal layers x_l
    each feed a lateral bottleneck z_l = h_l(x_l), decoded back top-down by
    x̃_l = g_l(x̃_{l+1} + h̃_l(z_l)).

    Classifier: Conv(→c1, 3×3)–MaxPool–Conv(→c2, 3×3)–MaxPool–FC(→hidden)–FC(→C), ReLUs.
    Bottlenecks: z_1 a 1-channel 7×7 map of x_1 (strided conv), z_2 a 1-channel 7×7 map of
    x_2 (1×1 conv), z_3 a ``top_latent``-vector of the FC layer; z = [z_1, z_2, z_3]
    flattened (49 + 49 + ``top_latent`` numbers). ``forward`` gives the logits y;
    ``latent(x)`` gives (y, z) and ``embed(x)`` CROSR's representation [y, z]; ``reconstruct(x)`` the
    image in [0, 1]. Trained on cross-entropy + L2 reconstruction
    (:class:`DHRNetLoss`). Sized for 28×28 grey digits (quick mode); the
    paper's CROSR MNIST network is deeper.
    """

    def __init__(self, num_classes: int, *, in_channels: int = 1, image_size: int = 28,
                 channels: tuple[int, int] = (32, 64), hidden: int = 128, top_latent: int = 10) -> None:
        super().__init__()
        if image_size % 4:
            raise ValueError(f"DHRNet needs an image side divisible by 4 (two 2×2 poolings), got {image_size}")
        c1, c2 = channels
        side = image_size // 4
        self.num_classes, self.image_shape, self._side, self._c2 = num_classes, (in_channels, image_size, image_size), side, c2
        # classifier f_l
        self.conv1 = nn.Conv2d(in_channels, c1, 3, padding=1)
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1)
        self.fc = nn.Linear(c2 * side * side, hidden)
        self.head = nn.Linear(hidden, num_classes)
        # lateral encoders h_l and decoders h̃_l
        self.h1 = nn.Conv2d(c1, 1, 3, stride=2, padding=1)
        self.h2 = nn.Conv2d(c2, 1, 1)
        self.h3 = nn.Linear(hidden, top_latent)
        self.h1_dec = nn.ConvTranspose2d(1, c1, 4, stride=2, padding=1)
        self.h2_dec = nn.Conv2d(1, c2, 1)
        self.h3_dec = nn.Linear(top_latent, hidden)
        # reconstruction network g_l
        self.g3 = nn.Linear(hidden, c2 * side * side)
        self.g2 = nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1)
        self.g1 = nn.ConvTranspose2d(c1, in_channels, 4, stride=2, padding=1)

    def _forward_all(self, x: torch.Tensor):
        x1 = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x2 = F.max_pool2d(F.relu(self.conv2(x1)), 2)
        x3 = F.relu(self.fc(x2.flatten(1)))
        return self.head(x3), (self.h1(x1), self.h2(x2), self.h3(x3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._forward_all(x)[0]

    def latent(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """CROSR's representation: the logits y and the flattened bottlenecks z."""
        y, zs = self._forward_all(x)
        return y, torch.cat([z.flatten(1) for z in zs], 1)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """[y, z] as one vector per image (CROSR's space for EVT; NC-D in paper 000)."""
        return torch.cat(self.latent(x), 1)

    def decode(self, zs) -> torch.Tensor:
        z1, z2, z3 = zs
        r3 = F.relu(self.g3(F.relu(self.h3_dec(z3)))).view(-1, self._c2, self._side, self._side)
        r2 = F.relu(self.g2(r3 + self.h2_dec(z2)))
        return torch.sigmoid(self.g1(r2 + self.h1_dec(z1)))

    def logits_and_reconstruction(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y, zs = self._forward_all(x)
        return y, self.decode(zs).view_as(x)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits_and_reconstruction(x)[1]


class DHRNetLoss:
    """CROSR's training objective (Yoshihashi et al. 2019, summarised in paper 000 §2):
    cross-entropy of the logits y plus ``rec_weight`` × the L2 reconstruction error
    ‖x̃ − x‖² of each image (summed over pixels, averaged over the batch), for a
    :class:`DHRNet`."""

    def __init__(self, rec_weight: float = 1.0) -> None:
        if rec_weight < 0:
            raise ValueError(f"rec_weight must be >= 0, got {rec_weight}")
        self.rec_weight = rec_weight

    def __call__(self, model: nn.Module, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        logits, recon = model.logits_and_reconstruction(xb)
        return F.cross_entropy(logits, yb) + self.rec_weight * (recon - xb).pow(2).flatten(1).sum(1).mean()


class CROSREVTScorer(ConfidenceScorer):
    """CROSR's EVT rule as paper 000 describes it (§2, baseline of §5): one Weibull per
    class on the tail of the training distances d(x, C_i) = ‖[y, z] − µ_i‖₂ to the class
    mean (:class:`osrkit.evt.ClassMeanEVT`, correctly classified samples only), and the
    inclusion probability P(x ∈ C_i) = 1 − WeibullCDF(d(x, C_i)). The prediction is the
    classifier's argmax y; novelty = 1 − P(x ∈ C_pred), so the paper's threshold of 0.5 on
    the inclusion probability is a novelty threshold of 0.5."""

    native_name = "inclusion probability P(x ∈ C)"

    def __init__(self, tail_size: int = 20, batch_size: int = 512, *, name: str = "CROSR+EVT") -> None:
        self.tail_size, self.batch_size, self.name = tail_size, batch_size, name
        self.model: nn.Module | None = None
        self.evt: ClassMeanEVT | None = None

    @property
    def is_fitted(self) -> bool:
        return self.evt is not None

    def _latent(self, model: nn.Module, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        yz = embedder(model, self.batch_size)(X)
        return yz[:, :model.num_classes].argmax(1), yz

    def fit(self, model: nn.Module, X: np.ndarray, y: np.ndarray) -> "CROSREVTScorer":
        require_training_data(self, X, y)
        self.model = model
        pred, yz = self._latent(model, X)
        self.evt = ClassMeanEVT(self.tail_size).fit(yz, y, predicted=pred)
        return self

    def score(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self._check_fitted()
        pred, yz = self._latent(self.model, X)
        outlier = self.evt.outlier_probability(yz)
        return pred, outlier[np.arange(len(pred)), pred]


@dataclass(frozen=True)
class CROSRConfig(AdamConfig):
    """The DHRNet trained on cross-entropy + reconstruction with Adam (quick: 8 epochs;
    full: 50), CROSR's Weibull tail size, and the k-means centroids per class of its NC-D
    rule (paper 000 gives CROSR the GMVAE's K_c; 1 here unless told)."""

    epochs: int = 8
    tail_size: int = 20
    centroids_per_class: int | tuple[int, ...] = 1
    FULL = {"epochs": 50}


def train_dhrnet(task: OpenSetSplit, config: CROSRConfig, *, seed: int = 0, device: str = "auto",
                 cache_dir: str | None = None, progress: bool = True) -> DHRNet:
    """A :class:`DHRNet` trained with :class:`DHRNetLoss` on the task's known classes."""
    seed_everything(seed)
    X = task.X_train
    model = DHRNet(task.num_known, in_channels=X.shape[1], image_size=X.shape[-1])
    train_network(model, DHRNetLoss(), task, config, seed=seed, device=device, cache_dir=cache_dir,
                  progress=progress, desc="DHRNet (CROSR)")
    return model


def crosr_rules(model: DHRNet, task: OpenSetSplit, config: CROSRConfig, *, seed: int = 0) -> dict[str, Scorer]:
    """CROSR+EVT and CROSR+NC-D (nearest centroid on [y, z]) fitted on the known training data."""
    return {"CROSR+EVT": CROSREVTScorer(config.tail_size).fit(model, task.X_train, task.y_train),
            "CROSR+NC-D": NearestCentroidScorer("distance", config.centroids_per_class, seed,
                                                name="CROSR+NC-D").fit(model, task.X_train, task.y_train)}


def _train_and_score(task: OpenSetSplit, config: CROSRConfig, *, seed: int, device: str, cache_dir: str | None,
                     progress: bool) -> dict[str, Scorer]:
    model = train_dhrnet(task, config, seed=seed, device=device, cache_dir=cache_dir, progress=progress)
    return crosr_rules(model, task, config, seed=seed)


METHOD = Method("crosr", "03_gmvae_subclusters", CROSRConfig, ("CROSR+EVT", "CROSR+NC-D"), _train_and_score,
                "a reconstructing classifier's latent [y, z] with Weibull tails or nearest centroids")
