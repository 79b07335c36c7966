"""Paper 004's open-set experiments beyond Table I (lesson 02): the open-set F-measure
against openness (Fig. 4) and 1-class recognition ROC curves (Fig. 5), with the one-class
SVM baseline as a scorer."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from torch import nn

from .. import data, metrics
from ..methods import dae
from ..scoring import Scorer
from .fooling import make_scorer, paper_model, train_model


@dataclass
class OpennessCurve:
    """Mean open-set F-measure per openness level for each model (paper 004 Fig. 4)."""

    n_known: list[int]
    openness: list[float]
    f_measure: dict[str, list[float]]


def openness_curve(X: np.ndarray, y: np.ndarray, n_known: Sequence[int], *, kinds: Sequence[str] = ("cnn", "cool", "dae_sym"),
                   repetitions: int = 1, threshold: float = 0.99, epochs: int = 3, batch_size: int = 64,
                   images_per_class: int | None = None, seed: int = 0, device: str = "auto",
                   cache_dir: str | None = None, progress: bool = True) -> OpennessCurve:
    """Train on ``k`` random known digits for each ``k`` in ``n_known`` (``repetitions``
    draws, the same digits for every model), test on all digits; a sample is accepted when
    the model's confidence reaches ``threshold`` (paper: 99%). The dAE's α is chosen on
    known validation digits for each task. ``images_per_class`` shrinks the pool evenly
    first (quick mode)."""
    X, y = data.subsample_per_class(X, y, images_per_class, seed=seed)
    classes = np.unique(y)
    rng = np.random.default_rng(seed)
    scores: dict[str, list[float]] = {k: [] for k in kinds}
    openness = []
    for k in n_known:
        reps = 1 if k == len(classes) else repetitions
        per_kind: dict[str, list[float]] = {kind: [] for kind in kinds}
        for r in range(reps):
            known = sorted(rng.choice(classes, size=k, replace=False).tolist())
            split = data.open_set_split(X, y, known, seed=seed + r)
            for kind in kinds:
                model = train_model(kind, split, epochs=epochs, batch_size=batch_size, seed=seed + r, device=device,
                                    cache_dir=cache_dir, progress=progress)
                if paper_model(kind).calibrated:
                    sc = dae.calibrated_dae_scorer(model, split.X_val, split.y_val, threshold=threshold)
                else:
                    sc = make_scorer(kind, model)
                decided = sc.predict(split.X_test, 1.0 - threshold)
                per_kind[kind].append(metrics.open_set_f_measure(split.y_test, decided))
        openness.append(data.openness_spigler(k, len(classes)))
        for kind in kinds:
            scores[kind].append(float(np.mean(per_kind[kind])))
    return OpennessCurve(list(n_known), openness, scores)


@dataclass
class OneClassROC:
    """Per-model ROC averaged over the 1-class problems (paper 004 Fig. 5)."""

    fpr: np.ndarray                   # common grid of false-positive rates
    tpr: dict[str, np.ndarray]        # mean true-positive rate per model
    auc: dict[str, float]             # area under the mean curve
    auc_per_digit: dict[str, list[float]]


class OneClassSVMScorer(Scorer):
    """A one-class SVM on raw pixels (scikit-learn; paper 004 Fig. 5: ν = 0.1, RBF γ = 0.1),
    the baseline of 1-class recognition. It reads no network (``fit`` ignores ``model``);
    prediction is the one known class 0 and novelty = −decision_function (scikit-learn's
    score is high for inliers)."""

    native_name = "SVM decision function"

    def __init__(self, nu: float = 0.1, gamma: float = 0.1, *, name: str = "1-class SVM") -> None:
        self.nu, self.gamma, self.name = nu, gamma, name
        self.svm = None

    @property
    def is_fitted(self) -> bool:
        return self.svm is not None

    def fit(self, model: nn.Module | None, X: np.ndarray, y: np.ndarray | None = None) -> "OneClassSVMScorer":
        from sklearn.svm import OneClassSVM

        X = np.asarray(X)
        self.svm = OneClassSVM(nu=self.nu, gamma=self.gamma).fit(X.reshape(len(X), -1))
        return self

    def score(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self._check_fitted()
        X = np.asarray(X)
        return np.zeros(len(X), dtype=np.int64), -self.svm.decision_function(X.reshape(len(X), -1))

    def to_native(self, novelty: np.ndarray) -> np.ndarray:
        return -np.asarray(novelty)


def one_class_roc(X: np.ndarray, y: np.ndarray, digits: Sequence[int], *, epochs: int = 5, batch_size: int = 64,
                  lr: float = 3e-4, test_fraction: float = 0.1, seed: int = 0, device: str = "auto",
                  noise_std: float = 0.3, nu: float = 0.1, gamma: float = 0.1, cache_dir: str | None = None,
                  progress: bool = True) -> OneClassROC:
    """Train on one digit alone and test on all digits (``test_fraction`` of each), for
    each of ``digits``: the dAE (confidence c̃, σ = 0.3 as in Appendix D), COOL (one class
    of ω units) and a one-class SVM (ν = 0.1, RBF γ = 0.1, on pixels). The known digit is
    the positive class of the ROC; the curves are averaged over the digits on a common grid.

    With one class the cross-entropy is identically 0 and the reconstruction alone trains
    the shared encoder. At Adam's lr 1e-3 its ReLU features die within ~30 steps and the
    decoder returns one constant image, whose error only measures a digit's ink (AUC 0.2–0.6
    on mnist5k); lr 3e-4 keeps them alive (AUC of the error 0.93–0.99 after 40 steps)."""
    grid = np.linspace(0.0, 1.0, 201)
    kinds = ("dae_sym", "cool", "ocsvm")
    curves: dict[str, list[np.ndarray]] = {k: [] for k in kinds}
    aucs: dict[str, list[float]] = {k: [] for k in kinds}
    for i, digit in enumerate(digits):
        split = data.open_set_split(X, y, [digit], test_fraction=test_fraction, seed=seed + i)
        known = split.y_test == 0
        novelty = {}
        common = dict(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed + i, device=device, cache_dir=cache_dir,
                      progress=progress)
        dae_model = train_model("dae_sym", split, noise_std=noise_std, **common)
        # one class: y ≡ 1, so the scaled output is c̃ itself
        novelty["dae_sym"] = dae.calibrated_dae_scorer(dae_model, split.X_val, split.y_val, threshold=0.5,
                                                       keep=0.95).score(split.X_test)[1]
        novelty["cool"] = make_scorer("cool", train_model("cool", split, **common)).score(split.X_test)[1]
        novelty["ocsvm"] = OneClassSVMScorer(nu, gamma).fit(None, split.X_train).score(split.X_test)[1]
        for kind in kinds:
            # positive = the known digit: reject-rate of unknowns vs reject-rate of knowns, flipped
            fpr, tpr, _ = metrics.roc_curve_points(novelty[kind][known], novelty[kind][~known])
            curves[kind].append(np.interp(grid, fpr, tpr))
            aucs[kind].append(metrics.auroc(novelty[kind][known], novelty[kind][~known]))
    mean_tpr = {k: np.mean(curves[k], axis=0) for k in kinds}
    mean_auc = {k: float(np.trapezoid(mean_tpr[k], grid)) for k in kinds}
    return OneClassROC(grid, mean_tpr, mean_auc, aucs)
