"""Paper protocols that train and score models in loops, so the lessons stay short.

Lesson 02 (paper 004 §IV-B–D): the four MNIST models (plain CNN, COOL, dAE with a
symmetric and with an asymmetric decoder) behind one name each, their scorers and
fooling targets, the open-set F-measure against openness (Fig. 4) and 1-class
recognition ROC curves (Fig. 5).

Lesson 03 (paper 000 §5): the paper's open-set tasks (even/odd MNIST, Fashion-MNIST 6/4)
and one run of its comparison, GMVAE (NC-U, NC-D) against CROSR (NC-D, EVT).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from . import attacks, data, losses, metrics, models, scorers, thresholding, train

PAPER_MODELS = ("cnn", "cool", "dae_sym", "dae_asym")
MODEL_LABELS = {"cnn": "CNN", "cool": "COOL", "dae_sym": "dAE sym", "dae_asym": "dAE asym", "ocsvm": "1-class SVM"}


def build_model(kind: str, num_classes: int, *, omega: int = 10, image_size: int = 28) -> nn.Module:
    """A paper-004 network by name (one of :data:`PAPER_MODELS`)."""
    if kind == "cnn":
        return models.PaperCNN(num_classes, image_size=image_size)
    if kind == "cool":
        return models.COOLClassifier(num_classes, omega=omega, image_size=image_size)
    if kind in ("dae_sym", "dae_asym"):
        return models.ConvDAEClassifier(num_classes, tied=kind == "dae_sym", image_size=image_size)
    raise ValueError(f"unknown model kind {kind!r}; use one of {PAPER_MODELS}")


def train_model(kind: str, X: np.ndarray, y: np.ndarray, num_classes: int, *, epochs: int, seed: int = 0,
                device: str = "auto", noise_std: float = 0.2, rec_weight: float = 10.0, omega: int = 10,
                lr: float = 1e-3, batch_size: int = 64, progress: bool = True) -> nn.Module:
    """Build and train one paper-004 model (Adam, lr 1e-3, batches of 64: Appendix B).
    The dAEs add ``rec_weight`` × the denoising reconstruction of σ-corrupted inputs."""
    train.seed_everything(seed)
    model = build_model(kind, num_classes, omega=omega, image_size=X.shape[-1])
    if kind == "cnn":
        loss = losses.cross_entropy_loss
    elif kind == "cool":
        loss = losses.cool_loss
    else:
        loss = losses.DenoisingClassifierLoss(noise_std=noise_std, rec_weight=rec_weight)
    train.fit(model, loss, X, y, epochs=epochs, seed=seed, device=device, lr=lr, batch_size=batch_size,
              progress=progress, desc=f"{MODEL_LABELS[kind]} ({len(y)} images)")
    return model


def make_scorer(kind: str, model: nn.Module, *, alpha: float = 20.0, beta: float = 10.0,
                n_probes: int = 4) -> scorers.Scorer:
    """The scorer whose confidence paper 004 thresholds for each model: max softmax,
    COOL class confidence, or the dAE's scaled output max ỹ = c̃·max y."""
    if kind == "cnn":
        return scorers.MaxSoftmaxScorer().fit(model)
    if kind == "cool":
        return scorers.COOLScorer().fit(model)
    if kind in ("dae_sym", "dae_asym"):
        return scorers.DAEConfidenceScorer(alpha, beta, n_probes=n_probes, output="scaled").fit(model)
    raise ValueError(f"unknown model kind {kind!r}; use one of {PAPER_MODELS}")


def fooling_target(kind: str, model: nn.Module, *, alpha: float = 20.0, beta: float = 10.0,
                   attack_confidence: bool = False) -> attacks.FoolingTarget:
    """What the fooling generator attacks for each model (see :mod:`osrkit.attacks`)."""
    if kind == "cnn":
        return attacks.SoftmaxTarget(model)
    if kind == "cool":
        return attacks.COOLTarget(model, attack_confidence=attack_confidence)
    if kind in ("dae_sym", "dae_asym"):
        return attacks.DAETarget(model, alpha, beta, attack_confidence=attack_confidence)
    raise ValueError(f"unknown model kind {kind!r}; use one of {PAPER_MODELS}")


