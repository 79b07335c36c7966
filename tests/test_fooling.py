import numpy as np
import pytest
import torch
from torch import nn

from osrkit import nets
from osrkit.methods import cool, dae
from osrkit.studies import fooling


class ConstantModel(nn.Module):
    """Logits that ignore the input (but stay connected to it, so gradients exist)."""

    def __init__(self, logits):
        super().__init__()
        self.logits = nn.Parameter(torch.tensor(logits))
        self.num_classes = len(logits)

    def forward(self, x):
        return self.logits.expand(len(x), -1) + 0.0 * x.flatten(1).sum(1, keepdim=True)


class BrightnessModel(nn.Module):
    """Class 1 wins as the image gets brighter: foolable, but not at once."""

    num_classes = 2

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(20.0))

    def forward(self, x):
        m = x.flatten(1).mean(1)
        return torch.stack([torch.zeros_like(m), self.w * (m - 0.6)], 1)


def test_a_model_that_any_input_fools_is_fooled_at_step_zero():
    res = fooling.fooling_attack(fooling.SoftmaxTarget(ConstantModel([10.0, 0.0])), [0, 0, 0],
                                 threshold=0.9, max_steps=5, progress=False, image_shape=(1, 4, 4))
    assert res.success.all() and (res.steps == 0).all() and res.rate == 1.0 and res.mean_steps == 0.0
    assert res.images.shape == (3, 1, 4, 4) and (res.images > 0).all() and (res.images < 1).all()


def test_a_model_that_no_input_can_fool_is_never_fooled():
    res = fooling.fooling_attack(fooling.SoftmaxTarget(ConstantModel([0.0, 0.0, 0.0])), [0, 1, 2],
                                 threshold=0.9, max_steps=20, progress=False, image_shape=(1, 4, 4))
    assert not res.success.any() and (res.steps == -1).all() and np.isnan(res.mean_steps)
    assert res.confidence == pytest.approx([1 / 3] * 3)


def test_the_generator_learns_to_fool_a_brightness_model():
    res = fooling.fooling_attack(fooling.SoftmaxTarget(BrightnessModel()), [1, 1], threshold=0.9,
                                 max_steps=300, lr=1e-2, progress=False, image_shape=(1, 4, 4))
    assert res.success.all() and (res.steps > 0).all()
    assert (res.confidence >= 0.9).all() and (res.images.reshape(2, -1).mean(1) > 0.6).all()


def test_batched_attack_equals_trials_run_one_by_one():
    torch.manual_seed(0)
    model = nets.MLPClassifier(16, 3, hidden=(8,))
    with torch.no_grad():
        model.head.weight.mul_(10.0)  # large logits: some targets are reachable within the budget
    model.num_classes = 3
    target = fooling.SoftmaxTarget(model)
    kwargs = dict(threshold=0.8, max_steps=60, lr=5e-2, progress=False, image_shape=(1, 4, 4))
    batch = fooling.fooling_attack(target, [0, 1, 2, 1], seed=7, **kwargs)
    for t, cls in enumerate([0, 1, 2, 1]):
        single = fooling.fooling_attack(target, [cls], seed=7 + t, **kwargs)
        assert single.steps[0] == batch.steps[t] and single.success[0] == batch.success[t]
        assert np.allclose(single.images[0], batch.images[t], atol=1e-5)
    assert 0 < batch.success.sum()


def test_attack_rejects_bad_arguments():
    target = fooling.SoftmaxTarget(ConstantModel([0.0, 0.0]))
    for kwargs in ({"threshold": 1.5}, {"max_steps": -1}):
        with pytest.raises(ValueError):
            fooling.fooling_attack(target, [0], progress=False, **kwargs)
    with pytest.raises(ValueError, match="0..1"):
        fooling.fooling_attack(target, [2], progress=False)
    with pytest.raises(ValueError, match="non-empty"):
        fooling.fooling_attack(target, [], progress=False)


