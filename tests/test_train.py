import numpy as np
import pytest
import torch
from torch import nn

from osrkit import nets, train
from osrkit.methods import softmax


def _blobs(n=200, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = rng.normal(0, 0.3, (n, 2)) + np.where(y[:, None] == 1, 2.0, -2.0)
    return X.astype(np.float32), y


def test_fit_learns_a_separable_problem_and_reports_losses():
    X, y = _blobs()
    train.seed_everything(0)  # the initial weights come from the global generator
    model = nets.MLPClassifier(2, 2, hidden=(16,))
    hist = train.fit(model, softmax.cross_entropy_loss, X, y, epochs=20, batch_size=32, seed=0, progress=False)
    assert len(hist.epoch_losses) == 20 and len(hist.step_losses) == 20 * 7
    assert hist.epoch_losses[-1] < hist.epoch_losses[0]
    with torch.no_grad():
        acc = (model(torch.tensor(X)).argmax(1).numpy() == y).mean()
    assert acc == 1.0 and not model.training


def test_fit_by_steps_stops_at_the_budget():
    X, y = _blobs(50)
    hist = train.fit(nets.MLPClassifier(2, 2, (8,)), softmax.cross_entropy_loss, X, y, steps=13,
                     batch_size=16, progress=False)
    assert len(hist.step_losses) == 13


def test_same_seed_gives_the_same_weights():
    X, y = _blobs()
    weights = []
    for seed in (4, 4, 5):
        train.seed_everything(seed)
        model = nets.MLPClassifier(2, 2, (8,))
        train.fit(model, softmax.cross_entropy_loss, X, y, epochs=2, seed=seed, progress=False)
        weights.append(model.head.weight.detach().clone())
    assert torch.equal(weights[0], weights[1]) and not torch.equal(weights[0], weights[2])


def test_nan_loss_stops_with_a_clear_error():
    X, y = _blobs(64)

    def exploding(model, xb, yb):
        return model(xb).sum() * float("nan")

    with pytest.raises(FloatingPointError, match=r"became nan at step 1 .*Lower the learning rate"):
        train.fit(nets.MLPClassifier(2, 2, (4,)), exploding, X, y, steps=5, progress=False)


def test_augment_is_applied_to_each_batch():
    X, y = _blobs(32)
    seen = []

    def augment(xb):
        seen.append(len(xb))
        return xb

    train.fit(nets.MLPClassifier(2, 2, (4,)), softmax.cross_entropy_loss, X, y, epochs=1, batch_size=10,
              augment=augment, progress=False)
    assert seen == [10, 10, 10, 2]


@pytest.mark.parametrize("kwargs, match", [
    ({}, "exactly one"),
    ({"epochs": 1, "steps": 1}, "exactly one"),
    ({"epochs": 0}, "positive"),
    ({"epochs": 1, "optimizer": "rmsprop"}, "optimizer"),
    ({"epochs": 1, "device": "tpu"}, "device"),
])
def test_fit_rejects_bad_settings(kwargs, match):
    X, y = _blobs(16)
    with pytest.raises(ValueError, match=match):
        train.fit(nets.MLPClassifier(2, 2, (4,)), softmax.cross_entropy_loss, X, y, progress=False, **kwargs)


def test_auto_device_is_usable_and_cuda_is_checked():
    dev = train.resolve_device("auto")
    torch.zeros(1, device=dev)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            train.resolve_device("cuda")
    with pytest.raises(ValueError, match="seed"):
        train.seed_everything("0")


def test_predict_batches_matches_one_pass():
    model = nn.Linear(3, 2)
    X = np.random.default_rng(0).normal(size=(10, 3)).astype(np.float32)
    out = train.predict_batches(model, X, batch_size=3)
    assert torch.allclose(out, model(torch.tensor(X)), atol=1e-6)


def test_small_models_train_on_one_cpu_thread_and_the_setting_is_restored():
    X, y = _blobs(32)
    seen = []

    def recording_loss(model, xb, yb):
        seen.append(torch.get_num_threads())
        return softmax.cross_entropy_loss(model, xb, yb)

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        train.fit(nets.MLPClassifier(2, 2, (8,)), recording_loss, X, y, steps=2, device="cpu", progress=False)
        assert seen == [1, 1] and torch.get_num_threads() == 2
        big = nets.MLPClassifier(2, 2, (600, 600))  # > SMALL_MODEL_PARAMETERS
        seen.clear()
        train.fit(big, recording_loss, X, y, steps=1, device="cpu", progress=False)
        assert seen == [2]
        # a network with convolutions shares the threads however few its parameters
        conv = nets.PaperCNN(2, channels=(2, 2), hidden=4, image_size=8)
        seen.clear()
        train.fit(conv, recording_loss, np.zeros((4, 1, 8, 8), np.float32), np.array([0, 1, 0, 1]), steps=1,
                  device="cpu", progress=False)
        assert seen == [2]
    finally:
        torch.set_num_threads(before)


def test_cpu_threads_restores_after_an_error():
    before = torch.get_num_threads()
    with pytest.raises(KeyError):
        with train.cpu_threads(1):
            assert torch.get_num_threads() == 1
            raise KeyError
    assert torch.get_num_threads() == before


def test_on_epoch_end_runs_after_every_full_epoch_in_training_mode_afterwards():
    X = torch.randn(10, 2)
    y = (X[:, 0] > 0).long()
    model = torch.nn.Linear(2, 2)
    seen = []

    def log(epoch, m):
        m.eval()
        seen.append((epoch, len(hist_steps)))

    hist_steps = []
    loss = lambda m, xb, yb: (hist_steps.append(m.training), torch.nn.functional.cross_entropy(m(xb), yb))[1]  # noqa: E731
    train.fit(model, loss, X, y, epochs=3, batch_size=4, progress=False, on_epoch_end=log)
    assert seen == [(1, 3), (2, 6), (3, 9)]                  # 3 batches per epoch
    assert all(hist_steps)                                  # back in training mode after the callback
    seen.clear(); hist_steps.clear()
    train.fit(model, loss, X, y, steps=7, batch_size=4, progress=False, on_epoch_end=log)
    assert seen == [(1, 3), (2, 6)]                          # the cut third epoch is not complete


class _TwoLevel(torch.nn.Module):
    """y ≈ w·x·softmax(a)[0]: weights w, architecture parameters a."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(1))
        self.a = torch.nn.Parameter(torch.zeros(2))

    def forward(self, x):
        return self.w * x * torch.softmax(self.a, 0)[0]


def _mse(model, xb, yb):
    return ((model(xb) - yb.float()) ** 2).mean()


def test_bilevel_fit_moves_only_the_weights_in_warm_up_and_both_in_search(tmp_path):
    X, y = np.ones((16, 1), np.float32), np.full(16, 2)
    model = _TwoLevel()
    common = dict(weight_params=[model.w], arch_params=[model.a], batch_size=4, lr=0.05, arch_lr=0.05,
                  device="cpu", progress=False)
    history = train.bilevel_fit(model, _mse, (X, y), (X, y), warmup_epochs=2, search_epochs=0, **common)
    assert torch.equal(model.a.detach(), torch.zeros(2)) and float(model.w.detach()) != 1.0
    assert len(history.epoch_losses) == 2
    seen = []
    train.bilevel_fit(model, _mse, (X, y), (X, y), warmup_epochs=0, search_epochs=1,
                      on_epoch_end=lambda epoch, m: seen.append(epoch) or {"a": m.a.tolist()}, **common)
    assert float(model.a.detach()[0]) > 0.0 and seen == [1]          # the architecture step raised softmax(a)[0]
    # architecture data are only read in the search phase: NaN there breaks the search, not the warm-up
    bad = (np.full((16, 1), np.nan, np.float32), y)
    fresh = _TwoLevel()
    train.bilevel_fit(fresh, _mse, (X, y), bad, warmup_epochs=1, search_epochs=0,
                      **{**common, "weight_params": [fresh.w], "arch_params": [fresh.a]})
    fresh = _TwoLevel()
    with pytest.raises(FloatingPointError, match="epoch 1"):
        train.bilevel_fit(fresh, _mse, (X, y), bad, warmup_epochs=0, search_epochs=1,
                          **{**common, "weight_params": [fresh.w], "arch_params": [fresh.a]})
    with pytest.raises(ValueError, match="disjoint"):
        train.bilevel_fit(fresh, _mse, (X, y), (X, y), warmup_epochs=1, search_epochs=0,
                          **{**common, "weight_params": [fresh.w], "arch_params": [fresh.w]})


def test_bilevel_fit_caches_weights_and_epoch_logs(tmp_path):
    X, y = np.ones((16, 1), np.float32), np.full(16, 2)
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = _TwoLevel()
        history = train.bilevel_fit(model, _mse, (X, y), (X, y), weight_params=[model.w], arch_params=[model.a],
                                    warmup_epochs=1, search_epochs=2, batch_size=4, device="cpu", progress=False,
                                    cache_dir=tmp_path, on_epoch_end=lambda e, m: {"a": m.a.tolist()})
        runs.append((history, model.a.detach().clone()))
    (first, a1), (second, a2) = runs
    assert not first.from_cache and second.from_cache
    assert second.epoch_logs == first.epoch_logs and len(first.epoch_logs) == 3
    assert torch.equal(a1, a2)