def calibrated_dae_scorer(model: nn.Module, X_val: np.ndarray, y_val: np.ndarray, *, threshold: float,
                          beta: float = 10.0, keep: float = 0.97) -> scorers.DAEConfidenceScorer:
    """A scaled-output dAE scorer whose α is chosen on known validation samples
    (:func:`osrkit.scorers.choose_alpha`)."""
    sc = make_scorer("dae_sym", model, beta=beta)
    sc.alpha = scorers.choose_alpha(sc, sc.components(X_val), y_val, threshold=threshold, keep=keep)
    return sc


@dataclass
class OpennessCurve:
    """Mean open-set F-measure per openness level for each model (paper 004 Fig. 4)."""

    n_known: list[int]
    openness: list[float]
    f_measure: dict[str, list[float]]


def openness_curve(X: np.ndarray, y: np.ndarray, n_known: Sequence[int], *, kinds: Sequence[str] = ("cnn", "cool", "dae_sym"),
                   repetitions: int = 1, threshold: float = 0.99, epochs: int = 3, batch_size: int = 64,
                   images_per_class: int | None = None, seed: int = 0, device: str = "auto",
                   progress: bool = True) -> OpennessCurve:
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
                model = train_model(kind, split.X_train, split.y_train, k, epochs=epochs, batch_size=batch_size,
                                    seed=seed + r, device=device, progress=progress)
                if kind.startswith("dae"):
                    sc = calibrated_dae_scorer(model, split.X_val, split.y_val, threshold=threshold)
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


def one_class_roc(X: np.ndarray, y: np.ndarray, digits: Sequence[int], *, epochs: int = 5, batch_size: int = 64,
                  lr: float = 3e-4, test_fraction: float = 0.1, seed: int = 0, device: str = "auto",
                  noise_std: float = 0.3, nu: float = 0.1, gamma: float = 0.1, progress: bool = True) -> OneClassROC:
    """Train on one digit alone and test on all digits (``test_fraction`` of each), for
    each of ``digits``: the dAE (confidence c̃, σ = 0.3 as in Appendix D), COOL (one class
    of ω units) and a one-class SVM (ν = 0.1, RBF γ = 0.1, on pixels). The known digit is
    the positive class of the ROC; the curves are averaged over the digits on a common grid.

    With one class the cross-entropy is identically 0 and the reconstruction alone trains
    the shared encoder. At Adam's lr 1e-3 its ReLU features die within ~30 steps and the
    decoder returns one constant image, whose error only measures a digit's ink (AUC 0.2–0.6
    on mnist5k); lr 3e-4 keeps them alive (AUC of the error 0.93–0.99 after 40 steps)."""
    from sklearn.svm import OneClassSVM

    grid = np.linspace(0.0, 1.0, 201)
    kinds = ("dae_sym", "cool", "ocsvm")
    curves: dict[str, list[np.ndarray]] = {k: [] for k in kinds}
    aucs: dict[str, list[float]] = {k: [] for k in kinds}
    for i, digit in enumerate(digits):
        split = data.open_set_split(X, y, [digit], test_fraction=test_fraction, seed=seed + i)
        known = split.y_test == 0
        novelty = {}
        dae = train_model("dae_sym", split.X_train, split.y_train, 1, epochs=epochs, batch_size=batch_size, lr=lr,
                          seed=seed + i, device=device, noise_std=noise_std, progress=progress)
        # one class: y ≡ 1, so the scaled output is c̃ itself
        novelty["dae_sym"] = calibrated_dae_scorer(dae, split.X_val, split.y_val, threshold=0.5,
                                                   keep=0.95).score(split.X_test)[1]
        cool = train_model("cool", split.X_train, split.y_train, 1, epochs=epochs, batch_size=batch_size, lr=lr,
                           seed=seed + i, device=device, progress=progress)
        novelty["cool"] = make_scorer("cool", cool).score(split.X_test)[1]
        svm = OneClassSVM(nu=nu, gamma=gamma).fit(split.X_train.reshape(len(split.X_train), -1))
        novelty["ocsvm"] = -svm.decision_function(split.X_test.reshape(len(split.X_test), -1))
        for kind in kinds:
            # positive = the known digit: reject-rate of unknowns vs reject-rate of knowns, flipped
            fpr, tpr, _ = metrics.roc_curve_points(novelty[kind][known], novelty[kind][~known])
            curves[kind].append(np.interp(grid, fpr, tpr))
            aucs[kind].append(metrics.auroc(novelty[kind][known], novelty[kind][~known]))
    mean_tpr = {k: np.mean(curves[k], axis=0) for k in kinds}
    mean_auc = {k: float(np.trapezoid(mean_tpr[k], grid)) for k in kinds}
    return OneClassROC(grid, mean_tpr, mean_auc, aucs)


