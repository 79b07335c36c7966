"""The decision-rule contract and the rules that several methods share (DESIGN.md, "Scores").

A :class:`Scorer` is fitted with ``fit(model, X, y) -> self`` on the known training data
(rules that embed call the model themselves) and then gives ``score(X) -> (pred,
novelty)``: the predicted known class and a *novelty* score, higher = more likely
unknown. ``predict(X, threshold)`` returns labels with −1 where the novelty exceeds the
threshold. Rules whose paper thresholds a confidence document the transform;
``to_native(novelty)`` gives that quantity back (for plots and widgets) and
``native_name`` names it. ``name`` is the rule's key in tables and results. Scoring
before fitting raises :class:`NotFittedError`. Rules that work on an embedding also offer
``fit_features``/``score_features``, so that several rules share one embedding pass.

Shared here: max softmax (MSP), the logit-space class-mean distance, OpenMax and the
nearest-centroid rules NC-D/NC-U; each method's own rule lives in ``osrkit.methods``.
"""
from __future__ import annotations

import abc
import copy
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from .data import known_labels
from .evt import ClassMeanEVT, class_means, distances_to_centres, openmax_recalibrate
from .metrics import predict_with_rejection
from .train import model_device, predict_batches


class NotFittedError(RuntimeError):
    """``score``/``predict`` ran before ``fit``."""


