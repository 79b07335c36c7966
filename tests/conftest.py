"""Fixtures for tests/: a data root with tiny fake copies of the torchvision datasets
(``tests/fake_datasets.py``), written once per session."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def _fake_data(tmp_path_factory):
    from fake_datasets import write_fake_datasets

    root = tmp_path_factory.mktemp("fake_data")
    return root, write_fake_datasets(root)


@pytest.fixture
def skip_md5(monkeypatch):
    """torchvision's md5 checks of CIFAR and SVHN files skipped for this test, nothing else."""
    from fake_datasets import skip_md5_checks

    skip_md5_checks(monkeypatch)


@pytest.fixture
def fake_data_root(_fake_data, skip_md5):
    """The session's fake data root (mnist, fashion_mnist, cifar10, cifar100, svhn; 12 images
    per class and part). Shared: a test that breaks files writes its own copy instead."""
    return _fake_data[0]


@pytest.fixture
def fake_data(_fake_data):
    """What was written into ``fake_data_root``: name -> fake_datasets.FakeDataset."""
    return _fake_data[1]