@dataclass
class FoolingBenchmark:
    """Paper 004 Table I: thresholded accuracy and fooling per model and threshold."""

    thresholds: tuple[float, ...]
    accuracy: dict[str, dict[float, float]]            # threshold 0.0 = plain accuracy
    fooling: dict[str, dict[float, attacks.FoolingResult]]
    alpha: dict[str, dict[float, float]]               # the dAEs' α per threshold
    test_correct: dict[str, np.ndarray]
    test_confidence: dict[str, np.ndarray]             # at the first threshold's scorer

    def rows(self) -> list[dict[str, float]]:
        """One row per model: accuracies, fooling rates and mean steps, as numbers."""
        out = []
        for kind in self.accuracy:
            row = {"model": MODEL_LABELS[kind], "acc_0": self.accuracy[kind][0.0]}
            for t in self.thresholds:
                tag = f"{round(t * 100)}"
                run = self.fooling[kind].get(t)  # absent where a model was not attacked at t
                row[f"acc_{tag}"] = self.accuracy[kind].get(t, float("nan"))
                row[f"fooled_{tag}"] = run.rate if run is not None else float("nan")
                row[f"steps_{tag}"] = run.mean_steps if run is not None else float("nan")
            out.append(row)
        return out

    def table(self) -> str:
        """Table I as text: accuracies, then fooling rate (mean steps) per threshold; "—"
        where a model was not attacked or never fooled (no steps to average)."""
        def pct(v: float) -> str:
            return "—" if np.isnan(v) else f"{v:.1%}"

        def steps(v: float) -> str:
            return "" if np.isnan(v) else f" ({v:.1f})"

        tags = [f"{round(t * 100)}" for t in self.thresholds]
        head = f"{'model':<9} {'acc 0%':>7}" + "".join(f" {'acc ' + g + '%':>8}" for g in tags)
        head += "".join(f"   {'fooled ' + g + '% (steps)':>19}" for g in tags)
        lines = [head]
        for row in self.rows():
            line = f"{row['model']:<9} {pct(row['acc_0']):>7}" + "".join(f" {pct(row['acc_' + g]):>8}" for g in tags)
            line += "".join(f"   {pct(row['fooled_' + g]) + steps(row['steps_' + g]):>19}" for g in tags)
            lines.append(line)
        return "\n".join(lines)