def test_cool_confidence_is_the_product_of_scaled_units():
    # C = 2 classes, ω = 2 units each; all logits equal -> p = 1/4 per unit -> (2·1/4)² = 1/4
    assert cool.cool_confidence(torch.zeros(1, 4), 2, 2) == pytest.approx(torch.tensor([[0.25, 0.25]]))
    # class 0's units dominate equally: p -> 1/2 each -> (2·1/2)² = 1; class 1 -> 0
    conf = cool.cool_confidence(torch.tensor([[20.0, 20.0, 0.0, 0.0]]), 2, 2)
    assert conf[0, 0] == pytest.approx(1.0, abs=1e-6) and conf[0, 1] < 1e-6
    # units of one class that disagree give a low confidence even with all the mass
    conf = cool.cool_confidence(torch.tensor([[20.0, 0.0, -20.0, -20.0]]), 2, 2)
    assert conf[0, 0] < 1e-6


def test_cool_loss_by_hand():
    model = cool.COOLClassifier(num_classes=2, omega=2)
    x, y = torch.rand(3, 1, 28, 28), torch.tensor([0, 1, 1])
    log_p = torch.log_softmax(model(x), 1).view(3, 2, 2)
    expected = -(log_p[0, 0].mean() + log_p[1, 1].mean() + log_p[2, 1].mean()) / 3
    assert torch.allclose(cool.cool_loss(model, x, y), expected)


def test_paper_cnns_have_the_papers_parameter_counts_and_the_tied_decoder_shares_weights():
    count = lambda m: sum(p.numel() for p in m.parameters())
    assert round(count(nets.PaperCNN()) / 1e6, 2) == 1.31
    assert round(count(cool.COOLClassifier(omega=10)) / 1e6, 2) == 1.35
    tied, untied = dae.ConvDAEClassifier(tied=True), dae.ConvDAEClassifier(tied=False)
    assert round(count(tied) / 1e6, 2) == 1.31 and round(count(untied) / 1e6, 2) == 2.62
    x = torch.rand(2, 1, 28, 28)
    before = tied.reconstruct(x)
    assert before.shape == x.shape and (before > 0).all() and (before < 1).all()
    with torch.no_grad():
        tied.conv1.weight.mul_(3.0)
    assert not torch.allclose(before, tied.reconstruct(x))
    # the asymmetric decoder owns weights of the same sizes as the encoder's
    assert untied.conv1_dec.weight.shape == untied.conv1.weight.shape
    assert untied.conv1_dec.weight.data_ptr() != untied.conv1.weight.data_ptr()
    with pytest.raises(ValueError, match="divisible by 4"):
        nets.PaperCNN(image_size=30)


def test_dae_target_uses_the_scaled_confidence():
    torch.manual_seed(0)
    net = dae.ConvDAEClassifier(tied=True)
    x = torch.rand(3, 1, 28, 28)
    targets = torch.tensor([0, 1, 2])
    loose = dae.DAETarget(net, alpha=0.0, beta=0.0).evaluate(x, targets)[1]
    with torch.no_grad():
        y = torch.softmax(net(x), 1)[torch.arange(3), targets]
        err = (net.reconstruct(x) - x).pow(2).flatten(1).mean(1)
    assert torch.allclose(loose, y, atol=1e-6)  # α = β = 0: c̃ = 1
    loss, strict = dae.DAETarget(net, alpha=50.0, beta=0.0).evaluate(x, targets)
    assert torch.allclose(strict, y * torch.exp(-50.0 * err), atol=1e-6)
    assert torch.allclose(loss, -torch.log(y), atol=1e-5) and loss.requires_grad  # the paper attacks y
    loss_c, _ = dae.DAETarget(net, alpha=50.0, beta=0.0, attack_confidence=True).evaluate(x, targets)
    assert torch.allclose(loss_c, -torch.log(y) + 50.0 * err, atol=1e-4)


def test_one_run_with_several_thresholds_equals_separate_runs():
    torch.manual_seed(1)
    model = nets.MLPClassifier(16, 3, hidden=(8,))
    with torch.no_grad():
        model.head.weight.mul_(10.0)
    model.num_classes = 3
    target = fooling.SoftmaxTarget(model)
    kwargs = dict(max_steps=80, lr=5e-2, progress=False, image_shape=(1, 4, 4), seed=3)
    both = fooling.fooling_attack(target, [0, 1, 2], threshold=[0.6, 0.9], **kwargs)
    for t in (0.6, 0.9):
        alone = fooling.fooling_attack(target, [0, 1, 2], threshold=t, **kwargs)
        assert np.array_equal(both[t].steps, alone.steps) and np.array_equal(both[t].success, alone.success)
        assert np.allclose(both[t].confidence, alone.confidence, atol=1e-6)
    assert both[0.6].success.sum() >= both[0.9].success.sum()
