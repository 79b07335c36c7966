"""Open-set metrics on novelty scores (higher = more likely unknown).

Conventions (DESIGN.md): known classes are 0..C−1, unknown samples are labelled −1;
a sample is *accepted* as known when its novelty is ``<= threshold`` and rejected
(predicted −1) when it is ``> threshold``.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy.stats import rankdata

UNKNOWN = -1


def _scores(values: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).ravel()
    if arr.size == 0:
        raise ValueError(f"{name} is empty: need at least one score")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _check_threshold(threshold: float) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.floating, np.integer)):
        raise ValueError(f"threshold must be a real number, got {type(threshold).__name__} {threshold!r}")
    if not math.isfinite(float(threshold)):
        raise ValueError(f"threshold must be finite, got {threshold}")
    return float(threshold)


def auroc(novelty_known: np.ndarray, novelty_unknown: np.ndarray) -> float:
    """Area under the ROC curve for telling unknown (positive) from known samples.

    Equals the probability that a random unknown sample gets a higher novelty than a
    random known one, ties counting one half (Mann–Whitney U); the same value as
    ``sklearn.metrics.roc_auc_score`` with unknown as the positive class.
    """
    known = _scores(novelty_known, "novelty_known")
    unknown = _scores(novelty_unknown, "novelty_unknown")
    ranks = rankdata(np.concatenate([known, unknown]))
    n_k, n_u = len(known), len(unknown)
    u_stat = ranks[n_k:].sum() - n_u * (n_u + 1) / 2.0
    return float(u_stat / (n_k * n_u))


def predict_with_rejection(pred: np.ndarray, novelty: np.ndarray, threshold: float) -> np.ndarray:
    """Known-class predictions with −1 wherever novelty exceeds the threshold."""
    threshold = _check_threshold(threshold)
    pred = np.asarray(pred).astype(np.int64)
    novelty = np.asarray(novelty, dtype=np.float64)
    if pred.shape != novelty.shape:
        raise ValueError(f"pred and novelty differ in shape: {pred.shape} vs {novelty.shape}")
    return np.where(novelty > threshold, UNKNOWN, pred)


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, num_known: int) -> float:
    """Macro-averaged F1 over the C known classes plus the unknown class (−1).

    A class that never occurs in ``y_true`` nor ``y_pred`` scores 0 (scikit-learn's
    ``zero_division=0``), as in the GMVAE and CROSR evaluations.
    """
    from sklearn.metrics import f1_score

    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred differ in shape: {y_true.shape} vs {y_pred.shape}")
    labels = list(range(num_known)) + [UNKNOWN]
    bad = np.setdiff1d(np.union1d(y_true, y_pred), labels)
    if bad.size:
        raise ValueError(f"labels {bad.tolist()} are outside 0..{num_known - 1} and −1 (unknown)")
    return float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0))


def thresholded_accuracy(y_true: np.ndarray, pred: np.ndarray, novelty: np.ndarray,
                         threshold: float) -> float:
    """Fraction of samples handled correctly at a threshold (paper 004, Table I).

    A known sample is correct when its class is right *and* it is accepted; an unknown
    sample (−1) is correct when it is rejected. On known samples alone this is the
    paper's thresholded accuracy ("correct label and confidence above threshold").
    """
    y_true = np.asarray(y_true)
    decided = predict_with_rejection(pred, novelty, threshold)
    if decided.shape != y_true.shape:
        raise ValueError(f"y_true and pred differ in shape: {y_true.shape} vs {decided.shape}")
    return float(np.mean(decided == y_true))


def pick_threshold(novelty_known_val: np.ndarray, keep: float = 0.95) -> float:
    """Smallest threshold that accepts at least a fraction ``keep`` of the known
    validation samples (the usual validation-percentile rule)."""
    scores = np.sort(_scores(novelty_known_val, "novelty_known_val"))
    if not 0.0 < keep <= 1.0:
        raise ValueError(f"keep must be a fraction in (0, 1], got {keep}")
    return float(scores[math.ceil(keep * len(scores) - 1e-9) - 1])


def tnr_at_tpr(novelty_known: np.ndarray, novelty_unknown: np.ndarray, tpr: float = 0.95) -> float:
    """True-negative rate on unknowns at the threshold keeping ``tpr`` of the knowns
    (known = positive), i.e. 1 − FPR95 of the OOD literature."""
    threshold = pick_threshold(novelty_known, keep=tpr)
    unknown = _scores(novelty_unknown, "novelty_unknown")
    return float(np.mean(unknown > threshold))


def oscr(y_true: np.ndarray, pred: np.ndarray, novelty: np.ndarray) -> float:
    """Open-Set Classification Rate (Dhamija et al., 2018): the area under the curve of
    correct-classification rate of knowns against false-positive rate of unknowns, as the
    acceptance threshold sweeps over every novelty value (ties moved together)."""
    y_true = np.asarray(y_true)
    pred = np.asarray(pred)
    novelty = _scores(novelty, "novelty")
    if not (len(y_true) == len(pred) == len(novelty)):
        raise ValueError("y_true, pred and novelty must have the same length")
    is_unknown = y_true == UNKNOWN
    if is_unknown.all() or not is_unknown.any():
        raise ValueError("OSCR needs both known and unknown samples in y_true")
    correct = (~is_unknown) & (pred == y_true)
    thresholds = np.unique(novelty)  # ascending; accept novelty <= t
    order = np.argsort(novelty, kind="stable")
    sorted_nov = novelty[order]
    upto = np.searchsorted(sorted_nov, thresholds, side="right")
    ccr = np.concatenate([[0.0], np.cumsum(correct[order])[upto - 1] / (~is_unknown).sum()])
    fpr = np.concatenate([[0.0], np.cumsum(is_unknown[order])[upto - 1] / is_unknown.sum()])
    return float(np.trapezoid(ccr, fpr) if hasattr(np, "trapezoid") else np.trapz(ccr, fpr))


def roc_curve_points(novelty_known: np.ndarray, novelty_unknown: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC curve with unknown as positive: (false-positive rate on knowns, true-positive
    rate on unknowns, thresholds), one point per distinct novelty value plus (0, 0)."""
    known = _scores(novelty_known, "novelty_known")
    unknown = _scores(novelty_unknown, "novelty_unknown")
    thresholds = np.unique(np.concatenate([known, unknown]))[::-1]  # reject novelty >= t
    known_sorted, unknown_sorted = np.sort(known), np.sort(unknown)
    fpr = 1.0 - np.searchsorted(known_sorted, thresholds, side="left") / len(known)
    tpr = 1.0 - np.searchsorted(unknown_sorted, thresholds, side="left") / len(unknown)
    return np.concatenate([[0.0], fpr]), np.concatenate([[0.0], tpr]), np.concatenate([[np.inf], thresholds])