def fooling_benchmark(trained: dict[str, nn.Module], split: data.OpenSetSplit, *,
                      thresholds: Sequence[float] = (0.9, 0.99), trials_per_digit: int = 1, max_steps: int = 200,
                      lr: float = 1e-3, beta: float = 10.0, keep: float = 0.97, seed: int = 0,
                      first_threshold_only: Sequence[str] = ("dae_asym",), progress: bool = True) -> FoolingBenchmark:
    """Table I on a closed split (every class known). For each threshold the dAE's α is
    chosen on the validation digits (:func:`osrkit.scorers.choose_alpha`), as paper 004 uses
    one α per threshold; the FGN descends the unscaled output y and a trial succeeds when
    the model's confidence for its target reaches the threshold. Models named in
    ``first_threshold_only`` are attacked at the first threshold only (the paper's Table I
    has no 99% entry for the asymmetric dAE)."""
    thresholds = tuple(float(t) for t in thresholds)
    targets = np.repeat(np.arange(split.num_known), trials_per_digit)
    accuracy, fooling, alpha, correct, confidence = {}, {}, {}, {}, {}
    for kind, model in trained.items():
        accuracy[kind], fooling[kind] = {}, {}
        is_dae = kind.startswith("dae")
        levels = thresholds[:1] if kind in first_threshold_only else thresholds
        if is_dae:  # the α-free pieces, computed once for every threshold
            sc = make_scorer(kind, model, beta=beta)
            val_parts, test_parts = sc.components(split.X_val), sc.components(split.X_test)
            pred = test_parts.probs.argmax(1)
        else:
            pred, novelty = make_scorer(kind, model).score(split.X_test)
        correct[kind] = pred == split.y_test
        accuracy[kind][0.0] = float(np.mean(correct[kind]))
        for i, t in enumerate(levels):
            if is_dae:
                alpha.setdefault(kind, {})[t] = scorers.choose_alpha(sc, val_parts, split.y_val, threshold=t, keep=keep)
                novelty = sc.novelty(test_parts, alpha=alpha[kind][t])
            if i == 0:
                confidence[kind] = 1.0 - novelty
            accuracy[kind][t] = metrics.thresholded_accuracy(split.y_test, pred, novelty, 1.0 - t)
        if is_dae:  # α differs per threshold: one run each
            for t in levels:
                target = fooling_target(kind, model, alpha=alpha[kind][t], beta=beta)
                fooling[kind][t] = attacks.fooling_attack(target, targets, threshold=t, max_steps=max_steps, lr=lr,
                                                          seed=seed, progress=progress,
                                                          desc=f"fooling {MODEL_LABELS[kind]} at {t:.0%}")
        else:
            fooling[kind] = attacks.fooling_attack(fooling_target(kind, model), targets, threshold=list(levels),
                                                   max_steps=max_steps, lr=lr, seed=seed, progress=progress,
                                                   desc=f"fooling {MODEL_LABELS[kind]}")
    return FoolingBenchmark(thresholds, accuracy, fooling, alpha, correct, confidence)


# --------------------------------------------------------------------------- lesson 03 (paper 000)
#: The open-set tasks of paper 000 §5 on grey images: known classes (a tuple is one class
#: made of several labels), their names, and the validation share of the known training data.
GMVAE_TASKS = {
    # §5.3: "even" = {0, 2}, "odd" = {1, 3}; 4,000 of MNIST's ~24,700 known training digits validate
    "even_odd": {"known": [(0, 2), (1, 3)], "names": ["even", "odd"], "val_fraction": 4000 / 24754},
    # §5.1: six clothing classes known, sandals/sneakers/bags/ankle boots unknown; 6,000 of 36,000 validate
    "fashion_6_4": {"known": [0, 1, 2, 3, 4, 6], "names": ["t-shirt", "trouser", "pullover", "dress", "coat", "shirt"],
                    "val_fraction": 1 / 6},
}


def gmvae_task(task: str, dataset: str, *, seed: int = 0, root=None) -> data.OpenSetSplit:
    """The split of a paper-000 task (:data:`GMVAE_TASKS`). Offline pools (``mnist5k``)
    are cut into 60% train, 15% validation and 25% test per digit; the real datasets keep
    their official test set whole, as the paper does."""
    if task not in GMVAE_TASKS:
        raise ValueError(f"unknown task {task!r}; use one of {sorted(GMVAE_TASKS)}")
    spec = GMVAE_TASKS[task]
    if dataset in ("mnist5k", "digits"):
        pool = data.load_dataset(dataset, root=root)
        return data.open_set_split(pool.X, pool.y, spec["known"], val_fraction=0.2, test_fraction=0.25, seed=seed)
    tr, te = data.load_dataset(dataset, train=True, root=root), data.load_dataset(dataset, train=False, root=root)
    return data.open_set_split(tr.X, tr.y, spec["known"], val_fraction=spec["val_fraction"], seed=seed,
                               X_test=te.X, y_test=te.y)


