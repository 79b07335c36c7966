"""Class Anchor Clustering (paper 001): anchors, loss, rejection scores, and the logit-space
baselines (OpenMax, post-hoc class-mean distance) it is compared with."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from osrkit import evt, metrics, nets, scoring, train
from osrkit.methods import cac


class Identity(nn.Module):
    """A 'network' whose logits are its inputs, so that the logit space is ours to place."""

    def __init__(self):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return x.flatten(1)


def test_class_anchors_are_scaled_one_hot_vectors():
    C = cac.class_anchors(3, magnitude=10.0)
    assert torch.equal(C, torch.tensor([[10.0, 0, 0], [0, 10.0, 0], [0, 0, 10.0]]))
    with pytest.raises(ValueError, match="num_classes"):
        cac.class_anchors(1)


def test_cac_loss_matches_a_hand_computation_on_two_samples_and_three_classes():
    anchors = cac.class_anchors(3, 10.0)
    logits = torch.tensor([[10.0, 0.0, 0.0], [3.0, 4.0, 0.0]])
    targets = torch.tensor([0, 1])
    # sample 1 sits on its anchor: d = (0, √200, √200)
    t1, a1 = math.log(1 + 2 * math.exp(-math.sqrt(200))), 0.0
    # sample 2, true class 1: d = (√65, √45, √125)
    d0, d1, d2 = math.sqrt(65), math.sqrt(45), math.sqrt(125)
    t2, a2 = math.log(1 + math.exp(d1 - d0) + math.exp(d1 - d2)), d1
    expected = (t1 + t2) / 2 + 0.1 * (a1 + a2) / 2
    assert cac.cac_loss(logits, targets, anchors, lam=0.1).item() == pytest.approx(expected, rel=1e-6)
    assert t2 == pytest.approx(0.23870, abs=1e-4)     # the number written out by hand: log(1.2696)
    tuplet, anchor = cac.cac_terms(logits, targets, anchors)
    assert tuplet.item() == pytest.approx((t1 + t2) / 2, rel=1e-6)
    assert anchor.item() == pytest.approx(d1 / 2, rel=1e-6)


def test_cac_gradient_pulls_towards_the_true_anchor_and_away_from_the_others():
    anchors = cac.class_anchors(3, 10.0)
    logits = torch.tensor([[3.0, 4.0, 1.0]], requires_grad=True)
    target = torch.tensor([1])
    cac.cac_loss(logits, target, anchors).backward()
    before = cac.anchor_distances(logits.detach(), anchors)[0]
    after = cac.anchor_distances(logits.detach() - 0.1 * logits.grad, anchors)[0]
    assert after[1] < before[1]
    assert after[0] > before[0] and after[2] > before[2]


def test_cac_loss_module_gives_the_ablation_terms():
    model = Identity()
    x = torch.tensor([[3.0, 4.0, 0.0], [9.0, 1.0, 0.0]])
    y = torch.tensor([1, 0])
    tuplet, anchor = cac.cac_terms(x, y, cac.class_anchors(3))
    assert cac.CACLoss(3, terms="anchor")(model, x, y).item() == pytest.approx(anchor.item())
    assert cac.CACLoss(3, terms="tuplet")(model, x, y).item() == pytest.approx(tuplet.item())
    assert cac.CACLoss(3, lam=0.5)(model, x, y).item() == pytest.approx(tuplet.item() + 0.5 * anchor.item())
    with pytest.raises(ValueError, match="terms"):
        cac.CACLoss(3, terms="center")


def test_rejection_scores_on_the_papers_example():
    near, far = np.array([[1.0, 4.0, 5.0]]), np.array([[101.0, 104.0, 105.0]])
    softmin = np.exp(-near) / np.exp(-near).sum()
    np.testing.assert_allclose(softmin.round(2), [[0.94, 0.04, 0.02]], atol=0.01)   # the paper's numbers
    s_near, s_far = cac.cac_rejection_scores(near), cac.cac_rejection_scores(far)
    np.testing.assert_allclose(s_near, (1 - softmin) * near)
    np.testing.assert_allclose(s_far, (1 - softmin) * far)      # same softmin, scaled by the distances
    assert s_near.argmin() == s_far.argmin() == 0
    assert s_far.min() == pytest.approx(101 * s_near.min())


def test_anchor_update_uses_only_correctly_classified_training_samples():
    X = np.array([[9.0, 1.0], [11.0, -1.0], [0.0, 10.0], [2.0, 12.0],
                  [30.0, 0.0]], dtype=np.float32)   # last one: labelled 1, classified as 0
    y = np.array([0, 0, 1, 1, 1])
    sc = cac.CACScorer().fit(Identity(), X, y)
    np.testing.assert_allclose(sc.centres, [[10.0, 0.0], [1.0, 11.0]])
    # a sample on a centre scores 0; one far from both, about as far from each, scores high
    pred, novelty = sc.score(np.array([[10.0, 0.0], [1.0, 11.0], [-20.0, -20.0]], dtype=np.float32))
    assert pred[:2].tolist() == [0, 1]
    assert novelty[0] == pytest.approx(0.0, abs=1e-6) and novelty[2] > 5


def test_distance_rule_is_the_plain_distance_to_the_nearest_class_mean():
    X = np.array([[9.0, 1.0], [11.0, -1.0], [0.0, 10.0], [2.0, 12.0]], dtype=np.float32)
    y = np.array([0, 0, 1, 1])
    sc = scoring.LogitDistanceScorer().fit(Identity(), X, y)
    assert sc.name == "CE distance" and sc.is_fitted
    pred, novelty = sc.score(np.array([[13.0, 4.0]], dtype=np.float32))
    assert pred.tolist() == [0] and novelty[0] == pytest.approx(5.0)
    with pytest.raises(scoring.NotFittedError, match="not fitted"):
        scoring.LogitDistanceScorer().score(X)
    assert issubclass(scoring.NotFittedError, RuntimeError)
    # CAC's rule is the other rule on the same class means: s = (1 − softmin(d)) ∘ d
    rule = cac.CACScorer().fit(Identity(), X, y)
    assert rule.name == "CAC" and isinstance(rule, scoring.LogitDistanceScorer)
    np.testing.assert_allclose(rule.centres, sc.centres)
    Q = np.array([[13.0, 4.0], [1.0, 11.0]], dtype=np.float32)
    d = sc.distances(Q)
    np.testing.assert_allclose(d[0], [5.0, np.hypot(12.0, 7.0)], rtol=1e-6)
    s = cac.cac_rejection_scores(d)
    pred_c, novelty_c = rule.score(Q)
    assert pred_c.tolist() == s.argmin(1).tolist() == [0, 1]
    np.testing.assert_allclose(novelty_c, s.min(1), rtol=1e-9)
    assert novelty_c[0] < novelty[0]       # 1 − softmin < 1 rescales the plain distance down


def test_a_class_without_a_correct_sample_falls_back_to_all_its_samples_and_warns():
    F = np.array([[0.0, 1.0], [0.0, 3.0], [0.0, 2.0], [0.0, 4.0]])       # argmax is 1 everywhere
    with pytest.warns(evt.OpenSetWarning, match="too few correctly classified .*: class 0 has 0 of 2;"):
        means, members = evt.class_means(F, np.array([0, 0, 1, 1]), predicted=F.argmax(1))
    np.testing.assert_allclose(means, [[0.0, 2.0], [0.0, 3.0]])         # class 0: mean of both its samples
    assert [len(m) for m in members] == [2, 2]


def test_cac_centres_of_an_untrained_network_that_predicts_one_class():
    """A one-epoch run can classify no sample of a class correctly (seen in full mode on
    MNIST-format data): the CAC centre of that class is the mean of all its logits."""
    X = np.array([[0.0, 5.0], [1.0, 7.0], [0.0, 9.0], [2.0, 9.0]], dtype=np.float32)
    y = np.array([0, 0, 1, 1])
    with pytest.warns(evt.OpenSetWarning, match="class 0 has 0 of 2;"):
        sc = cac.CACScorer().fit(Identity(), X, y)
    np.testing.assert_allclose(sc.centres, [[0.5, 6.0], [1.0, 9.0]])
    pred, novelty = sc.score(X)
    assert np.all(np.isfinite(novelty))


def test_evt_tail_shrinks_to_the_samples_a_class_has():
    rng = np.random.default_rng(0)
    F = np.concatenate([rng.normal(0, 1, (30, 2)), rng.normal(10, 1, (8, 2))])
    y = np.repeat([0, 1], [30, 8])
    with pytest.warns(evt.OpenSetWarning, match="class 1 keeps 8 training samples for a Weibull tail of 20"):
        fitted = evt.ClassMeanEVT(tail_size=20).fit(F, y)
    d1 = np.sort(np.linalg.norm(F[y == 1] - fitted.means[1], axis=1))
    assert fitted.weibulls[1] == evt.fit_weibull(d1)                   # all 8 distances make the tail
    assert fitted.weibulls[0] == evt.fit_weibull_tail(np.linalg.norm(F[y == 0] - fitted.means[0], axis=1), 20)
    with pytest.raises(ValueError, match="class 1 has 2 training samples; a Weibull tail needs at least 3"):
        evt.ClassMeanEVT(tail_size=20).fit(F[:32], y[:32])


def test_openmax_rejects_points_far_from_synthetic_clusters():
    rng = np.random.default_rng(0)
    anchors = 10.0 * np.eye(3)
    X = np.concatenate([a + rng.normal(0, 1.0, (200, 3)) for a in anchors]).astype(np.float32)
    y = np.repeat(np.arange(3), 200)
    sc = scoring.OpenMaxScorer(tail_size=20, alpha=3).fit(Identity(), X, y)
    probs = sc.probabilities(X[:5])
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-9)
    near = anchors + rng.normal(0, 0.5, (3, 3))
    far = np.array([[40.0, 0.0, 0.0], [0.0, -30.0, 30.0], [25.0, 25.0, 25.0]])
    pred, novelty = sc.score(np.concatenate([near, far]).astype(np.float32))
    assert pred[:3].tolist() == [0, 1, 2]
    assert novelty[:3].max() < 0.2 < 0.8 < novelty[3:].min()


def test_classifier32_maps_32x32_images_to_logits_and_trains_with_cac():
    torch.manual_seed(0)
    net = nets.Classifier32(4, in_channels=1, width=0.25)
    assert net(torch.zeros(2, 1, 32, 32)).shape == (2, 4)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 9 and all(c.bias is None for c in convs)
    assert [c.stride[0] for c in convs] == [1, 1, 2, 1, 1, 2, 1, 1, 2]
    # two classes of constant images: CAC training moves the logits towards the anchors
    X = torch.cat([torch.zeros(32, 1, 32, 32), torch.ones(32, 1, 32, 32)])
    y = torch.cat([torch.zeros(32), torch.ones(32)]).long()
    loss = cac.CACLoss(4)
    start = loss(net.eval(), X, y).item()
    train.fit(net, loss, X, y, epochs=15, batch_size=16, lr=0.01, optimizer="sgd", progress=False)
    assert loss(net.eval(), X, y).item() < 0.5 * start


def test_accepted_unknowns_counts_which_known_class_took_each_unknown_class():
    y_true = np.array([0, 1, -1, -1, -1, -1, -1])
    source = np.array([3, 4, 7, 7, 7, 8, 8])
    decided = np.array([0, 1, 0, 0, 1, -1, -1])      # two 7s went to class 0, one to class 1; both 8s rejected
    matrix, rows = metrics.accepted_unknowns(y_true, decided, source, num_known=2)
    assert rows.tolist() == [7, 8]
    np.testing.assert_allclose(matrix, [[2 / 3, 1 / 3], [0.0, 0.0]])
    with pytest.raises(ValueError, match="no unknown"):
        metrics.accepted_unknowns(y_true[:2], decided[:2], source[:2], num_known=2)


def test_random_resized_crop_keeps_shape_and_is_the_identity_at_full_scale():
    from osrkit import augment

    torch.manual_seed(0)
    x = torch.rand(5, 1, 12, 12)
    same = augment.random_resized_crop(x, scale=(1.0, 1.0), ratio=(1.0, 1.0))
    torch.testing.assert_close(same, x, atol=1e-5, rtol=0)
    cropped = augment.random_resized_crop(x, scale=(0.5, 0.5), ratio=(1.0, 1.0))
    assert cropped.shape == x.shape and not torch.allclose(cropped, x)
    # a crop of half the area zooms in: a centred dot grows
    dot = torch.zeros(1, 1, 9, 9)
    dot[..., 3:6, 3:6] = 1.0
    assert (augment.random_resized_crop(dot, scale=(0.49, 0.49), ratio=(1.0, 1.0)) > 0.5).sum() > 9
    with pytest.raises(ValueError, match="scale"):
        augment.random_resized_crop(x, scale=(0.0, 1.0))


def test_resize_images_gives_32x32_digits_in_range():
    from osrkit import data

    X = np.random.default_rng(0).random((3, 1, 28, 28)).astype(np.float32)
    out = data.resize_images(X, 32)
    assert out.shape == (3, 1, 32, 32) and out.dtype == np.float32
    assert 0.0 <= out.min() and out.max() <= 1.0
    assert abs(out.mean() - X.mean()) < 0.01
    assert data.resize_images(out, 32) is out
