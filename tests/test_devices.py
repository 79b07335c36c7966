"""Tensors go to the model's device (``train.model_device``): the lesson widgets' callbacks
and map helpers run on every device this machine has (CUDA too, where there is one)."""
import numpy as np
import pytest
import torch

from osrkit import data, train
from osrkit.methods import gmvae, gradmix
from osrkit.studies import attention, subclusters

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def test_model_device_reads_parameters_then_buffers():
    assert train.model_device(torch.nn.Linear(2, 2)) == torch.device("cpu")
    assert train.model_device(torch.nn.Identity()) == torch.device("cpu")
    bn = torch.nn.BatchNorm1d(2, affine=False)           # buffers only
    assert train.model_device(bn) == torch.device("cpu")


@pytest.fixture(scope="module")
def task():
    return data.load_task("digits", [0, 1, 2], seed=0)


@pytest.mark.parametrize("device", DEVICES)
def test_gradmix_step_and_maps_run_on_the_encoders_device(device, task):
    torch.manual_seed(0)
    encoder = gradmix.ContrastiveEncoder(1, image_size=8).to(device)
    step = gradmix.gradmix_step(encoder, task.X_train[:4], 0.3)
    assert step.maps.shape == (4, 8, 8) and isinstance(step.mixed, np.ndarray)
    scorer = gradmix.top_k_scorer(encoder, task, k=3)
    maps = attention.method_maps({"net": (encoder, scorer)}, task.X_test[:3])
    assert set(maps) == {"grad_cam, net", "layer_cam, net"} and maps["layer_cam, net"].shape == (3, 8, 8)
    assert attention.attention_maps(encoder, scorer, task.X_test[:3]).shape == (3, 8, 8)


@pytest.mark.parametrize("device", DEVICES)
def test_subcluster_report_runs_on_the_models_device(device, task):
    torch.manual_seed(0)
    model = gmvae.SupervisedGMVAE(1, 2, in_dim=64).to(device)
    X = task.X_train[task.y_train == 0][:20]
    report = subclusters.subcluster_report(model, X, np.zeros(20, int))
    assert report.table.sum() == 20 and report.assignment.shape == (20,)


@pytest.mark.parametrize("device", DEVICES)
def test_a_cached_network_loads_on_its_device_and_restores_the_random_streams(device, task, tmp_path):
    """A checkpoint's random states stay CPU tensors whatever the device (a CUDA run once
    failed on the second load: numpy cannot read a cuda tensor)."""
    def train_once():
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3))
        loss = lambda m, xb, yb: torch.nn.functional.cross_entropy(m(xb), yb)
        history = train.fit(model, loss, task.X_train, task.y_train, epochs=1, batch_size=32, seed=0, device=device,
                            cache_dir=tmp_path, progress=False)
        return model, history, np.random.get_state()[1].copy()

    first, history, state = train_once()
    again, cached, state_again = train_once()
    assert not history.from_cache and cached.from_cache
    assert train.model_device(again).type == device
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), again.state_dict().values()))
    np.testing.assert_array_equal(state, state_again)