@dataclass
class GMVAEComparison:
    """Paper 000's four combinations on one split: the trained GMVAE and DHRNet, each
    rule's fitted scorer and its :class:`osrkit.thresholding.RuleEvaluation`."""

    gmvae: models.SupervisedGMVAE
    dhrnet: models.DHRNet
    subclusters: tuple[int, ...]
    scorers: dict[str, scorers.Scorer]
    evaluations: dict[str, thresholding.RuleEvaluation]

    def mean_f1(self) -> dict[str, float]:
        """Test macro-F1 averaged over Q for every rule."""
        return {name: ev.mean_f1 for name, ev in self.evaluations.items()}


def gmvae_vs_crosr(split: data.OpenSetSplit, subclusters, *, epochs: int, crosr_epochs: int, z_dim: int = 10,
                   hidden: Sequence[int] = (256, 128), batch_size: int = 64, lr: float = 1e-3,
                   evt_threshold: float = 0.5, seed: int = 0, device: str = "auto",
                   progress: bool = True) -> GMVAEComparison:
    """Train a supervised GMVAE (modified ELBO, K_c subclusters per class) and a DHRNet
    (cross-entropy + reconstruction), then evaluate GMVAE+NC-U, GMVAE+NC-D, CROSR+NC-D
    (τ from the saturation of the known-validation F1) and CROSR+EVT (inclusion
    probability threshold ``evt_threshold``, 0.5 in the paper). NC-D on CROSR uses the same
    K_c centroids per class as the GMVAE (Algorithm 1 takes K_c as input)."""
    ks = tuple([int(subclusters)] * split.num_known if np.isscalar(subclusters) else [int(k) for k in subclusters])
    in_dim = int(np.prod(split.X_train.shape[1:]))
    train.seed_everything(seed)
    gmvae = models.SupervisedGMVAE(split.num_known, ks, in_dim=in_dim, hidden=hidden, z_dim=z_dim)
    train.fit(gmvae, losses.GMVAELoss(), split.X_train, split.y_train, epochs=epochs, batch_size=batch_size, lr=lr,
              seed=seed, device=device, progress=progress, desc=f"GMVAE K={ks}")
    train.seed_everything(seed)
    dhrnet = models.DHRNet(split.num_known, in_channels=split.X_train.shape[1], image_size=split.X_train.shape[-1])
    train.fit(dhrnet, losses.DHRNetLoss(), split.X_train, split.y_train, epochs=crosr_epochs,
              batch_size=batch_size, lr=lr, seed=seed, device=device, progress=progress, desc="DHRNet (CROSR)")
    g_embed, c_embed = scorers.embedding(gmvae), scorers.embedding(dhrnet)
    fitted = {
        "GMVAE+NC-U": scorers.NearestCentroidScorer("uncertainty", list(ks), seed).fit(g_embed, split.X_train,
                                                                                       split.y_train),
        "GMVAE+NC-D": scorers.NearestCentroidScorer("distance", list(ks), seed).fit(g_embed, split.X_train,
                                                                                    split.y_train),
        "CROSR+NC-D": scorers.NearestCentroidScorer("distance", list(ks), seed).fit(c_embed, split.X_train,
                                                                                    split.y_train),
        "CROSR+EVT": scorers.CROSREVTScorer().fit(dhrnet, split.X_train, split.y_train),
    }
    evaluations = {name: thresholding.evaluate_rule(name, sc, split,
                                                    threshold=evt_threshold if name == "CROSR+EVT" else None)
                   for name, sc in fitted.items()}
    return GMVAEComparison(gmvae, dhrnet, ks, fitted, evaluations)


# ------------------------------------------------------------ Class Anchor Clustering (paper 001)
#: Training settings of CAC's official code for MNIST/SVHN/CIFAR-10 (REFERENCE_NOTES.md).
CAC_TRAINING = {"optimizer": "sgd", "lr": 0.01, "batch_size": 128, "weight_decay": 5e-6}
CAC_NETWORKS = ("small", "classifier32")


