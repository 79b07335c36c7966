"""Started by the kernels of the full-mode smoke test (``tests/test_full_mode.py`` puts
this folder and ``tests/`` on their PYTHONPATH): torchvision takes the fake CIFAR and SVHN
files of ``tests/fake_datasets.py`` although their md5 checksums are not the real ones'.
Only that check is skipped; the loaders under test are osrkit's own, unchanged."""
import os

if os.environ.get("OSRKIT_FAKE_DATA_MD5") == "skip":
    from fake_datasets import skip_md5_checks

    skip_md5_checks()
