"""Open-set decision rules behind one interface (DESIGN.md, "Scores").

Every scorer is fitted with ``fit(model_or_features, X, y)`` and then gives
``score(X) -> (pred, novelty)``: the predicted known class and a *novelty* score,
higher = more likely unknown. ``predict(X, threshold)`` returns labels with −1 where
the novelty exceeds the threshold. Scorers whose paper thresholds a confidence
document the transform; ``to_native(novelty)`` gives that quantity back (for plots and
widgets) and ``native_name`` names it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from .data import known_labels
from .evt import ClassMeanEVT, class_means, distances_to_centres, openmax_recalibrate
from .metrics import predict_with_rejection
from .models import cool_confidence
from .train import predict_batches


def _device_of(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


class Scorer:
    """Base class: subclasses implement :meth:`fit` and :meth:`score`."""

    native_name = "novelty"

    def fit(self, model: nn.Module, X: np.ndarray | None = None, y: np.ndarray | None = None) -> "Scorer":
        raise NotImplementedError

    def score(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def predict(self, X: np.ndarray, threshold: float) -> np.ndarray:
        """Known-class labels, −1 where novelty > threshold."""
        pred, novelty = self.score(X)
        return predict_with_rejection(pred, novelty, threshold)

    def to_native(self, novelty: np.ndarray) -> np.ndarray:
        return np.asarray(novelty)

    def _require_fitted(self) -> nn.Module:
        model = getattr(self, "model", None)
        if model is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted: call .fit(model) first")
        return model


class ConfidenceScorer(Scorer):
    """A scorer whose paper thresholds a confidence in [0, 1]: novelty = 1 − confidence,
    and :meth:`to_native` gives the confidence back."""

    def to_native(self, novelty: np.ndarray) -> np.ndarray:
        return 1.0 - np.asarray(novelty)


class MaxSoftmaxScorer(ConfidenceScorer):
    """Maximum softmax probability (the usual baseline): novelty = 1 − max_k softmax_k."""

    native_name = "max softmax probability"

    def __init__(self, batch_size: int = 256) -> None:
        self.batch_size = batch_size
        self.model: nn.Module | None = None

    def fit(self, model: nn.Module, X: np.ndarray | None = None, y: np.ndarray | None = None) -> "MaxSoftmaxScorer":
        self.model = model.eval()
        return self

    def probabilities(self, X: np.ndarray) -> np.ndarray:
        model = self._require_fitted()
        return predict_batches(lambda xb: torch.softmax(model(xb), 1), X, batch_size=self.batch_size,
                               device=_device_of(model)).numpy()

    def score(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        probs = self.probabilities(X)
        return probs.argmax(1), 1.0 - probs.max(1)


class COOLScorer(ConfidenceScorer):
    """COOL (Kardan & Stanley, 2017; paper 004 §II): class confidence Π_j ω·p_kj over the
    class's ω units; novelty = 1 − max_k confidence_k."""

    native_name = "COOL class confidence"

    def __init__(self, batch_size: int = 256) -> None:
        self.batch_size = batch_size
        self.model: nn.Module | None = None

    def fit(self, model: nn.Module, X: np.ndarray | None = None, y: np.ndarray | None = None) -> "COOLScorer":
        if not hasattr(model, "omega"):
            raise TypeError(f"{type(model).__name__} has no COOL output layer (attribute omega)")
        self.model = model.eval()
        return self

    def class_confidences(self, X: np.ndarray) -> np.ndarray:
        model = self._require_fitted()
        return predict_batches(lambda xb: cool_confidence(model(xb), model.num_classes, model.omega), X,
                               batch_size=self.batch_size, device=_device_of(model)).numpy()

    def score(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        conf = self.class_confidences(X)
        return conf.argmax(1), 1.0 - conf.max(1)


# ------------------------------------------------------------------ dAE confidence
def reconstruction_confidence(sq_error: np.ndarray, alpha: float) -> np.ndarray:
    """exp(−α/D·‖r(x) − x‖²), the first factor of eq. 3; ``sq_error`` is ‖r(x) − x‖²/D."""
    return np.exp(-alpha * np.asarray(sq_error, dtype=np.float64))


def curvature_gate(gamma: np.ndarray, beta: float) -> np.ndarray:
    """Γ of eq. 4: 1 where the mean curvature γ ≤ 0 (a local maximum of log p, or flat),
    exp(−βγ) where γ > 0 (a local minimum or saddle: points to reject)."""
    gamma = np.asarray(gamma, dtype=np.float64)
    return np.where(gamma > 0, np.exp(-beta * np.clip(gamma, 0.0, None)), 1.0)


def dae_confidence(sq_error: np.ndarray, gamma: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    """c̃(x) = exp(−α/D·‖r(x) − x‖²)·Γ(x) (paper 004, eq. 3–5)."""
    return reconstruction_confidence(sq_error, alpha) * curvature_gate(gamma, beta)


def jacobian_diagonal(fn, x: torch.Tensor, *, method: str = "exact", n_probes: int = 16,
                      seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Diagonal of the Jacobian ∂fn(x)/∂x for each sample, and fn(x) (both flattened).

    ``fn`` must treat samples independently (a model in eval mode). ``"exact"`` takes one
    backward pass per input dimension: right for small D (the 2D rings). ``"hutchinson"``
    is the estimator for images: with Rademacher probes v (±1), E[v ⊙ (Jᵀv)] = diag(J),
    averaged over ``n_probes`` probes drawn from a seeded generator; each probe costs one
    backward pass whatever D is, and its mean over dimensions estimates tr(J)/D, which is
    all that γ (eq. 5) needs, with error shrinking as 1/√(n_probes·D).
    """
    if method not in ("exact", "hutchinson"):
        raise ValueError(f"method must be 'exact' or 'hutchinson', got {method!r}")
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        out = fn(x).flatten(1)
        if out.shape[1] != x[0].numel():
            raise ValueError(f"fn must map inputs to outputs of the same size, got {tuple(x.shape)} → {tuple(out.shape)}")
        dim = out.shape[1]
        if method == "exact":
            cols = []
            for i in range(dim):
                (grad,) = torch.autograd.grad(out[:, i].sum(), x, retain_graph=i < dim - 1)
                cols.append(grad.flatten(1)[:, i])
            diag = torch.stack(cols, 1)
        else:
            gen = torch.Generator(device="cpu").manual_seed(seed)
            diag = torch.zeros_like(out)
            for k in range(n_probes):
                v = (torch.randint(0, 2, out.shape, generator=gen) * 2 - 1).to(out)
                (grad,) = torch.autograd.grad((out * v).sum(), x, retain_graph=k < n_probes - 1)
                diag += v * grad.flatten(1)
            diag /= n_probes
    return diag.detach(), out.detach()


@dataclass
class DAEComponents:
    """The α/β-free pieces of the dAE confidence, computed once per input set so that
    sliders for α and β recompute c̃ instantly."""

    probs: np.ndarray      # classifier softmax y, shape (N, C)
    sq_error: np.ndarray   # ‖r(x) − x‖² / D
    gamma: np.ndarray      # γ(x) = (1/D) Σ_i (∂r_i/∂x_i − 1), eq. 2 and 5


class DAEConfidenceScorer(ConfidenceScorer):
    """Denoising-autoencoder confidence of paper 004: novelty = 1 − c̃(x).

    The model must implement ``reconstruct(x)`` and ``forward(x) -> logits``. The
    Hessian diagonal of log p is estimated as ∂r/∂x − I (eq. 2, up to the positive
    factor 1/σ², which does not change the sign that Γ tests). ``jacobian="auto"`` uses the
    exact diagonal up to 64 input dimensions and the Hutchinson estimator above.
    The classifier output scaled by the confidence, ỹ = c̃(x)·y (eq. 6), is
    :meth:`scaled_probabilities`; ``output="scaled"`` makes the novelty 1 − max_k ỹ_k.
    """

    native_name = "dAE confidence c̃(x)"

    def __init__(self, alpha: float = 40.0, beta: float = 5.0, *, jacobian: str = "auto",
                 n_probes: int = 16, seed: int = 0, batch_size: int | None = None,
                 output: str = "confidence") -> None:
        if output not in ("confidence", "scaled"):
            raise ValueError(f"output must be 'confidence' (novelty 1 − c̃) or 'scaled' (1 − c̃·max y), got {output!r}")
        self.output = output
        if alpha < 0 or beta < 0:
            raise ValueError(f"alpha and beta must be >= 0, got alpha={alpha}, beta={beta}")
        if jacobian not in ("auto", "exact", "hutchinson"):
            raise ValueError(f"jacobian must be 'auto', 'exact' or 'hutchinson', got {jacobian!r}")
        self.alpha, self.beta = float(alpha), float(beta)
        self.jacobian, self.n_probes, self.seed, self.batch_size = jacobian, n_probes, seed, batch_size
        self.model: nn.Module | None = None

    def fit(self, model: nn.Module, X: np.ndarray | None = None, y: np.ndarray | None = None) -> "DAEConfidenceScorer":
        if not hasattr(model, "reconstruct"):
            raise TypeError(f"{type(model).__name__} has no reconstruct(x): the dAE confidence needs an autoencoder")
        self.model = model.eval()
        return self

    def components(self, X: np.ndarray) -> DAEComponents:
        model = self._require_fitted()
        dev = _device_of(model)
        X_t = torch.as_tensor(np.asarray(X), dtype=torch.float32)
        dim = X_t[0].numel()
        method = self.jacobian if self.jacobian != "auto" else ("exact" if dim <= 64 else "hutchinson")
        # about 2**17 input values per batch (128 MNIST images, 4096 2-D points): batches
        # that fit a CPU cache run the Jacobian probes 1.7× faster than 2,048 images at once
        batch = self.batch_size or int(np.clip(2**17 // dim, 16, 4096))
        probs, sq_err, gamma = [], [], []
        for i in range(0, len(X_t), batch):
            xb = X_t[i:i + batch].to(dev)
            diag, recon = jacobian_diagonal(model.reconstruct, xb, method=method,
                                            n_probes=self.n_probes, seed=self.seed + i)
            with torch.no_grad():
                probs.append(torch.softmax(model(xb), 1).cpu())
            sq_err.append((recon - xb.flatten(1)).pow(2).mean(1).cpu())
            gamma.append((diag - 1.0).mean(1).cpu())
        return DAEComponents(torch.cat(probs).numpy(), torch.cat(sq_err).double().numpy(),
                             torch.cat(gamma).double().numpy())

    def confidence(self, parts: DAEComponents, alpha: float | None = None, beta: float | None = None) -> np.ndarray:
        """c̃(x) from precomputed components (α, β default to the scorer's)."""
        return dae_confidence(parts.sq_error, parts.gamma,
                              self.alpha if alpha is None else alpha, self.beta if beta is None else beta)

    def scaled_probabilities(self, parts: DAEComponents, alpha: float | None = None,
                             beta: float | None = None) -> np.ndarray:
        """ỹ = c̃(x)·y, eq. 6: the classifier output scaled by the confidence."""
        return parts.probs * self.confidence(parts, alpha, beta)[:, None]

    def novelty(self, parts: DAEComponents, alpha: float | None = None, beta: float | None = None) -> np.ndarray:
        """1 − c̃(x), or with ``output="scaled"`` 1 − c̃(x)·max_k y_k: the scaled output ỹ of
        the predicted class, the quantity paper 004 thresholds in its MNIST experiments."""
        conf = self.confidence(parts, alpha, beta)
        return 1.0 - (conf * parts.probs.max(1) if self.output == "scaled" else conf)

    def score(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        parts = self.components(X)
        return parts.probs.argmax(1), self.novelty(parts)


def choose_alpha(scorer: DAEConfidenceScorer, parts: DAEComponents, y: np.ndarray, *, threshold: float = 0.9,
                 keep: float = 0.97, grid: np.ndarray | None = None) -> float:
    """The largest α (from a log grid) that keeps the dAE's thresholded accuracy on known
    validation samples: ỹ = c̃·y must accept, at ``threshold``, at least ``keep`` × as
    many correctly classified samples as the unscaled output y does.

    Paper 004 sets α by hand (20 at the 90% threshold) for a dAE trained 100 epochs; a dAE
    trained briefly reconstructs worse and needs a smaller α. Only known validation data
    is used: never fooling images or unknown classes."""
    grid = np.geomspace(0.01, 100.0, 41) if grid is None else np.sort(np.asarray(grid, dtype=float))
    y = np.asarray(y)
    top = parts.probs.max(1)
    correct = parts.probs.argmax(1) == y
    target = keep * np.mean(correct & (top >= threshold))
    best = float(grid[0])
    for alpha in grid:
        scaled = scorer.confidence(parts, alpha=alpha) * top
        if np.mean(correct & (scaled >= threshold)) >= target:
            best = float(alpha)
    return best


# ------------------------------------------------------------ nearest centroids (paper 000)
class NearestCentroidScorer(Scorer):
    """Nearest-centroid thresholding of paper 000 (§3.3) on an embedding (GMVAE: µ(x)).

    ``fit`` runs k-means with K_c centroids on each known class's embeddings. A sample's
    prediction is the class of its nearest centroid z_{c*k*}; its novelty is
    - ``rule="distance"`` (NC-D, Algorithm 1): d = min_{c,k} ‖µ(x) − z_ck‖₂;
    - ``rule="uncertainty"`` (NC-U, Algorithm 2): U = d / mean of the distances to the
      other N − 1 centroids (N = Σ_c K_c): 0 on a centroid, 1 when equidistant from all.
    ``embed`` maps inputs to embeddings (e.g. a model's latent mean); ``None`` means the
    inputs already are embeddings.
    """

    def __init__(self, rule: str = "distance", centroids_per_class: int | Sequence[int] = 1, seed: int = 0) -> None:
        if rule not in ("distance", "uncertainty"):
            raise ValueError(f"rule must be 'distance' (NC-D) or 'uncertainty' (NC-U), got {rule!r}")
        self.rule, self.centroids_per_class, self.seed = rule, centroids_per_class, seed
        self.native_name = "distance to the nearest centroid" if rule == "distance" else "uncertainty U"
        self.embed: Callable[[np.ndarray], np.ndarray] | None = None
        self.centroids: np.ndarray | None = None
        self.centroid_class: np.ndarray | None = None

    def fit(self, embed: Callable[[np.ndarray], np.ndarray] | None, X: np.ndarray | None = None,
            y: np.ndarray | None = None) -> "NearestCentroidScorer":
        from sklearn.cluster import KMeans

        if X is None or y is None:
            raise ValueError("NearestCentroidScorer.fit needs the training inputs X and their labels y")
        self.embed = embed
        F, y = self._embedding(X), np.asarray(y)
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

    def _embedding(self, X: np.ndarray) -> np.ndarray:
        F = np.asarray(self.embed(X) if self.embed is not None else X, dtype=np.float64)
        return F.reshape(len(F), -1)

    def distances(self, X: np.ndarray) -> np.ndarray:
        """Euclidean distance of each sample to every centroid, shape (N_samples, N_centroids)."""
        if self.centroids is None:
            raise RuntimeError("NearestCentroidScorer is not fitted: call .fit(embed, X, y) first")
        return distances_to_centres(self._embedding(X), self.centroids)

    def score(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        D = self.distances(X)
        nearest = D.argmin(1)
        d = D[np.arange(len(D)), nearest]
        if self.rule == "distance":
            return self.centroid_class[nearest], d
        others = (D.sum(1) - d) / (D.shape[1] - 1)
        return self.centroid_class[nearest], d / np.maximum(others, 1e-12)


def embedding(model: nn.Module, batch_size: int = 512) -> Callable[[np.ndarray], np.ndarray]:
    """``X -> model.embed(X)`` as a NumPy function, batched without gradients on the
    model's device: the ``embed`` argument of :class:`NearestCentroidScorer` for a
    GMVAE (µ(x)) or a DHRNet ([y, z])."""
    if not hasattr(model, "embed"):
        raise TypeError(f"{type(model).__name__} has no embed(x) method to give its latent representation")

    def embed(X: np.ndarray) -> np.ndarray:
        model.eval()
        return predict_batches(model.embed, X, batch_size=batch_size, device=_device_of(model)).numpy()

    return embed


class CROSREVTScorer(ConfidenceScorer):
    """CROSR's EVT rule as paper 000 describes it (§2, baseline of §5): one Weibull per
    class on the tail of the training distances d(x, C_i) = ‖[y, z] − µ_i‖₂ to the class
    mean (:class:`osrkit.evt.ClassMeanEVT`, correctly classified samples only), and the
    inclusion probability P(x ∈ C_i) = 1 − WeibullCDF(d(x, C_i)). The prediction is the
    classifier's argmax y; novelty = 1 − P(x ∈ C_pred), so the paper's threshold of 0.5 on
    the inclusion probability is a novelty threshold of 0.5."""

    native_name = "inclusion probability P(x ∈ C)"

    def __init__(self, tail_size: int = 20, batch_size: int = 512) -> None:
        self.tail_size, self.batch_size = tail_size, batch_size
        self.model: nn.Module | None = None
        self.evt: ClassMeanEVT | None = None

    def _latent(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        model = self._require_fitted()
        yz = embedding(model, self.batch_size)(X)
        return yz[:, :model.num_classes].argmax(1), yz

    def fit(self, model: nn.Module, X: np.ndarray | None = None, y: np.ndarray | None = None) -> "CROSREVTScorer":
        if X is None or y is None:
            raise ValueError("CROSREVTScorer.fit needs the training inputs X and labels y for the Weibull fits")
        self.model = model
        pred, yz = self._latent(X)
        self.evt = ClassMeanEVT(self.tail_size).fit(yz, y, predicted=pred)
        return self

    def score(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.evt is None:
            raise RuntimeError("CROSREVTScorer is not fitted: call .fit(model, X, y) first")
        pred, yz = self._latent(X)
        outlier = self.evt.outlier_probability(yz)
        return pred, outlier[np.arange(len(pred)), pred]


# ------------------------------------------------------------ logit-space distances (paper 001)
def logits_of(model: nn.Module, X: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """The model's logits for X, batched without gradients, as float64."""
    model.eval()
    return predict_batches(model, X, batch_size=batch_size, device=_device_of(model)).numpy().astype(np.float64)


def cac_rejection_scores(distances: np.ndarray) -> np.ndarray:
    """s = (1 − softmin(d)) ∘ d (paper 001 eq. 9–11), row by row. SoftMin sees only the
    differences between distances ([1, 4, 5] and [101, 104, 105] give the same
    confidences); multiplying by d brings back how far the input is."""
    d = np.asarray(distances, dtype=np.float64)
    z = -d - (-d).max(1, keepdims=True)
    softmin = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    return (1.0 - softmin) * d


class LogitDistanceScorer(Scorer):
    """Distances in logit space to per-class centres, re-estimated after training as the
    mean logits of correctly classified (argmax) training samples
    (:func:`osrkit.evt.class_means`).

    - ``rule="cac"`` (paper 001 §3.3): rejection scores s = (1 − softmin(d)) ∘ d;
      prediction argmin s, novelty min s — the CAC classifier;
    - ``rule="distance"``: prediction argmin d, novelty min d — the post-hoc distance on
      a cross-entropy network that the paper argues against.
    """

    def __init__(self, rule: str = "cac", batch_size: int = 512) -> None:
        if rule not in ("cac", "distance"):
            raise ValueError(f"rule must be 'cac' or 'distance', got {rule!r}")
        self.rule, self.batch_size = rule, batch_size
        self.native_name = "rejection score min s" if rule == "cac" else "distance to the nearest class mean"
        self.model: nn.Module | None = None
        self.centres: np.ndarray | None = None

    def fit(self, model: nn.Module, X: np.ndarray | None = None, y: np.ndarray | None = None) -> "LogitDistanceScorer":
        if X is None or y is None:
            raise ValueError("LogitDistanceScorer.fit needs the training inputs X and labels y for the class means")
        self.model = model
        logits = logits_of(model, X, self.batch_size)
        self.centres, _ = class_means(logits, y, predicted=logits.argmax(1))
        return self

    def distances(self, X: np.ndarray) -> np.ndarray:
        """d = ‖f(x) − C_i‖₂ to every class centre, shape (N, classes)."""
        if self.centres is None:
            raise RuntimeError("LogitDistanceScorer is not fitted: call .fit(model, X, y) first")
        return distances_to_centres(logits_of(self.model, X, self.batch_size), self.centres)

    def score(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = self.distances(X)
        s = cac_rejection_scores(d) if self.rule == "cac" else d
        return s.argmin(1), s.min(1)


class OpenMaxScorer(Scorer):
    """OpenMax (Bendale & Boult 2016), a baseline of paper 001: Weibull tails on the
    distances of correctly classified training logits to their class mean
    (:class:`osrkit.evt.ClassMeanEVT`), the top-``alpha`` logits recalibrated
    (:func:`osrkit.evt.openmax_recalibrate`); prediction the most probable known class,
    novelty the probability of the added "unknown" class."""

    native_name = "OpenMax unknown probability"

    def __init__(self, tail_size: int = 20, alpha: int = 10, batch_size: int = 512) -> None:
        self.tail_size, self.alpha, self.batch_size = tail_size, alpha, batch_size
        self.model: nn.Module | None = None
        self.evt: ClassMeanEVT | None = None

    def fit(self, model: nn.Module, X: np.ndarray | None = None, y: np.ndarray | None = None) -> "OpenMaxScorer":
        if X is None or y is None:
            raise ValueError("OpenMaxScorer.fit needs the training inputs X and labels y for the Weibull fits")
        self.model = model
        logits = logits_of(model, X, self.batch_size)
        self.evt = ClassMeanEVT(self.tail_size).fit(logits, y, predicted=logits.argmax(1))
        return self

    def probabilities(self, X: np.ndarray) -> np.ndarray:
        """Recalibrated probabilities (N, classes + 1); the last column is "unknown"."""
        if self.evt is None:
            raise RuntimeError("OpenMaxScorer is not fitted: call .fit(model, X, y) first")
        logits = logits_of(self.model, X, self.batch_size)
        return openmax_recalibrate(logits, self.evt.outlier_probability(logits), self.alpha)

    def score(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        probs = self.probabilities(X)
        return probs[:, :-1].argmax(1), probs[:, -1]


# ------------------------------------------------------------ top-k similarity (paper 003)
class TopKSimilarityScorer(Scorer):
    """The open-set rule of paper 003 (Algorithm 1): G_c(x) = sum of the k largest cosine
    similarities between the embedding of x and the training embeddings of class c;
    prediction argmax_c G_c, score max_c G_c (high = known). Novelty = −max_c G_c, so that
    higher is more likely unknown; :meth:`to_native` gives the score back. ``embed`` maps
    inputs to embeddings (``None``: the inputs already are)."""

    native_name = "top-k similarity score"

    def __init__(self, k: int = 10) -> None:
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        self.k = k
        self.embed: Callable[[np.ndarray], np.ndarray] | None = None
        self.bank: list[np.ndarray] = []

    def fit(self, embed: Callable[[np.ndarray], np.ndarray] | None, X: np.ndarray | None = None,
            y: np.ndarray | None = None) -> "TopKSimilarityScorer":
        if X is None or y is None:
            raise ValueError("TopKSimilarityScorer.fit needs the training inputs X and their labels y")
        self.embed = embed
        F, y = self._embeddings(X), np.asarray(y)
        F = F / np.maximum(np.linalg.norm(F, axis=1, keepdims=True), 1e-12)
        self.bank = [F[y == c] for c in known_labels(y)]
        small = [c for c, B in enumerate(self.bank) if len(B) < self.k]
        if small:
            raise ValueError(f"classes {small} have fewer than k={self.k} training samples; lower k")
        return self

    def _embeddings(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.embed(X) if self.embed is not None else X, dtype=np.float64).reshape(len(X), -1)

    def class_scores_of_embeddings(self, Z: torch.Tensor) -> torch.Tensor:
        """G (B, classes) for a batch of embeddings, in torch and differentiable, so that an
        attribution map can explain the top-k score (see :func:`osrkit.protocols.top_k_target`)."""
        if not self.bank:
            raise RuntimeError("TopKSimilarityScorer is not fitted: call .fit(embed, X, y) first")
        Z = torch.nn.functional.normalize(Z.flatten(1), dim=1, eps=1e-12)
        return torch.stack([(Z @ torch.as_tensor(B, dtype=Z.dtype, device=Z.device).T).topk(self.k, dim=1).values.sum(1)
                            for B in self.bank], dim=1)

    def class_scores(self, X: np.ndarray) -> np.ndarray:
        """G (N, classes): per class, the sum of the top-k cosine similarities."""
        return self.class_scores_of_embeddings(torch.as_tensor(self._embeddings(X))).numpy()

    def score(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        G = self.class_scores(X)
        return G.argmax(1), -G.max(1)

    def to_native(self, novelty: np.ndarray) -> np.ndarray:
        return -np.asarray(novelty)