def cac_task(dataset: str, split: int = 0, *, seed: int = 0, root=None) -> data.OpenSetSplit:
    """One of the five standard 6/4 splits (:data:`osrkit.data.STANDARD_SPLITS`) of a
    digit or CIFAR-10 dataset. Offline pools (``mnist5k``) are cut per class into train,
    validation and test; the real datasets keep their official test set, and MNIST is
    resized to 32×32 as in CAC's code."""
    known = data.standard_split(split)
    if dataset in data.OFFLINE_DATASETS:
        if dataset == "rings":
            raise ValueError("the standard splits need a 10-class image dataset: use 'mnist5k' or 'digits' "
                             "(offline), or 'mnist', 'svhn', 'cifar10'")
        pool = data.load_dataset(dataset, root=root)
        return data.open_set_split(pool.X, pool.y, known, seed=seed)
    tr, te = data.load_dataset(dataset, train=True, root=root), data.load_dataset(dataset, train=False, root=root)
    X_tr, X_te = (data.resize_images(tr.X, 32), data.resize_images(te.X, 32)) if dataset == "mnist" else (tr.X, te.X)
    return data.open_set_split(X_tr, tr.y, known, val_fraction=0.1, seed=seed, X_test=X_te, y_test=te.y)


def cac_network(kind: str, num_classes: int, in_channels: int = 1) -> nn.Module:
    """``"small"``: a two-conv CNN that trains on a CPU in seconds (quick mode);
    ``"classifier32"``: the 9-conv network of CAC's code (full mode, 32×32 inputs)."""
    if kind == "small":
        return models.PaperCNN(num_classes, in_channels=in_channels, channels=(16, 32), hidden=64)
    if kind == "classifier32":
        return models.Classifier32(num_classes, in_channels=in_channels)
    raise ValueError(f"unknown network {kind!r}; use one of {CAC_NETWORKS}")


def train_cac_network(split: data.OpenSetSplit, loss, *, network: str = "small", epochs: int, lr: float | None = None,
                      seed: int = 0, device: str = "auto", augment: bool = False, progress: bool = True,
                      desc: str = "") -> nn.Module:
    """Train a :func:`cac_network` on the split's known classes with ``loss`` (cross-entropy
    or a :class:`osrkit.losses.CACLoss`) and CAC's optimiser settings (:data:`CAC_TRAINING`;
    ``lr`` overrides its 0.01); ``augment`` adds CAC's random resized crops (scale 0.7–1)."""
    from .augment import random_resized_crop

    train.seed_everything(seed)
    model = cac_network(network, split.num_known, split.X_train.shape[1])
    settings = {**CAC_TRAINING, **({} if lr is None else {"lr": lr})}
    train.fit(model, loss, split.X_train, split.y_train, epochs=epochs, seed=seed, device=device,
              augment=random_resized_crop if augment else None, progress=progress,
              desc=desc or f"{network} network", **settings)
    return model


@dataclass
class OpenSetScores:
    """One rule's test predictions and novelty scores on a split, with AUROC (known vs
    unknown test samples) and closed-set accuracy on the known test samples."""

    pred: np.ndarray
    novelty: np.ndarray
    auroc: float
    accuracy: float


def open_set_scores(scorer: scorers.Scorer, split: data.OpenSetSplit) -> OpenSetScores:
    """Score the split's test set with a fitted scorer."""
    pred, novelty = scorer.score(split.X_test)
    known = split.y_test >= 0
    return OpenSetScores(pred, novelty, metrics.auroc(novelty[known], novelty[~known]),
                         float(np.mean(pred[known] == split.y_test[known])))


@dataclass
class CACComparison:
    """Paper 001's comparison on one split: a cross-entropy network scored by max softmax,
    OpenMax and the post-hoc class-mean distance, and a CAC network scored by its
    rejection score (Table 2, Table 3)."""

    networks: dict[str, nn.Module]
    scorers: dict[str, scorers.Scorer]
    scores: dict[str, OpenSetScores]

    def auroc(self) -> dict[str, float]:
        return {name: s.auroc for name, s in self.scores.items()}