def open_set_f_measure(y_true: np.ndarray, y_decided: np.ndarray) -> float:
    """F-measure of open-set recognition (Scheirer et al. 2013; paper 004 §IV-C): a true
    positive is a known sample given its right class; a false positive is any sample given
    a wrong known class (an accepted unknown, or a misclassified known); a false negative
    is a known sample not given its right class (rejected or misclassified)."""
    y_true, y_decided = np.asarray(y_true), np.asarray(y_decided)
    if y_true.shape != y_decided.shape:
        raise ValueError(f"y_true and y_decided differ in shape: {y_true.shape} vs {y_decided.shape}")
    tp = np.sum((y_true >= 0) & (y_decided == y_true))
    fp = np.sum((y_decided >= 0) & (y_decided != y_true))
    fn = np.sum((y_true >= 0) & (y_decided != y_true))
    if tp == 0:
        return 0.0
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    return float(2 * precision * recall / (precision + recall))


def f1_versus_unknowns(y_true: np.ndarray, y_pred: np.ndarray, source: np.ndarray,
                       unknown_order: Sequence[int], *, num_known: int) -> np.ndarray:
    """Test macro-F1 as the unknown classes join one at a time (paper 000, Fig. 2, 3, 7, 8).

    Entry Q uses the known test samples plus those of the first Q classes of
    ``unknown_order`` (``source`` holds each test sample's original label). Q = 0 averages
    F1 over the known classes only (there is no unknown class yet; rejecting a known
    sample still costs its recall); Q ≥ 1 over the known classes and the unknown one,
    as :func:`macro_f1`. Returns an array of length len(unknown_order) + 1."""
    from sklearn.metrics import f1_score

    y_true, y_pred, source = np.asarray(y_true), np.asarray(y_pred), np.asarray(source)
    if not (y_true.shape == y_pred.shape == source.shape):
        raise ValueError(f"y_true, y_pred and source differ in shape: {y_true.shape}, {y_pred.shape}, {source.shape}")
    missing = [c for c in unknown_order if not np.any((source == c) & (y_true == UNKNOWN))]
    if missing:
        raise ValueError(f"unknown classes {missing} have no unknown (−1) test samples in source")
    known = y_true != UNKNOWN
    scores = [float(f1_score(y_true[known], y_pred[known], labels=list(range(num_known)), average="macro",
                             zero_division=0))]
    for q in range(1, len(unknown_order) + 1):
        keep = known | np.isin(source, list(unknown_order[:q]))
        scores.append(macro_f1(y_true[keep], y_pred[keep], num_known))
    return np.asarray(scores)


