"""GradMix pieces (paper 003): attribution maps, the GradMix / Mixup / CutMix augmentations,
the contrastive losses and the top-k similarity scorer."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from osrkit import attribution, augment, evaluation, nets
from osrkit.methods import gradmix
from osrkit.studies import attention


class MeanOfLayer(nn.Module):
    """x → A = conv1×1(x) (weight 1, so A = x) → output w · mean(A): ∂out/∂A = w/|A| everywhere."""

    def __init__(self, w: float):
        super().__init__()
        self.layer = nn.Conv2d(1, 1, 1, bias=False)
        nn.init.ones_(self.layer.weight)
        self.w = w

    def forward(self, x):
        return self.w * self.layer(x).mean(dim=(1, 2, 3))[:, None]


def test_grad_cam_on_a_hand_built_net_is_the_scaled_input_or_nothing():
    x = torch.zeros(1, 1, 4, 4)
    x[0, 0, 1, 2], x[0, 0, 3, 0] = 2.0, 1.0
    # α = w/16 > 0: M = ReLU(α·x), scaled to [0, 1] = x / 2
    net = MeanOfLayer(1.0)
    m = attribution.grad_cam(net, [net.layer], x, target=0)
    torch.testing.assert_close(m, x[:, 0] / 2.0)
    torch.testing.assert_close(attribution.layer_cam(net, [net.layer], x, target=0), x[:, 0] / 2.0)
    # α < 0: the ReLU removes everything
    neg = MeanOfLayer(-1.0)
    assert attribution.grad_cam(neg, [neg.layer], x, target=0).abs().max() == 0.0


def test_maps_are_per_sample_in_unit_range_at_the_input_size_and_hooks_are_removed_on_errors():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, stride=2, padding=1), nn.ReLU(),
                        nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
    x = torch.rand(5, 1, 12, 12)
    m = attribution.layer_cam(net, [net[1], net[3]], x)
    assert m.shape == (5, 12, 12)
    assert torch.allclose(m.flatten(1).max(1).values, torch.ones(5)) and m.min() >= 0
    loss_map = attribution.grad_cam(net, [net[3]], x, target=lambda out: out.logsumexp(1).mean())
    assert loss_map.shape == (5, 12, 12)

    def broken(_out):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        attribution.layer_cam(net, [net[1]], x, target=broken)
    assert not net[1]._forward_hooks
    with pytest.raises(ValueError, match="scalar"):
        attribution.layer_cam(net, [net[1]], x, target=lambda out: out.sum(1))
    with pytest.raises(ValueError, match="not used"):
        attribution.layer_cam(net, [nn.Conv2d(1, 1, 1)], x)


def test_layer_cam_agrees_with_pytorch_grad_cam():
    from pytorch_grad_cam import LayerCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    torch.manual_seed(1)
    net = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 8, 3, padding=1),
                        nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3)).eval()
    x = torch.rand(4, 1, 16, 16)
    ours = attribution.layer_cam(net, [net[4]], x, target=2).numpy()
    with LayerCAM(model=net, target_layers=[net[4]]) as cam:
        theirs = cam(input_tensor=x, targets=[ClassifierOutputTarget(2)] * 4)
    for a, b in zip(ours, theirs):
        assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.99


def test_gradmix_patch_sits_on_the_maps_argmax_and_never_leaves_the_image():
    x = torch.stack([torch.full((1, 10, 10), float(i + 1)) for i in range(3)])   # image i is the constant i + 1
    maps = torch.zeros(3, 10, 10)
    maps[0, 0, 0] = 1.0          # a corner: the patch is pushed inside
    maps[1, 5, 4] = 1.0          # the middle: the patch is centred there
    maps[2, 9, 9] = 1.0
    mixed, gamma = augment.gradmix(x, maps, (0.3, 0.3), generator=torch.Generator().manual_seed(0))
    assert gamma == pytest.approx(0.3)
    changed = (mixed != x).any(1)                                  # (B, H, W)
    assert changed[0, :3, :3].all() and changed[0].sum() == 9      # 3×3 patch in the corner
    assert changed[1, 4:7, 3:6].all() and changed[1].sum() == 9    # centred on (5, 4)
    assert changed[2, 7:, 7:].all() and changed[2].sum() == 9
    for i in range(3):                                             # filled with another image of the batch
        values = mixed[i][:, changed[i]]
        fill = round(values.mean().item())
        assert torch.allclose(values, torch.full_like(values, fill), atol=1e-5) and fill != i + 1 and fill in (1, 2, 3)
    with pytest.raises(ValueError, match="maps"):
        augment.gradmix(x, maps[:, :5], (0.1, 0.5))


def test_mixup_and_cutmix_mix_other_images_of_the_batch():
    torch.manual_seed(0)
    x = torch.stack([torch.full((1, 8, 8), float(i)) for i in range(4)])
    mixed, share = augment.mixup(x, alpha=1.0)
    assert 0 < share < 1 and mixed.shape == x.shape
    assert not torch.equal(mixed, x)
    cut, area = augment.cutmix(x, alpha=1.0)
    pasted = (cut != x).any(1).float().mean((1, 2))
    assert torch.allclose(pasted, torch.full((4,), area))


def test_simclr_loss_matches_a_hand_computation():
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    # each view: partner similarity 1, the other two 0 → −log(e / (e + 2))
    expected = math.log((math.e + 2) / math.e)
    assert gradmix.simclr_loss(z, z.clone(), temperature=1.0).item() == pytest.approx(expected)
    # temperature sharpens: at τ = 0.5 the partner term is e² against two e⁰
    assert gradmix.simclr_loss(z, z.clone(), temperature=0.5).item() == pytest.approx(math.log((math.e ** 2 + 2) / math.e ** 2))


def test_supcon_loss_by_hand_and_equal_to_simclr_with_one_label_per_image():
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    # one class: view 0's positives are views 1, 2, 3 with similarities 0, 1, 0, denominator e + 2
    expected = math.log(math.e + 2) - 1 / 3
    assert gradmix.supcon_loss(z, z.clone(), torch.tensor([0, 0]), temperature=1.0).item() == pytest.approx(expected)
    torch.manual_seed(0)
    z1, z2 = torch.randn(6, 4), torch.randn(6, 4)
    assert gradmix.supcon_loss(z1, z2, torch.arange(6)).item() == pytest.approx(gradmix.simclr_loss(z1, z2).item(), rel=1e-5)
    total = gradmix.gradmix_objective(torch.tensor(1.0), torch.tensor(2.0), torch.tensor(4.0), 0.5, theta=2.0, lam=3.0)
    assert total.item() == pytest.approx(2 * 1 + 3 * (2 + 0.25 * 4))


class FlatEmbedding(nn.Module):
    """A model whose embedding is its (flattened) input: the embedding space is ours to place."""

    def forward(self, x):
        return x.flatten(1)

    def embed(self, x):
        return x.flatten(1)


def test_top_k_similarity_scorer_on_synthetic_clusters():
    rng = np.random.default_rng(0)
    a = np.array([1.0, 0.0, 0.0]) + rng.normal(0, 0.05, (30, 3))
    b = np.array([0.0, 1.0, 0.0]) + rng.normal(0, 0.05, (30, 3))
    X, y = np.concatenate([a, b]), np.repeat([0, 1], 30)
    sc = gradmix.TopKSimilarityScorer(k=5).fit_features(X, y)
    assert sc.is_fitted and sc.name == "top-k"
    test = np.array([[2.0, 0.1, 0.0], [0.0, 3.0, 0.1], [0.0, 0.0, 1.0]])
    pred, novelty = sc.score_features(test)
    assert pred[:2].tolist() == [0, 1]
    assert novelty[2] > novelty[0] + 3 and novelty[2] > novelty[1] + 3      # off both clusters: unknown

    def top_k_by_hand(A):
        """G_c: per class, the sum of the 5 largest cosine similarities to its training points."""
        A = np.atleast_2d(A) / np.linalg.norm(np.atleast_2d(A), axis=1, keepdims=True)
        return np.stack([np.sort((B / np.linalg.norm(B, axis=1, keepdims=True)) @ A.T, axis=0)[-5:].sum(0)
                         for B in (a, b)], axis=1)

    G = sc.class_scores_of_embeddings(torch.as_tensor(test)).numpy()
    # G_0 of the first point is the sum of its 5 largest cosine similarities to class 0
    u = test[0] / np.linalg.norm(test[0])
    cos = (a / np.linalg.norm(a, axis=1, keepdims=True)) @ u
    assert G[0, 0] == pytest.approx(np.sort(cos)[-5:].sum())
    np.testing.assert_allclose(G, top_k_by_hand(test), rtol=1e-12)
    np.testing.assert_allclose(novelty, -G.max(1))
    assert sc.to_native(novelty)[0] == pytest.approx(G[0].max())
    # the target that LayerCAM explains has the gradient of the top-k score max_c G_c
    # (checked against central differences of the hand computation)
    z = torch.tensor(test[:1], requires_grad=True)
    attention.top_k_target(sc)(z).backward()
    h = 1e-6
    for j in range(3):
        step = np.eye(3)[j] * h
        slope = (top_k_by_hand(test[:1] + step).max() - top_k_by_hand(test[:1] - step).max()) / (2 * h)
        assert z.grad[0, j].item() == pytest.approx(slope, abs=1e-6)
    assert z.grad.abs().max() > 1e-3
    # fitted on a model, the rule embeds the inputs itself (here the embedding is the input)
    on_model = gradmix.TopKSimilarityScorer(k=5).fit(FlatEmbedding(), X.astype(np.float32), y)
    pred_m, novelty_m = on_model.score(test.astype(np.float32))
    assert pred_m.tolist() == pred.tolist()
    np.testing.assert_allclose(novelty_m, novelty, atol=1e-5)
    with pytest.raises(ValueError, match="fewer than k"):
        gradmix.TopKSimilarityScorer(k=50).fit_features(X, y)
    from osrkit import scoring
    with pytest.raises(scoring.NotFittedError):
        gradmix.TopKSimilarityScorer(k=5).score_features(test)


@pytest.mark.parametrize("mixing", [None, "gradmix", "mixup", "cutmix"])
def test_contrastive_training_with_each_mixing_lowers_the_loss(mixing):
    from osrkit import train

    torch.manual_seed(0)
    X = torch.rand(48, 1, 12, 12) * 0.1
    y = torch.arange(48) % 3
    for i, c in enumerate(y):
        X[i, 0, 4 * c:4 * c + 4] = 1.0           # each class a bright band
    model = gradmix.ContrastiveEncoder(1, image_size=12, channels=(4, 8), hidden=16, feature_dim=8)
    loss = gradmix.ContrastiveLoss(augment.random_resized_crop, mixing=mixing, temperature=0.5)
    torch.manual_seed(1)
    before = loss(model.train(), X, y).item()
    train.fit(model, loss, X, y, epochs=15, batch_size=16, lr=3e-3, progress=False)
    torch.manual_seed(1)
    after = loss(model.train(), X, y).item()
    assert after < before
    with pytest.raises(ValueError, match="mixing"):
        gradmix.ContrastiveLoss(augment.random_resized_crop, mixing="noise")


def test_resnet18_encoder_takes_32x32_images_to_projections():
    enc = nets.ResNet18Encoder(3, feature_dim=16).eval()
    assert enc(torch.zeros(2, 3, 32, 32)).shape == (2, 16)
    maps = attribution.layer_cam(enc, enc.attribution_layers(), torch.rand(2, 3, 32, 32),
                                 target=lambda z: z.pow(2).sum())
    assert maps.shape == (2, 32, 32)


def test_activated_area_counts_pixels_above_each_threshold():
    maps = np.zeros((2, 2, 2))
    maps[0] = [[1.0, 0.5], [0.0, 0.0]]
    maps[1] = [[1.0, 1.0], [1.0, 0.2]]
    area = attention.activated_area(maps, [0.0, 0.5, 1.0])
    np.testing.assert_allclose(area, [1.0, 5 / 8, 4 / 8])
    with pytest.raises(ValueError, match="maps"):
        attention.activated_area(np.zeros((2, 2)), [0.5])


def test_contrastive_protocol_trains_scores_and_maps_a_standard_split():
    from osrkit import data

    X, y = np.random.default_rng(0).random((160, 1, 12, 12)).astype(np.float32) * 0.1, np.arange(160) % 4
    for i, c in enumerate(y):
        X[i, 0, 3 * c:3 * c + 3] = 1.0
    task = data.open_set_split(X, y, [0, 1, 2], seed=0)
    model = gradmix.train_contrastive(task, "gradmix", epochs=2, seed=0, progress=False, batch_size=32)
    assert not model.training                                   # returned ready to score
    s = evaluation.evaluate(gradmix.top_k_scorer(model, task, k=5), task)
    assert s.pred.shape == task.y_test.shape and 0 <= s.auroc <= 1
    maps = attention.attention_maps(model, gradmix.top_k_scorer(model, task, k=5), task.X_test[:7], batch_size=4)
    assert maps.shape == (7, 12, 12) and maps.min() >= 0
    assert set(np.round(maps.max(axis=(1, 2)), 5)) <= {0.0, 1.0}     # scaled per image (all-zero if nothing fires)
    with pytest.raises(ValueError, match="unknown encoder"):
        gradmix.contrastive_encoder("vit")
    # the activated area over paired runs: run 0 is the model given, run 1 a new training
    taus = np.array([0.0, 0.5, 1.0])
    areas = attention.activated_area_runs(task, taus, trained={"gradmix": model}, runs=2, k=5, epochs=1, batch_size=32,
                                          progress=False)
    assert set(areas) == {"plain", "gradmix"} and areas["plain"].shape == (2, 3)
    own = attention.activated_area(attention.attention_maps(model, gradmix.top_k_scorer(model, task, k=5), task.X_test), taus)
    np.testing.assert_allclose(areas["gradmix"][0], own)
    assert not np.allclose(areas["gradmix"][1], own)
    assert np.all(np.diff(areas["plain"], axis=1) <= 0) and areas["plain"][:, 0].tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="runs"):
        attention.activated_area_runs(task, taus, runs=0)


def test_crops_from_their_own_generator_repeat_and_leave_the_global_stream_alone():
    """train_contrastive gives the crops their own generator so that the four trainings of
    lesson 05 see the same crops whatever random numbers their mixing draws."""
    x = torch.rand(6, 1, 12, 12)
    torch.manual_seed(1)
    expected = torch.rand(3)
    torch.manual_seed(1)
    a = augment.random_resized_crop(x, generator=torch.Generator().manual_seed(5))
    assert torch.equal(torch.rand(3), expected)
    b = augment.random_resized_crop(x, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and not torch.allclose(a, x)


def test_corruptions_stay_in_range_and_grow_with_severity():
    torch.manual_seed(0)
    x = torch.rand(4, 1, 16, 16)
    for kind in augment.CORRUPTIONS:
        mild, strong = augment.corrupt(x, kind, 1), augment.corrupt(x, kind, 5)
        assert mild.shape == x.shape and 0 <= strong.min() and strong.max() <= 1
        assert (strong - x).abs().mean() > (mild - x).abs().mean()
    with pytest.raises(ValueError, match="unknown corruption"):
        augment.corrupt(x, "fog")


def test_gradmix_step_report_puts_the_patch_on_the_peak_of_each_map():
    torch.manual_seed(0)
    model = gradmix.ContrastiveEncoder(1, image_size=12, channels=(4, 8), hidden=16, feature_dim=8)
    X = np.random.default_rng(0).random((4, 1, 12, 12)).astype(np.float32)
    step = gradmix.gradmix_step(model, X, 0.25, layer=1)
    assert step.maps.shape == (4, 12, 12) and step.gamma == pytest.approx(0.25)
    for i in range(4):
        r, c = step.peaks[i]
        assert step.maps[i, r, c] == step.maps[i].max()
        changed = np.argwhere((step.mixed[i] != step.views[i]).any(0))
        if len(changed):                                   # the 3×3 patch contains the peak (or was pushed inside)
            assert changed[:, 0].max() - changed[:, 0].min() <= 2 and changed[:, 1].max() - changed[:, 1].min() <= 2
    # the widget redraws the same crops for the same seed and leaves torch's global stream alone
    torch.manual_seed(1)
    expected = torch.rand(3)
    torch.manual_seed(1)
    again = gradmix.gradmix_step(model, X, 0.25, layer=1)
    assert torch.equal(torch.rand(3), expected) and np.array_equal(again.views, step.views)
    fig = gradmix.draw_gradmix_step(step, max_images=3)
    assert len(fig.axes) == 9
    with pytest.raises(ValueError, match="layer"):
        gradmix.gradmix_step(model, X, 0.25, layer=5)
    # the explorer starts on "all layers" with that option selected (a None value would show a blank dropdown)
    explorer = gradmix.gradmix_explorer(model, X)
    gamma, layer = explorer.controls
    assert layer.index == 0 and explorer.state()["readouts"] == ["0.30", "all layers"]
    np.testing.assert_allclose(explorer.report().maps, gradmix.gradmix_step(model, X, 0.3, layer=None).maps)
    layer.value = 1
    assert "peaks (row, col)" in explorer.state()["numbers"] and not explorer.errors.outputs
    np.testing.assert_allclose(explorer.report().maps, gradmix.gradmix_step(model, X, 0.3, layer=1).maps)


def test_corruption_accuracy_reports_clean_and_each_corruption():
    from osrkit import data

    X, y = np.random.default_rng(0).random((120, 1, 12, 12)).astype(np.float32) * 0.1, np.arange(120) % 4
    for i, c in enumerate(y):
        X[i, 0, 3 * c:3 * c + 3] = 1.0
    task = data.open_set_split(X, y, [0, 1, 2], seed=0)
    model = gradmix.train_contrastive(task, None, epochs=3, seed=0, progress=False, batch_size=32)
    acc = attention.corruption_accuracy(gradmix.top_k_scorer(model, task, k=5), task, severity=5)
    assert set(acc) == {"clean", "gaussian_noise", "blur", "contrast"} and all(0 <= v <= 1 for v in acc.values())