class Scorer(abc.ABC):
    """A fitted open-set decision rule: the known class and a novelty score (higher = more
    likely unknown). Subclasses implement :meth:`fit` and :meth:`score` (or
    :meth:`fit_features` and :meth:`score_features`, see :class:`FeatureScorer`)."""

    name: str = "novelty"
    native_name: str = "novelty"

    @abc.abstractmethod
    def fit(self, model: nn.Module, X: np.ndarray, y: np.ndarray) -> "Scorer":
        """Fit on the known training data (rules that need none ignore X and y); returns self."""

    @abc.abstractmethod
    def score(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(predicted known class in 0..C−1, novelty) for every sample of X."""

    @property
    @abc.abstractmethod
    def is_fitted(self) -> bool:
        """Whether :meth:`fit` has run."""

    def fit_features(self, F: np.ndarray, y: np.ndarray) -> "Scorer":
        raise NotImplementedError(f"{type(self).__name__} works on inputs, not on precomputed features")

    def score_features(self, F: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError(f"{type(self).__name__} works on inputs, not on precomputed features")

    def predict(self, X: np.ndarray, threshold: float) -> np.ndarray:
        """Known-class labels, −1 where novelty > threshold."""
        pred, novelty = self.score(X)
        return predict_with_rejection(pred, novelty, threshold)

    def to_native(self, novelty: np.ndarray) -> np.ndarray:
        """The quantity the paper thresholds (the novelty itself unless a subclass says otherwise)."""
        return np.asarray(novelty)

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(f"{type(self).__name__} ({self.name}) is not fitted: call .fit(model, X, y) first")


class ModelScorer(Scorer):
    """A rule that reads a trained model (kept in ``self.model``) at scoring time. Its
    default :meth:`fit` keeps the model (in eval mode) after checking that it has the
    attribute the rule needs (``requires``: name, and what its absence means)."""

    model: nn.Module | None = None
    requires: tuple[str, str] | None = None

    def fit(self, model: nn.Module, X: np.ndarray | None = None, y: np.ndarray | None = None) -> "ModelScorer":
        if self.requires is not None and not hasattr(model, self.requires[0]):
            raise TypeError(f"{type(model).__name__} has {self.requires[1]}")
        self.model = model.eval()
        return self

    @property
    def is_fitted(self) -> bool:
        return self.model is not None

    def _fitted_model(self) -> nn.Module:
        self._check_fitted()
        return self.model


class ConfidenceScorer(ModelScorer):
    """A rule whose paper thresholds a confidence in [0, 1]: novelty = 1 − confidence,
    and :meth:`to_native` gives the confidence back."""

    def to_native(self, novelty: np.ndarray) -> np.ndarray:
        return 1.0 - np.asarray(novelty)


def require_training_data(scorer: Scorer, X, y) -> None:
    """A fit that needs the known training data says so, naming the rule."""
    if X is None or y is None:
        raise ValueError(f"{type(scorer).__name__}.fit needs the training inputs X and their labels y")


def embedder(model: nn.Module, batch_size: int = 512) -> Callable[[np.ndarray], np.ndarray]:
    """``X -> model.embed(X)`` as a NumPy function, batched without gradients on the
    model's device: the representation that embedding rules (NC-D/NC-U, top-k, EVT) read."""
    if not hasattr(model, "embed"):
        raise TypeError(f"{type(model).__name__} has no embed(x) method to give its latent representation")

    def embed(X: np.ndarray) -> np.ndarray:
        model.eval()
        return predict_batches(model.embed, X, batch_size=batch_size, device=model_device(model)).numpy()

    return embed


def logits_of(model: nn.Module, X: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """The model's logits for X, batched without gradients, as float64."""
    model.eval()
    return predict_batches(model, X, batch_size=batch_size, device=model_device(model)).numpy().astype(np.float64)


class FeatureScorer(Scorer):
    """A rule on the model's embedding (``model.embed``): :meth:`fit` embeds the training
    data and calls :meth:`fit_features`; :meth:`score` embeds X and calls
    :meth:`score_features`. Give precomputed features to those two directly to share one
    embedding pass between rules."""

    batch_size: int = 512
    model: nn.Module | None = None
    embed: Callable[[np.ndarray], np.ndarray] | None = None

    def fit(self, model: nn.Module, X: np.ndarray, y: np.ndarray) -> "FeatureScorer":
        require_training_data(self, X, y)
        self.model, self.embed = model, embedder(model, self.batch_size)
        return self.fit_features(self.embed(X), y)

    def score(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self._check_fitted()
        if self.embed is None:
            raise NotFittedError(f"{type(self).__name__} was fitted on features: call score_features(F)")
        return self.score_features(self.embed(X))

    @abc.abstractmethod
    def fit_features(self, F: np.ndarray, y: np.ndarray) -> "FeatureScorer": ...

    @abc.abstractmethod
    def score_features(self, F: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


def as_features(F: np.ndarray) -> np.ndarray:
    """Features as a float64 (N, D) array."""
    F = np.asarray(F, dtype=np.float64)
    return F.reshape(len(F), -1)


# ------------------------------------------------------------------ max softmax (the baseline)
class MaxSoftmaxScorer(ConfidenceScorer):
    """Maximum softmax probability (the usual baseline): novelty = 1 − max_k softmax_k."""

    native_name = "max softmax probability"

    def __init__(self, batch_size: int = 256, *, name: str = "MSP") -> None:
        self.batch_size, self.name = batch_size, name
        self.model: nn.Module | None = None

    def probabilities(self, X: np.ndarray) -> np.ndarray:
        model = self._fitted_model()
        return predict_batches(lambda xb: torch.softmax(model(xb), 1), X, batch_size=self.batch_size,
                               device=model_device(model)).numpy()

    def score(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        probs = self.probabilities(X)
        return probs.argmax(1), 1.0 - probs.max(1)


# ------------------------------------------------------------------ logit-space rules
class LogitDistanceScorer(ModelScorer):
    """Distances in logit space to per-class centres, re-estimated after training as the
    mean logits of correctly classified (argmax) training samples
    (:func:`osrkit.evt.class_means`): prediction argmin d, novelty min d — the post-hoc
    class-mean distance on a cross-entropy network ("CE distance", paper 001's foil).
    Subclasses change :meth:`rule_scores` (CAC's rejection score)."""

    native_name = "distance to the nearest class mean"

    def __init__(self, batch_size: int = 512, *, name: str = "CE distance") -> None:
        self.batch_size, self.name = batch_size, name
        self.model: nn.Module | None = None
        self.centres: np.ndarray | None = None

    @property
    def is_fitted(self) -> bool:
        return self.centres is not None

    def fit(self, model: nn.Module, X: np.ndarray, y: np.ndarray) -> "LogitDistanceScorer":
        require_training_data(self, X, y)
        self.model = model
        logits = logits_of(model, X, self.batch_size)
        self.centres, _ = class_means(logits, y, predicted=logits.argmax(1))
        return self

    def distances(self, X: np.ndarray) -> np.ndarray:
        """d = ‖f(x) − C_i‖₂ to every class centre, shape (N, classes)."""
        self._check_fitted()
        return distances_to_centres(logits_of(self.model, X, self.batch_size), self.centres)

    def rule_scores(self, distances: np.ndarray) -> np.ndarray:
        """Per-class scores from the distances: the distances themselves here."""
        return distances

    def score(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s = self.rule_scores(self.distances(X))
        return s.argmin(1), s.min(1)


class OpenMaxScorer(ModelScorer):
    """OpenMax (Bendale & Boult 2016), a baseline of paper 001: Weibull tails on the
    distances of correctly classified training logits to their class mean
    (:class:`osrkit.evt.ClassMeanEVT`), the top-``alpha`` logits recalibrated
    (:func:`osrkit.evt.openmax_recalibrate`); prediction the most probable known class,
    novelty the probability of the added "unknown" class."""

    native_name = "OpenMax unknown probability"

    def __init__(self, tail_size: int = 20, alpha: int = 10, batch_size: int = 512, *, name: str = "OpenMax") -> None:
        self.tail_size, self.alpha, self.batch_size, self.name = tail_size, alpha, batch_size, name
        self.model: nn.Module | None = None
        self.evt: ClassMeanEVT | None = None

    @property
    def is_fitted(self) -> bool:
        return self.evt is not None

    def fit(self, model: nn.Module, X: np.ndarray, y: np.ndarray) -> "OpenMaxScorer":
        require_training_data(self, X, y)
        self.model = model
        logits = logits_of(model, X, self.batch_size)
        self.evt = ClassMeanEVT(self.tail_size).fit(logits, y, predicted=logits.argmax(1))
        return self

    def probabilities(self, X: np.ndarray) -> np.ndarray:
        """Recalibrated probabilities (N, classes + 1); the last column is "unknown"."""
        self._check_fitted()
        logits = logits_of(self.model, X, self.batch_size)
        return openmax_recalibrate(logits, self.evt.outlier_probability(logits), self.alpha)

    def score(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        probs = self.probabilities(X)
        return probs[:, :-1].argmax(1), probs[:, -1]


# ------------------------------------------------------------------ nearest centroids (NC-D, NC-U)
NC_RULES = {"distance": "NC-D", "uncertainty": "NC-U"}


def check_nc_rule(rule: str) -> None:
    """A clear error unless ``rule`` is one of the nearest-centroid rules (:data:`NC_RULES`)."""
    if rule not in NC_RULES:
        raise ValueError(f"rule must be 'distance' (NC-D) or 'uncertainty' (NC-U), got {rule!r}")


def nearest_centroid_novelty(D: np.ndarray, rule: str = "distance") -> np.ndarray:
    """Novelty of each sample from its distances ``D`` (samples × centroids, at least 2
    centroids for NC-U) to every centroid (paper 000, Algorithms 1–2): NC-D is the smallest
    distance d; NC-U is U = d / (mean distance to the other N − 1 centroids), 0 on a
    centroid and 1 when all centroids are equally far."""
    D = np.asarray(D, dtype=np.float64)
    check_nc_rule(rule)
    if D.ndim != 2 or (rule == "uncertainty" and D.shape[1] < 2):
        raise ValueError(f"D must be (samples, centroids) with at least 2 centroids for NC-U, got shape {D.shape}")
    d = D.min(1)
    if rule == "distance":
        return d
    others = (D.sum(1) - d) / (D.shape[1] - 1)
    return d / np.maximum(others, 1e-12)


class NearestCentroidScorer(FeatureScorer):
    """Nearest-centroid thresholding (paper 000 §3.3, Algorithms 1–2) on the model's
    embedding (GMVAE: µ(x); CROSR: [y, z]).

    ``fit`` runs k-means with K_c centroids on each known class's embeddings. A sample's
    prediction is the class of its nearest centroid z_{c*k*}; its novelty is
    - ``rule="distance"`` (NC-D, Algorithm 1): d = min_{c,k} ‖µ(x) − z_ck‖₂;
    - ``rule="uncertainty"`` (NC-U, Algorithm 2): U = d / mean of the distances to the
      other N − 1 centroids (N = Σ_c K_c): 0 on a centroid, 1 when equidistant from all.
    :meth:`with_rule` gives the other rule on the same centroids (one k-means fit).
    """

    def __init__(self, rule: str = "distance", centroids_per_class: int | Sequence[int] = 1, seed: int = 0, *,
                 name: str | None = None, batch_size: int = 512) -> None:
        check_nc_rule(rule)
        self.rule, self.centroids_per_class, self.seed, self.batch_size = rule, centroids_per_class, seed, batch_size
        self.name = name or NC_RULES[rule]
        self.native_name = "distance to the nearest centroid" if rule == "distance" else "uncertainty U"
        self.embed = None
        self.centroids: np.ndarray | None = None
        self.centroid_class: np.ndarray | None = None

    @property
    def is_fitted(self) -> bool:
        return self.centroids is not None

    def fit_features(self, F: np.ndarray, y: np.ndarray) -> "NearestCentroidScorer":
        from sklearn.cluster import KMeans

        F, y = as_features(F), np.asarray(y)
        classes = known_labels(y)
        ks = ([int(self.centroids_per_class)] * len(classes) if np.isscalar(self.centroids_per_class)
              else [int(k) for k in self.centroids_per_class])
        if len(ks) != len(classes) or min(ks) < 1:
            raise ValueError(f"centroids_per_class must be a positive int or one per class ({len(classes)}), got {ks}")
        if self.rule == "uncertainty" and sum(ks) < 2:
            raise ValueError("NC-U compares with the other centroids: it needs at least 2 centroids in all")
        cents, owner = [], []
        for c, k in zip(classes, ks):
            Fc = F[y == c]
            if len(Fc) < k:
                raise ValueError(f"class {c} has {len(Fc)} samples, fewer than its {k} centroids")
            km = KMeans(n_clusters=k, n_init=10, random_state=self.seed).fit(Fc)
            cents.append(km.cluster_centers_)
            owner += [c] * k
        self.centroids, self.centroid_class = np.concatenate(cents), np.asarray(owner)
        return self

    def with_rule(self, rule: str, *, name: str | None = None) -> "NearestCentroidScorer":
        """The same fitted centroids (and embedding) under the other rule."""
        check_nc_rule(rule)
        twin = copy.copy(self)
        twin.rule, twin.name = rule, name or NC_RULES[rule]
        twin.native_name = "distance to the nearest centroid" if rule == "distance" else "uncertainty U"
        return twin

    def distances_of_features(self, F: np.ndarray) -> np.ndarray:
        """Euclidean distance of each embedding to every centroid, shape (N_samples, N_centroids)."""
        self._check_fitted()
        return distances_to_centres(as_features(F), self.centroids)

    def score_features(self, F: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        D = self.distances_of_features(F)
        return self.centroid_class[D.argmin(1)], nearest_centroid_novelty(D, self.rule)