def validation_f1_curve(y_val: np.ndarray, pred_val: np.ndarray, novelty_val: np.ndarray, *,
                        num_known: int, n_points: int = 201) -> tuple[np.ndarray, np.ndarray, float]:
    """Known-validation macro-F1 against a threshold τ on the novelty (paper 000, Fig. 1).

    A sample is accepted when its novelty is below τ; the F1 is averaged over the known
    classes, a rejected sample counting as an error. τ is normalised so that τ = 1 is the
    smallest threshold at which the curve ends: every validation sample accepted (the
    paper's normalisation, which its text words as "classified as unknown").
    Returns (normalised τ grid from 0 to 1, F1 on it, scale); raw τ = normalised τ × scale.
    """
    from sklearn.metrics import f1_score

    y_val, pred_val = np.asarray(y_val), np.asarray(pred_val)
    novelty = _scores(novelty_val, "novelty_val")
    scale = float(novelty.max() * (1 + 1e-9)) or 1.0
    tau = np.linspace(0.0, 1.0, n_points)
    labels = list(range(num_known))
    f1 = np.array([f1_score(y_val, np.where(novelty < t * scale, pred_val, UNKNOWN), labels=labels,
                            average="macro", zero_division=0) for t in tau])
    return tau, f1, scale


def saturation_threshold(tau: np.ndarray, f1: np.ndarray, eps1: float = 1.5, eps2: float = 0.4, *,
                         step: float = 0.05) -> float:
    """Where the known-validation F1 curve saturates (paper 000, §5.1): with the forward
    difference F1′(τ) = (F1(τ + h) − F1(τ)) / h, τ̃ = min{τ : F1′(τ) ≥ ε1} and the pick is
    min{τ > τ̃ : F1′(τ) ≤ ε2} (ε1 = 1.5, ε2 = 0.4 in the paper, on the normalised τ of
    :func:`validation_f1_curve`).

    The step h (``step``, in normalised τ) is not given in the paper. On a finite validation
    set the F1 curve is a staircase: between neighbouring points of a fine grid the
    difference is either 0 or one sample's jump, so the first accepted sample would count as
    "steep" and the next flat stretch as "saturated" (τ ≈ 0.04 on 2-D blobs with 100
    validation samples per class). A step of 0.05 spans many samples and follows the
    curve's shape. A curve that rises steeply but never flattens gives its last τ."""
    tau, f1 = np.asarray(tau, dtype=np.float64), np.asarray(f1, dtype=np.float64)
    if tau.shape != f1.shape or tau.ndim != 1 or len(tau) < 2 or np.any(np.diff(tau) <= 0):
        raise ValueError("tau and f1 must be 1-D of the same length (at least 2), tau strictly increasing")
    if not 0 < step < tau[-1] - tau[0]:
        raise ValueError(f"step must be positive and shorter than the τ range, got {step}")
    inside = tau <= tau[-1] - step + 1e-12
    slope = (np.interp(tau[inside] + step, tau, f1) - f1[inside]) / step
    steep = np.flatnonzero(slope >= eps1)
    if not steep.size:
        raise ValueError(f"the F1 curve never rises with slope >= eps1={eps1} (steepest {slope.max():.3g}); "
                         f"lower eps1 or check that the novelty separates correct from wrong samples")
    after = np.flatnonzero((np.arange(len(slope)) > steep[0]) & (slope <= eps2))
    return float(tau[inside][after[0]] if after.size else tau[-1])


def accepted_unknowns(y_true: np.ndarray, y_decided: np.ndarray, source: np.ndarray,
                      num_known: int) -> tuple[np.ndarray, np.ndarray]:
    """Which known class swallowed each unknown class (paper 001 Fig. 4): row u, column k
    is the fraction of the unknown test samples of source class u, *among those accepted
    as known*, that were given known class k (rows sum to 1, or 0 where none was
    accepted). ``y_decided`` holds the thresholded decisions (−1 = rejected). Returns the
    matrix and the unknown source classes of its rows, in increasing order."""
    y_true, y_decided, source = np.asarray(y_true), np.asarray(y_decided), np.asarray(source)
    if not (y_true.shape == y_decided.shape == source.shape):
        raise ValueError(f"y_true, y_decided and source differ in shape: {y_true.shape}, {y_decided.shape}, "
                         f"{source.shape}")
    unknown_classes = np.unique(source[y_true == UNKNOWN])
    if len(unknown_classes) == 0:
        raise ValueError("no unknown (−1) test samples: nothing can be swallowed")
    matrix = np.zeros((len(unknown_classes), num_known))
    for row, u in enumerate(unknown_classes):
        decided = y_decided[(y_true == UNKNOWN) & (source == u)]
        accepted = decided[decided >= 0]
        if len(accepted):
            matrix[row] = np.bincount(accepted, minlength=num_known)[:num_known] / len(accepted)
    return matrix, unknown_classes