def cac_vs_baselines(split: data.OpenSetSplit, *, network: str = "small", epochs: int, lr: float | None = None,
                     magnitude: float = 10.0, lam: float = 0.1, seed: int = 0, device: str = "auto",
                     augment: bool = False, progress: bool = True) -> CACComparison:
    """Train a cross-entropy and a CAC network (same architecture, seed and optimiser) and
    score the test set with CAC, max softmax, OpenMax and the CE class-mean distance."""
    common = dict(network=network, epochs=epochs, lr=lr, seed=seed, device=device, augment=augment, progress=progress)
    ce = train_cac_network(split, losses.cross_entropy_loss, desc="cross-entropy", **common)
    cac = train_cac_network(split, losses.CACLoss(split.num_known, magnitude, lam), desc="CAC", **common)
    fitted = {
        "CAC": scorers.LogitDistanceScorer("cac").fit(cac, split.X_train, split.y_train),
        "softmax": scorers.MaxSoftmaxScorer().fit(ce),
        "OpenMax": scorers.OpenMaxScorer(alpha=split.num_known).fit(ce, split.X_train, split.y_train),
        "CE distance": scorers.LogitDistanceScorer("distance").fit(ce, split.X_train, split.y_train),
    }
    return CACComparison({"CE": ce, "CAC": cac}, fitted,
                         {name: open_set_scores(sc, split) for name, sc in fitted.items()})


def cac_variant(split: data.OpenSetSplit, *, terms: str = "both", magnitude: float = 10.0, lam: float = 0.1,
                network: str = "small", epochs: int, lr: float | None = None, seed: int = 0, device: str = "auto",
                augment: bool = False, progress: bool = True) -> OpenSetScores:
    """Train one CAC network with the given loss terms (ablation, Fig. 3) or α, λ
    (sensitivity, Fig. 2) and score it with the CAC rejection score."""
    loss = losses.CACLoss(split.num_known, magnitude, lam, terms=terms)
    model = train_cac_network(split, loss, network=network, epochs=epochs, lr=lr, seed=seed, device=device,
                              augment=augment, progress=progress, desc=f"CAC {terms}, α={magnitude:g}, λ={lam:g}")
    return open_set_scores(scorers.LogitDistanceScorer("cac").fit(model, split.X_train, split.y_train), split)


# ------------------------------------------------------------ GradMix (paper 003)
GRADMIX_ENCODERS = ("small", "resnet18")


def contrastive_encoder(kind: str, in_channels: int = 1, image_size: int = 28) -> nn.Module:
    """``"small"``: :class:`osrkit.models.ContrastiveEncoder` (quick mode);
    ``"resnet18"``: :class:`osrkit.models.ResNet18Encoder` (full mode, 32×32 images)."""
    if kind == "small":
        return models.ContrastiveEncoder(in_channels, image_size=image_size)
    if kind == "resnet18":
        return models.ResNet18Encoder(in_channels)
    raise ValueError(f"unknown encoder {kind!r}; use one of {GRADMIX_ENCODERS}")


def train_contrastive(split: data.OpenSetSplit, mixing: str | None = None, *, encoder: str = "small", epochs: int,
                      lr: float = 1e-3, batch_size: int = 128, temperature: float = 0.05, seed: int = 0,
                      device: str = "auto", progress: bool = True) -> nn.Module:
    """Train an encoder with SupCon + SimCLR on two random-resized-crop views (paper 003
    eq. 3), plus a GradMix, Mixup or CutMix view with ``mixing`` (eq. 8); Adam.

    A controlled comparison: for one ``seed`` every ``mixing`` starts from the same weights
    and sees the same batches and the same crops (the crops have a generator of their own,
    so the mixing's extra random draws do not shift them); only the mixed view differs."""
    from functools import partial

    from .augment import random_resized_crop

    train.seed_everything(seed)
    model = contrastive_encoder(encoder, split.X_train.shape[1], split.X_train.shape[-1])
    crops = partial(random_resized_crop, generator=torch.Generator().manual_seed(seed))
    loss = losses.ContrastiveLoss(crops, mixing=mixing, temperature=temperature)
    train.fit(model, loss, split.X_train, split.y_train, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
              device=device, progress=progress, desc=f"SupCon+SimCLR{' + ' + mixing if mixing else ''}")
    return model.eval()


def top_k_scorer(model: nn.Module, split: data.OpenSetSplit, k: int = 10) -> scorers.TopKSimilarityScorer:
    """:class:`osrkit.scorers.TopKSimilarityScorer` on the model's embeddings of the
    split's training set (paper 003 Algorithm 1; k = 10 in its ablations)."""
    return scorers.TopKSimilarityScorer(k).fit(scorers.embedding(model), split.X_train, split.y_train)


