import numpy as np
import pytest
from sklearn.metrics import f1_score, roc_auc_score

from osrkit import metrics


def test_auroc_matches_scikit_learn_with_unknown_positive_including_ties():
    rng = np.random.default_rng(0)
    known = np.round(rng.normal(0, 1, 300), 1)    # rounding makes many ties
    unknown = np.round(rng.normal(1, 1, 200), 1)
    expected = roc_auc_score(np.r_[np.zeros(300), np.ones(200)], np.r_[known, unknown])
    assert metrics.auroc(known, unknown) == pytest.approx(expected, abs=1e-12)


def test_auroc_by_hand():
    assert metrics.auroc([0.1, 0.2], [0.3, 0.4]) == 1.0
    assert metrics.auroc([0.3, 0.4], [0.1, 0.2]) == 0.0
    # pairs: (0.2 vs 0.1) lose, (0.2 vs 0.2) tie, (0.2 vs 0.3) win -> (0 + 0.5 + 1) / 3
    assert metrics.auroc([0.2], [0.1, 0.2, 0.3]) == pytest.approx(0.5)


@pytest.mark.parametrize("known, unknown", [([], [1.0]), ([0.1, np.nan], [1.0]), ([0.1], [np.inf])])
def test_auroc_rejects_empty_or_non_finite_scores(known, unknown):
    with pytest.raises(ValueError):
        metrics.auroc(known, unknown)


def test_macro_f1_counts_the_unknown_class_by_hand():
    y_true = np.array([0, 0, 1, 1, -1, -1])
    y_pred = np.array([0, 1, 1, 1, -1, 0])
    # class 0: tp 1, fp 1, fn 1 -> 0.5 ; class 1: tp 2, fp 1, fn 0 -> 0.8 ; unknown: tp 1, fn 1 -> 2/3
    assert metrics.macro_f1(y_true, y_pred, 2) == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    expected = f1_score(y_true, y_pred, labels=[0, 1, -1], average="macro")
    assert metrics.macro_f1(y_true, y_pred, 2) == pytest.approx(expected)


def test_macro_f1_averages_over_every_known_class_even_when_absent():
    # a known class that never appears still counts (as 0), so the score is over C + 1 classes
    assert metrics.macro_f1([0, -1], [0, -1], 3) == pytest.approx(2 / 4)


def test_macro_f1_rejects_labels_out_of_range():
    with pytest.raises(ValueError, match="outside"):
        metrics.macro_f1([0, 5], [0, 1], 2)


def test_thresholded_accuracy_by_hand():
    y = np.array([0, 1, 1, -1, -1])
    pred = np.array([0, 1, 0, 1, 0])
    nov = np.array([0.1, 0.5, 0.1, 0.9, 0.2])
    # at 0.3: sample 0 right+accepted ✓, 1 rejected ✗, 2 wrong ✗, 3 rejected ✓, 4 accepted ✗
    assert metrics.thresholded_accuracy(y, pred, nov, 0.3) == pytest.approx(2 / 5)
    # threshold 1.0 accepts all: plain closed-set accuracy over the knowns, unknowns all wrong
    assert metrics.thresholded_accuracy(y, pred, nov, 1.0) == pytest.approx(2 / 5)
    assert metrics.thresholded_accuracy(y[:3], pred[:3], nov[:3], 1.0) == pytest.approx(2 / 3)


@pytest.mark.parametrize("bad", ["0.5", None, float("nan"), True, [0.5]])
def test_threshold_of_the_wrong_type_is_refused(bad):
    with pytest.raises(ValueError, match="threshold"):
        metrics.predict_with_rejection(np.array([0]), np.array([0.1]), bad)


def test_predict_with_rejection_marks_unknown_above_threshold():
    out = metrics.predict_with_rejection(np.array([2, 1, 0]), np.array([0.2, 0.5, 0.51]), 0.5)
    assert out.tolist() == [2, 1, -1]


def test_pick_threshold_keeps_the_requested_fraction():
    nov = np.arange(1, 21) / 20.0  # 0.05 .. 1.0
    t = metrics.pick_threshold(nov, keep=0.95)
    assert t == pytest.approx(0.95) and np.mean(nov <= t) == pytest.approx(0.95)
    assert metrics.pick_threshold(nov, keep=1.0) == 1.0
    assert np.mean(nov <= metrics.pick_threshold(nov, keep=0.33)) >= 0.33
    with pytest.raises(ValueError):
        metrics.pick_threshold(nov, keep=0.0)


def test_tnr_at_95_tpr_by_hand():
    known = np.arange(1, 21) / 20.0           # threshold keeping 95% of them: 0.95
    unknown = np.array([0.5, 0.96, 0.97, 2.0])
    assert metrics.tnr_at_tpr(known, unknown) == pytest.approx(0.75)


def test_oscr_equals_auroc_when_every_known_is_classified_correctly():
    rng = np.random.default_rng(1)
    y = np.r_[rng.integers(0, 3, 100), -np.ones(80, int)]
    nov = np.r_[rng.normal(0, 1, 100), rng.normal(1.5, 1, 80)]
    pred = np.where(y >= 0, y, 0)
    assert metrics.oscr(y, pred, nov) == pytest.approx(metrics.auroc(nov[y >= 0], nov[y < 0]))


