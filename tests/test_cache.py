"""The checkpoint cache of ``train.fit`` and ``Method.fit``: a hit gives what training gave."""
import random

import numpy as np
import pytest
import torch

from osrkit import data, methods, nets, train
from osrkit.methods import softmax


def _problem(seed=0, n=120):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2)).astype(np.float32)
    return X, (X[:, 0] > 0).astype(np.int64)


def _fit(X, y, cache_dir, *, seed=0, lr=1e-2, on_epoch_end=None):
    torch.manual_seed(seed)
    model = nets.MLPClassifier(2, 2, hidden=(8,))
    history = train.fit(model, softmax.cross_entropy_loss, X, y, epochs=3, batch_size=32, lr=lr, seed=seed,
                        progress=False, cache_dir=cache_dir, on_epoch_end=on_epoch_end)
    return model, history


def _draws():
    return torch.rand(3).tolist(), np.random.rand(3).tolist(), [random.random() for _ in range(3)]


def test_a_hit_loads_the_weights_history_and_epoch_logs_and_leaves_the_random_streams_as_training_did(tmp_path):
    X, y = _problem()

    def log(epoch, model):
        return {"epoch": epoch, "weight": float(model.head.weight.detach().sum())}

    trained, h1 = _fit(X, y, tmp_path, on_epoch_end=log)
    after_training = _draws()
    torch.manual_seed(123), np.random.seed(123), random.seed(123)          # somewhere else entirely
    loaded, h2 = _fit(X, y, tmp_path, on_epoch_end=lambda e, m: pytest.fail("a hit must not train"))
    assert not h1.from_cache and h2.from_cache
    assert _draws() == after_training
    assert h2.step_losses == h1.step_losses and h2.epoch_losses == h1.epoch_losses and len(h1.step_losses) == 12
    assert h2.epoch_logs == h1.epoch_logs == [{"epoch": e, "weight": pytest.approx(h1.epoch_logs[e - 1]["weight"])}
                                              for e in (1, 2, 3)]
    assert h2.seconds == h1.seconds > 0
    for a, b in zip(trained.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a, b)
    (ckpt,) = tmp_path.glob("*.pt")
    assert set(torch.load(ckpt, weights_only=True)) == {"state_dict", "random_states", "history"}


def test_without_a_cache_training_gives_the_same_weights_as_a_cold_cache(tmp_path):
    X, y = _problem()
    plain, h_plain = _fit(X, y, None)
    cached, h_cold = _fit(X, y, tmp_path)
    assert h_plain.step_losses == h_cold.step_losses
    for a, b in zip(plain.state_dict().values(), cached.state_dict().values()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("change", ["data", "seed", "lr", "initial weights"])
def test_anything_that_changes_the_weights_changes_the_key(tmp_path, change):
    X, y = _problem()
    _fit(X, y, tmp_path)
    if change == "data":
        X2, y2 = _problem(seed=1)
        _, h = _fit(X2, y2, tmp_path)
    elif change == "seed":
        _, h = _fit(X, y, tmp_path, seed=1)
    elif change == "lr":
        _, h = _fit(X, y, tmp_path, lr=0.02)
    else:
        torch.manual_seed(7)
        model = nets.MLPClassifier(2, 2, hidden=(8,))
        # fit reseeds torch but not the initial weights: another init must not load the first run
        h = train.fit(model, softmax.cross_entropy_loss, X, y, epochs=3, batch_size=32, lr=1e-2, seed=0,
                      progress=False, cache_dir=tmp_path)
    assert not h.from_cache and len(list(tmp_path.glob("*.pt"))) == 2


def test_the_key_covers_loss_settings_and_osrkit_code():
    X, y = torch.zeros(4, 2), torch.zeros(4, dtype=torch.long)
    model = nets.MLPClassifier(2, 2, hidden=(4,))
    from osrkit.methods.cac import CACLoss

    keys = {train.training_key(model, CACLoss(2, lam=lam), X, y, {}) for lam in (0.1, 0.2)}
    assert len(keys) == 2
    assert train.code_fingerprint().startswith("0.1.0+")


def test_auto_cache_dir_is_the_data_roots_cache_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("OSRKIT_DATA", str(tmp_path))
    assert train.resolve_cache_dir("auto") == tmp_path / "cache"
    assert train.resolve_cache_dir(None) is None
    assert train.resolve_cache_dir(tmp_path / "x") == tmp_path / "x"


def test_installed_without_a_checkout_the_data_root_is_a_user_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("OSRKIT_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(data, "_WORKBOOK_ROOT", tmp_path / "site-packages")     # no pyproject.toml, no notebooks/
    assert data.data_root() == tmp_path / "xdg" / "osrkit"


def test_method_fit_with_a_warm_cache_gives_the_same_scores(tmp_path):
    task = data.load_task("digits", [0, 1, 2], seed=0)
    method = methods.get("softmax")
    config = method.config(True, epochs=6)
    cold = method.fit(task, config=config, device="cpu", cache_dir=tmp_path, progress=False)
    warm = method.fit(task, config=config, device="cpu", cache_dir=tmp_path, progress=False)
    assert len(list(tmp_path.glob("*.pt"))) == 1
    for rule in method.rules:
        np.testing.assert_array_equal(warm[rule].score(task.X_test)[1], cold[rule].score(task.X_test)[1])


def test_a_conv_network_trained_with_other_cpu_threads_is_not_loaded(tmp_path):
    """CPU kernels sum in an order that depends on the thread count, so a cached network
    trained with 1 thread must not stand in for a 2-thread run (an MLP always trains with 1)."""
    rng = np.random.default_rng(0)
    X, y = rng.random((16, 1, 8, 8), dtype=np.float32), np.arange(16) % 2

    def fit_conv(threads):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Flatten(), torch.nn.Linear(72, 2))
        with train.cpu_threads(threads):
            return train.fit(model, softmax.cross_entropy_loss, X, y, epochs=1, batch_size=8, seed=0,
                             device="cpu", progress=False, cache_dir=tmp_path)

    assert not fit_conv(1).from_cache and fit_conv(1).from_cache
    assert not fit_conv(2).from_cache and len(list(tmp_path.glob("*.pt"))) == 2
    _fit(*_problem(), tmp_path)
    with train.cpu_threads(2):
        _, mlp = _fit(*_problem(), tmp_path)
    assert mlp.from_cache                                     # a small MLP trains with 1 thread whatever the count
    assert train.training_threads(torch.device("cuda")) is None