def top_k_target(scorer: scorers.TopKSimilarityScorer) -> Callable[[torch.Tensor], torch.Tensor]:
    """The attribution target ``z -> Σ_batch max_c G_c(z)`` of a fitted top-k scorer: the
    score that the open-set rule thresholds (paper 003 Algorithm 1). Its LayerCAM map is
    what in an image makes it look known — the analogue of Grad-CAM's predicted-class
    score for a classifier. (The contrastive losses and the scorer use z/‖z‖ alone, so
    the raw embedding, or its norm, would explain a quantity the model never uses.)"""
    return lambda z: scorer.class_scores_of_embeddings(z).max(dim=1).values.sum()


def attention_maps(model: nn.Module, scorer: scorers.TopKSimilarityScorer, X: np.ndarray, *,
                   batch_size: int = 256) -> np.ndarray:
    """LayerCAM maps (N, H, W) of an encoder on its ``attribution_layers()`` for the
    top-k score of ``scorer`` fitted on this encoder (:func:`top_k_target`); the maps of
    paper 003 Fig. 6, whose activated area :func:`osrkit.metrics.activated_area` measures."""
    from .attribution import layer_cam

    model.eval()
    dev = next(model.parameters()).device
    target = top_k_target(scorer)
    out = []
    for i in range(0, len(X), batch_size):
        xb = torch.as_tensor(np.asarray(X[i:i + batch_size], dtype=np.float32), device=dev)
        out.append(layer_cam(model, model.attribution_layers(), xb, target=target).cpu().numpy())
    return np.concatenate(out)


def activated_area_runs(split: data.OpenSetSplit, taus: np.ndarray, *, trained: dict[str, nn.Module] | None = None,
                        names: Sequence[str] = ("plain", "gradmix"), runs: int = 3, k: int = 10, seed: int = 0,
                        **train_kwargs) -> dict[str, np.ndarray]:
    """S_M(τ) (paper 003 Fig. 6 right) of each named training — ``"plain"`` or a mixing of
    :func:`train_contrastive` — over ``runs`` paired runs with seeds seed + 1000·r: the
    activated area of the LayerCAM maps of the top-k score (:func:`attention_maps`) on every
    test image. Returns name → (runs, len(taus)). ``trained`` holds models already trained
    with ``seed``, used for run 0. On digits the change GradMix makes to the area is about
    the spread between runs, so one run can point either way; the mean over paired runs is
    the measurement (as lesson 03 averages its drops over paired runs)."""
    if runs < 1:
        raise ValueError(f"runs must be at least 1, got {runs}")
    trained = trained or {}
    per_run: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for r in range(runs):
        for name in names:
            model = trained.get(name) if r == 0 else None
            if model is None:
                model = train_contrastive(split, None if name == "plain" else name, seed=seed + 1000 * r, **train_kwargs)
            maps = attention_maps(model, top_k_scorer(model, split, k), split.X_test)
            per_run[name].append(metrics.activated_area(maps, taus))
    return {name: np.stack(areas) for name, areas in per_run.items()}


def corruption_accuracy(scorer: scorers.Scorer, split: data.OpenSetSplit,
                        kinds=("gaussian_noise", "blur", "contrast"), *, severity: int = 3,
                        seed: int = 0) -> dict[str, float]:
    """Closed-set accuracy of a fitted scorer (e.g. :func:`top_k_scorer`) on the known test
    images, clean and under each corruption (:func:`osrkit.augment.corrupt`; paper 003
    §4.4 reports the drop)."""
    from .augment import corrupt

    known = split.y_test >= 0
    X, y = split.X_test[known], split.y_test[known]
    result = {"clean": float(np.mean(scorer.score(X)[0] == y))}
    gen = torch.Generator().manual_seed(seed)
    for kind in kinds:
        Xc = corrupt(torch.as_tensor(X), kind, severity, generator=gen).numpy()
        result[kind] = float(np.mean(scorer.score(Xc)[0] == y))
    return result
