"""Full mode, executed: every lesson run by papermill with ``quick=False`` on the fake data
root of ``tests/fake_datasets.py`` (the real on-disk formats of MNIST, Fashion-MNIST,
CIFAR-10/100 and SVHN, 12 images per class), with its budgets turned down to an epoch or a
few steps, so that each finishes in about a minute on a CPU but goes through the
full-mode branches: the real loaders and the 32×32 resizing, the paper networks
(Classifier32, the ResNet18 encoder, NAS's full search space), the loops over splits and
the full-mode figures. Run them alone with ``pytest -m full_mode``.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import nbformat
import pytest

from osrkit import workbook

pytestmark = pytest.mark.full_mode

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
SITE = Path(__file__).resolve().parent / "full_mode_site"
#: A cell of these runs takes seconds; one still running after this long is stuck.
CELL_TIMEOUT_S = 600.0

#: The budget of each lesson's smoke run: every other parameter keeps its full-mode default.
SMOKE_PARAMETERS: dict[str, dict] = {
    "01": {"steps": 200},
    "02": {"epochs": 1, "trials_per_digit": 1, "max_steps": 3, "openness_levels": [2, 10],
           "openness_repetitions": 1, "openness_epochs": 1, "one_class_digits": [0]},
    "03": {"epochs": 1, "crosr_epochs": 1, "k_epochs": 3, "k_max": 2, "k_restarts": 1},
    "04": {"epochs": 1, "splits": [0, 1], "alphas": [5.0, 10.0], "lams": [0.1]},
    "05": {"epochs": 1, "area_runs": 1},
    "06": {"warmup_epochs": 1, "search_epochs": 1, "epochs": 1},
    "07": {"datasets": ["cifar+10"], "splits": [0, 1],
           "method_settings": {**{m: {"epochs": 1} for m in ("softmax", "dae", "cool", "crosr", "gmvae", "cac",
                                                             "gradmix")},
                               "nas": {"warmup_epochs": 1, "search_epochs": 1, "epochs": 1}}},
}


def _lesson(prefix: str) -> Path:
    (path,) = NOTEBOOKS.glob(f"{prefix}_*.ipynb")
    return path


def _errors(executed: Path) -> str:
    """The tracebacks the executed notebook holds (papermill's one-line error hides them)."""
    if not executed.exists():
        return "(no executed notebook was written)"
    nb = nbformat.read(executed, as_version=4)
    tracebacks = ["\n".join(out.get("traceback", [])) for cell in nb.cells if cell.cell_type == "code"
                  for out in cell.get("outputs", []) if out.get("output_type") == "error"]
    return re.sub(r"\x1b\[[0-9;]*m", "", "\n\n".join(tracebacks))     # without the terminal colours


@pytest.fixture
def full_mode_kernels(fake_data_root, monkeypatch):
    """Kernels started in this test read the fake data root and accept its CIFAR and SVHN
    files (``full_mode_site/sitecustomize.py`` skips only their md5 check)."""
    monkeypatch.setenv("OSRKIT_DATA", str(fake_data_root))
    monkeypatch.setenv("OSRKIT_FAKE_DATA_MD5", "skip")
    paths = [str(SITE), str(SITE.parent), *filter(None, [os.environ.get("PYTHONPATH")])]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))
    return fake_data_root


def _run_full(prefix: str, build: Path) -> tuple[dict, dict]:
    notebook = _lesson(prefix)
    parameters = {"quick": False, "seed": 0, "device": "auto", "cache_dir": None, **SMOKE_PARAMETERS[prefix]}
    row = workbook.run_notebook(notebook, build, parameters, cell_timeout=CELL_TIMEOUT_S)
    assert row["status"] == "ok", (f"{notebook.name} failed in full mode after {row['wall_s']} s: {row.get('error')}\n"
                                   + _errors(build / "notebooks" / notebook.name))
    recorded = json.loads((build / "results" / f"{notebook.stem}.json").read_text())
    return row, recorded


def test_lesson_01_full_mode(full_mode_kernels, tmp_path):
    row, recorded = _run_full("01", tmp_path)
    assert recorded["parameters"]["quick"] is False and recorded["parameters"]["steps"] == 200
    assert 0.0 <= row["numbers"]["auroc_dae"] <= 1.0


def test_lesson_02_full_mode_reads_mnist(full_mode_kernels, tmp_path):
    row, recorded = _run_full("02", tmp_path)
    assert recorded["parameters"]["dataset"] == "mnist" and recorded["parameters"]["batch_size"] == 64
    assert 0.0 <= row["numbers"]["auc_1class_dae"] <= 1.0


def test_lesson_03_full_mode_runs_mnist_and_fashion_mnist(full_mode_kernels, tmp_path):
    row, recorded = _run_full("03", tmp_path)
    assert recorded["parameters"]["dataset"] == "mnist"
    assert any(key.startswith("fashion_") for key in row["numbers"]), "the Fashion-MNIST 6/4 section did not run"


def test_lesson_04_full_mode_trains_classifier32_over_splits(full_mode_kernels, tmp_path):
    row, recorded = _run_full("04", tmp_path)
    assert recorded["parameters"]["network"] == "classifier32" and recorded["parameters"]["splits"] == [0, 1]
    assert set(row["numbers"]["five_split_mean"]) >= {"auroc_CAC", "acc_cac"}


def test_lesson_05_full_mode_trains_the_resnet18_encoder_on_cifar10(full_mode_kernels, tmp_path):
    row, recorded = _run_full("05", tmp_path)
    assert recorded["parameters"]["dataset"] == "cifar10" and recorded["parameters"]["encoder"] == "resnet18"
    assert 0.0 <= row["numbers"]["auroc_gradmix"] <= 1.0


def test_lesson_06_full_mode_searches_the_full_space(full_mode_kernels, tmp_path):
    row, recorded = _run_full("06", tmp_path)
    assert recorded["parameters"]["dataset"] == "cifar10" and recorded["parameters"]["layers"] == 6
    assert len(row["numbers"]["alpha_final"]) == 6


def test_lesson_07_full_mode_benchmarks_cifar_plus_10(full_mode_kernels, tmp_path):
    row, recorded = _run_full("07", tmp_path)
    assert {(r["dataset"], r["split"]) for r in row["numbers"]["rows"]} == {("cifar+10", 0), ("cifar+10", 1)}