def test_oscr_by_hand():
    y = np.array([0, 1, -1, -1])
    pred = np.array([0, 0, 1, 1])      # the second known is misclassified
    nov = np.array([0.1, 0.2, 0.3, 0.4])
    # accepting in order of novelty: CCR 0.5, 0.5, 0.5, 0.5 while FPR goes 0, 0, 0.5, 1 -> area 0.5
    assert metrics.oscr(y, pred, nov) == pytest.approx(0.5)
    pred_all_wrong = np.array([1, 0, 1, 1])
    assert metrics.oscr(y, pred_all_wrong, nov) == 0.0
    with pytest.raises(ValueError, match="both known and unknown"):
        metrics.oscr(y[:2], pred[:2], nov[:2])


def test_roc_curve_points_reaches_the_corners_and_integrates_to_auroc():
    rng = np.random.default_rng(2)
    known, unknown = rng.normal(0, 1, 50), rng.normal(1, 1, 40)
    fpr, tpr, _ = metrics.roc_curve_points(known, unknown)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert np.trapezoid(tpr, fpr) == pytest.approx(metrics.auroc(known, unknown))


def test_open_set_f_measure_by_hand():
    y_true = np.array([0, 1, 1, -1, -1])
    decided = np.array([0, -1, 0, 1, -1])
    # tp: sample 0; fp: sample 2 (wrong class), sample 3 (accepted unknown); fn: samples 1, 2
    precision, recall = 1 / 3, 1 / 3
    assert metrics.open_set_f_measure(y_true, decided) == pytest.approx(2 * precision * recall / (precision + recall))
    assert metrics.open_set_f_measure(y_true, np.array([0, 1, 1, -1, -1])) == 1.0
    assert metrics.open_set_f_measure(y_true, np.full(5, -1)) == 0.0


def test_saturation_threshold_on_a_synthetic_f1_curve():
    """F1 rises with slope 2 from τ = 0.2 to 0.7, then stays flat: τ̃ = 0.2, pick 0.7."""
    tau = np.round(np.linspace(0, 1, 101), 10)
    f1 = np.clip(2 * (tau - 0.2), 0, 1)
    assert metrics.saturation_threshold(tau, f1, step=0.01) == pytest.approx(0.7)
    # a gentle shoulder (slope 0.5 > ε2) after the rise is not yet saturation
    f1_shoulder = np.where(tau < 0.7, f1, 1 + 0.5 * (tau - 0.7)).clip(max=1.1)
    assert metrics.saturation_threshold(tau, f1_shoulder, step=0.01) == pytest.approx(0.9)
    # the default step h = 0.05 looks ahead: F1 gains 2·(0.7 − τ) over [τ, τ + h] near the kink,
    # ≤ ε2·h = 0.02 from τ = 0.69 on (0.70 when rounding tips the equality)
    assert metrics.saturation_threshold(tau, f1) == pytest.approx(0.695, abs=0.006)
    with pytest.raises(ValueError, match="never rises"):
        metrics.saturation_threshold(tau, 0.1 * tau)
    with pytest.raises(ValueError, match="step"):
        metrics.saturation_threshold(tau, f1, step=2.0)


def test_saturation_threshold_sees_through_the_staircase_of_a_finite_validation_set():
    """F1 of 60 samples per class is a staircase; on a fine grid a one-sample jump looks
    steep and the next flat stair saturated. The 0.05 step follows the real rise."""
    tau = np.linspace(0, 1, 401)
    smooth = np.clip(1.8 * (tau - 0.1), 0, 1)                # saturates at τ ≈ 0.656
    stairs = np.floor(smooth * 60) / 60
    assert metrics.saturation_threshold(tau, stairs, step=tau[1]) < 0.15     # the pitfall
    assert metrics.saturation_threshold(tau, stairs) == pytest.approx(0.656, abs=0.03)


def test_validation_f1_curve_ends_with_everything_accepted():
    y = np.array([0, 0, 1, 1])
    pred = np.array([0, 1, 1, 1])          # one error
    novelty = np.array([0.1, 0.9, 0.2, 0.4])
    tau, f1, scale = metrics.validation_f1_curve(y, pred, novelty, num_known=2, n_points=11)
    assert scale == pytest.approx(0.9) and f1[0] == 0.0
    from sklearn.metrics import f1_score
    assert f1[-1] == pytest.approx(f1_score(y, pred, average="macro"))
    # at τ = 0.5 (raw 0.45) the error (novelty 0.9) is rejected: class 0 F1 = 2/3, class 1 = 1
    assert f1[5] == pytest.approx((2 / 3 + 1) / 2)


def test_f1_versus_unknowns_adds_one_unknown_class_at_a_time():
    y_true = np.array([0, 0, 1, 1, -1, -1, -1, -1])
    source = np.array([0, 0, 1, 1, 7, 7, 9, 9])
    y_pred = np.array([0, -1, 1, 1, -1, 0, 1, 1])       # digit 7 half rejected, digit 9 never
    f1 = metrics.f1_versus_unknowns(y_true, y_pred, source, [7, 9], num_known=2)
    known = y_true >= 0
    assert f1[0] == pytest.approx(f1_score(y_true[known], y_pred[known], labels=[0, 1], average="macro",
                                           zero_division=0))
    keep7 = known | (source == 7)
    assert f1[1] == pytest.approx(f1_score(y_true[keep7], y_pred[keep7], labels=[0, 1, -1], average="macro"))
    assert f1[2] == pytest.approx(f1_score(y_true, y_pred, labels=[0, 1, -1], average="macro"))
    assert f1[2] < f1[1]                                  # the class that is never rejected hurts
    with pytest.raises(ValueError, match="no unknown"):
        metrics.f1_versus_unknowns(y_true, y_pred, source, [7, 8], num_known=2)
