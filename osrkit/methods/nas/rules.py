"""NAS-OSR's test procedure (paper 002, "Testing procedure") as scorers.

- "NAS-OSR": the counterfactual reconstruction distance min_m ‖x − D(µ_m, z)‖₂, the
  paper's first stage (the image decoded from the sample's own z with each known class's
  mean); labels from the classifier.
- "NAS-OSR eq.5": the class-attribute rule. Per-class diagonal Gaussians f_m of u are fitted
  on correctly classified training samples; P_m(x) = 1 − ∏_r erf(|v_r|/√2) with
  v = (u − µ_m)/σ_m is eq. 5 (the mass of f_m outside the box |v| around its mean). The
  product of many erf values underflows, so it is computed in log space,
  P_m = −expm1(Σ_r log erf(|v_r|/√2)). The paper rejects when "min(P_M)" is small; a known
  sample is close to *one* class only, so the rule that makes sense is the max over
  classes: novelty = −max_m P_m, ranked by the exact log-space sum.
- "NAS MSP": max softmax of the same network's classifier on u.
- :func:`training_threshold`: the paper's threshold, the novelty that keeps 95% of the
  training samples (the lesson's F1); ``evaluate`` uses the validation policy instead.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.special import erf, log_ndtr
from torch import nn

from ...evt import class_means
from ...metrics import pick_threshold
from ...scoring import FeatureScorer, MaxSoftmaxScorer, ModelScorer, as_features, require_training_data
from ...train import model_device, predict_batches
from .vae import image_distances


class CounterfactualScorer(ModelScorer):
    """"NAS-OSR": novelty min_m ‖x − D(µ_m, z)‖₂, prediction the classifier's argmax."""

    native_name = "smallest counterfactual distance min_m ‖x − D(µ_m, z)‖"
    requires = ("counterfactuals", "no counterfactuals(z): NAS-OSR needs an OpenSetVAE")

    def __init__(self, batch_size: int = 256, *, name: str = "NAS-OSR") -> None:
        self.batch_size, self.name = batch_size, name
        self.model: nn.Module | None = None

    def score(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        model = self._fitted_model()

        def batch(xb: torch.Tensor) -> torch.Tensor:      # one encoder pass gives u (labels) and z (decodes)
            mu_u, _, mu_z, _ = model.encode(xb)
            logits = model.classifier(mu_u)
            distances = image_distances(xb, model.counterfactuals(mu_z))
            return torch.cat([logits.argmax(1, keepdim=True).to(distances.dtype), distances.min(1, keepdim=True)[0]], 1)

        model.eval()
        out = predict_batches(batch, X, batch_size=self.batch_size, device=model_device(model)).numpy()
        return out[:, 0].astype(np.int64), out[:, 1].astype(np.float64)


def log_box_mass(v: np.ndarray) -> np.ndarray:
    """Σ_r log ∫_{−|v_r|}^{|v_r|} N(0, 1) = Σ_r log erf(|v_r|/√2), over the last axis, stable
    for tiny |v_r| (where erf → 0) and large ones (where erf → 1)."""
    a = np.maximum(np.abs(np.asarray(v, dtype=np.float64)), 1e-12)
    # erf(a/√2) = 1 − 2Φ(−a); for large a use log1p(−2Φ(−a)), for small a the direct value
    small = a < 1.0
    with np.errstate(divide="ignore"):
        direct = np.log(np.where(small, erf(a / np.sqrt(2.0)), 1.0))
    tail = np.log1p(-2.0 * np.exp(log_ndtr(-np.where(small, 1.0, a))))
    return np.where(small, direct, tail).sum(axis=-1)


def class_probabilities(U: np.ndarray, means: np.ndarray, stds: np.ndarray) -> np.ndarray:
    """Eq. 5, P_m(x) = 1 − ∏_r erf(|v_r|/√2) with v = (u − µ_m)/σ_m, in log space: (N, M)."""
    v = (as_features(U)[:, None, :] - means[None]) / stds[None]
    return -np.expm1(log_box_mass(v))


class ClassAttributeScorer(FeatureScorer):
    """"NAS-OSR eq.5": per-class Gaussians of u from correctly classified training samples
    (the model's classifier on u decides "correct"); novelty = −max_m P_m (eq. 5), ranked
    by min_m Σ_r log erf(|v_r|/√2) so that no two samples tie at P = 1; prediction the
    classifier's argmax (the paper takes labels from the classifier). A class with fewer
    than 2 correctly classified samples uses all of its samples, with a warning
    (:func:`osrkit.evt.class_means`)."""

    native_name = "largest class probability max_m P_m (eq. 5)"

    def __init__(self, batch_size: int = 512, *, name: str = "NAS-OSR eq.5") -> None:
        self.batch_size, self.name = batch_size, name
        self.model = self.embed = None
        self.means: np.ndarray | None = None
        self.stds: np.ndarray | None = None
        self.classifier: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def is_fitted(self) -> bool:
        return self.means is not None

    def fit(self, model: nn.Module, X: np.ndarray, y: np.ndarray) -> "ClassAttributeScorer":
        require_training_data(self, X, y)
        layer = model.classifier
        self.classifier = (layer.weight.detach().cpu().numpy().astype(np.float64),
                           layer.bias.detach().cpu().numpy().astype(np.float64))
        return super().fit(model, X, y)

    def _classify(self, U: np.ndarray) -> np.ndarray:
        weight, bias = self.classifier
        return (U @ weight.T + bias).argmax(1)

    def fit_features(self, F: np.ndarray, y: np.ndarray) -> "ClassAttributeScorer":
        U, y = as_features(F), np.asarray(y)
        if self.classifier is None:
            raise ValueError("fit the eq. 5 rule with fit(model, X, y): it needs the model's classifier")
        self.means, members = class_means(U, y, predicted=self._classify(U), min_samples=2)
        self.stds = np.stack([Uc.std(0) + 1e-6 for Uc in members])
        return self

    def log_masses(self, U: np.ndarray) -> np.ndarray:
        """Σ_r log erf(|v_r|/√2) per sample and class, (N, M): log(1 − P_m)."""
        self._check_fitted()
        return log_box_mass((as_features(U)[:, None, :] - self.means[None]) / self.stds[None])

    def score_features(self, F: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        U = as_features(F)
        return self._classify(U), self.log_masses(U).min(1)

    def to_native(self, novelty: np.ndarray) -> np.ndarray:
        return -np.expm1(np.asarray(novelty, dtype=np.float64))


def nas_rules(model: nn.Module, X_train: np.ndarray, y_train: np.ndarray) -> dict[str, object]:
    """The three rules of one trained :class:`OpenSetVAE`, fitted on the known training data."""
    return {"NAS-OSR": CounterfactualScorer().fit(model),
            "NAS-OSR eq.5": ClassAttributeScorer().fit(model, X_train, y_train),
            "NAS MSP": MaxSoftmaxScorer(name="NAS MSP").fit(model)}


def training_threshold(scorer, X_train: np.ndarray, keep: float = 0.95) -> float:
    """The paper's threshold: the novelty that keeps ``keep`` of the training samples."""
    return pick_threshold(scorer.score(X_train)[1], keep=keep)
