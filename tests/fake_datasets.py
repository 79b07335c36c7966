"""Tiny copies of the torchvision datasets in their real on-disk formats, so that osrkit's
loaders can be tested without a network: MNIST and Fashion-MNIST as IDX files (the ``.gz``
a download fetches and the unpacked files torchvision reads), CIFAR-10/100 as the pickled
batches of ``cifar-*-python.tar.gz``, SVHN as MATLAB files. What is written covers
:data:`osrkit.torchvision_data.FILES`, whose agreement with torchvision the tests check.

Every image says what it is: channel 0 of its bottom :data:`STRIPE_ROWS` rows holds
``2 * label + 1`` (:func:`label_of`; the digit for SVHN, whose files store 0 as 10), pixel
(row 1, column 3) is 255 and pixel (3, 1) is 0 in every channel (rows and columns not
swapped), and a colour image's red channel is brighter than its green, the green brighter
than the blue (channel order). The rest is seeded noise.
"""
from __future__ import annotations

import gzip
import os
import pickle
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from osrkit.torchvision_data import FILES, FOLDERS

CIFAR10_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
#: CIFAR-100's 20 superclasses (its coarse labels, in index order) and their 5 classes each.
CIFAR100_SUPERCLASSES: dict[str, tuple[str, ...]] = {
    "aquatic_mammals": ("beaver", "dolphin", "otter", "seal", "whale"),
    "fish": ("aquarium_fish", "flatfish", "ray", "shark", "trout"),
    "flowers": ("orchid", "poppy", "rose", "sunflower", "tulip"),
    "food_containers": ("bottle", "bowl", "can", "cup", "plate"),
    "fruit_and_vegetables": ("apple", "mushroom", "orange", "pear", "sweet_pepper"),
    "household_electrical_devices": ("clock", "keyboard", "lamp", "telephone", "television"),
    "household_furniture": ("bed", "chair", "couch", "table", "wardrobe"),
    "insects": ("bee", "beetle", "butterfly", "caterpillar", "cockroach"),
    "large_carnivores": ("bear", "leopard", "lion", "tiger", "wolf"),
    "large_man-made_outdoor_things": ("bridge", "castle", "house", "road", "skyscraper"),
    "large_natural_outdoor_scenes": ("cloud", "forest", "mountain", "plain", "sea"),
    "large_omnivores_and_herbivores": ("camel", "cattle", "chimpanzee", "elephant", "kangaroo"),
    "medium_mammals": ("fox", "porcupine", "possum", "raccoon", "skunk"),
    "non-insect_invertebrates": ("crab", "lobster", "snail", "spider", "worm"),
    "people": ("baby", "boy", "girl", "man", "woman"),
    "reptiles": ("crocodile", "dinosaur", "lizard", "snake", "turtle"),
    "small_mammals": ("hamster", "mouse", "rabbit", "shrew", "squirrel"),
    "trees": ("maple_tree", "oak_tree", "palm_tree", "pine_tree", "willow_tree"),
    "vehicles_1": ("bicycle", "bus", "motorcycle", "pickup_truck", "train"),
    "vehicles_2": ("lawn_mower", "rocket", "streetcar", "tank", "tractor"),
}
#: The fine class names, alphabetical as in CIFAR-100's meta file.
CIFAR100_NAMES = tuple(sorted(n for names in CIFAR100_SUPERCLASSES.values() for n in names))
_COARSE = {n: i for i, names in enumerate(CIFAR100_SUPERCLASSES.values()) for n in names}

STRIPE_ROWS = 4
BRIGHT, DARK = (1, 3), (3, 1)
_SIDES = {"mnist": (1, 28), "fashion_mnist": (1, 28), "cifar10": (3, 32), "cifar100": (3, 32), "svhn": (3, 32)}
_CLASSES = {"cifar100": 100}


@dataclass(frozen=True)
class FakeDataset:
    """What was written for one dataset: every file (absolute paths), and per part the
    images as osrkit should return them (uint8, N × C × H × W) with their labels (0-based)."""

    files: tuple[Path, ...]
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray

    def part(self, train: bool) -> tuple[np.ndarray, np.ndarray]:
        """(images, labels) of the training or the test part."""
        return (self.X_train, self.y_train) if train else (self.X_test, self.y_test)


def label_of(X: np.ndarray) -> np.ndarray:
    """The label an image carries in its stripe, from images scaled to [0, 1] (N, C, H, W)."""
    value = np.asarray(X)[:, 0, -1, X.shape[-1] // 2] * 255.0
    return np.rint((value - 1) / 2).astype(np.int64)


def fake_images(labels: np.ndarray, channels: int, side: int, rng: np.random.Generator) -> np.ndarray:
    """uint8 images (N, C, side, side) carrying ``labels`` as the module docstring says."""
    low, high = ((170, 100, 20), (230, 160, 80)) if channels == 3 else ((30,), (220,))
    shape = (len(labels), channels, side, side)
    X = rng.integers(np.array(low)[:, None, None], np.array(high)[:, None, None] + 1, size=shape).astype(np.uint8)
    X[:, 0, -STRIPE_ROWS:, :] = (2 * np.asarray(labels) + 1)[:, None, None]
    X[:, :, BRIGHT[0], BRIGHT[1]] = 255
    X[:, :, DARK[0], DARK[1]] = 0
    return X


def write_fake_datasets(root: Path, *, per_class: int = 12, seed: int = 0,
                        names: Sequence[str] = tuple(FILES)) -> dict[str, FakeDataset]:
    """Write ``per_class`` images of every class, in each part (train and test), of each
    dataset in ``names`` under the data root ``root``; return what was written."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    out = {}
    for name in names:
        channels, side = _SIDES[name]
        parts = []
        for _ in ("train", "test"):
            y = rng.permutation(np.repeat(np.arange(_CLASSES.get(name, 10)), per_class))
            parts.append((fake_images(y, channels, side, rng), y))
        writer = {"mnist": _write_idx, "fashion_mnist": _write_idx, "cifar10": _write_cifar10,
                  "cifar100": _write_cifar100, "svhn": _write_svhn}[name]
        folder = root / FOLDERS[name]
        folder.joinpath("raw" if name in ("mnist", "fashion_mnist") else "").mkdir(parents=True, exist_ok=True)
        files = writer(root, name, *parts)
        needed = {root / f for part in FILES[name].values() for f in part}
        assert needed <= set(files), f"the fake {name} lacks {sorted(needed - set(files))}"
        out[name] = FakeDataset(tuple(files), *parts[0], *parts[1])
    return out


def _write_idx(root: Path, name: str, train: tuple, test: tuple) -> list[Path]:
    """IDX: big-endian magic 2051 (images) or 2049 (labels), the sizes, then the bytes."""
    files = []
    for prefix, (X, y) in (("train", train), ("t10k", test)):
        for kind, magic, array in (("images-idx3", 2051, X[:, 0]), ("labels-idx1", 2049, y.astype(np.uint8))):
            path = root / FOLDERS[name] / "raw" / f"{prefix}-{kind}-ubyte"
            blob = struct.pack(f">I{array.ndim}I", magic, *array.shape) + array.astype(np.uint8).tobytes()
            path.write_bytes(blob)
            path.with_name(path.name + ".gz").write_bytes(gzip.compress(blob))
            files += [path, path.with_name(path.name + ".gz")]
    return files


def _cifar_rows(X: np.ndarray) -> np.ndarray:
    """CIFAR's rows of 3072 bytes: the red plane row by row, then green, then blue."""
    n = len(X)
    rows = np.empty((n, 3072), np.uint8)
    for c in range(3):
        rows[:, 1024 * c:1024 * (c + 1)] = X[:, c].reshape(n, 1024)
    return rows


def _pickle(path: Path, obj: dict) -> Path:
    with open(path, "wb") as fh:
        pickle.dump(obj, fh, protocol=2)
    return path


def _write_cifar10(root: Path, name: str, train: tuple, test: tuple) -> list[Path]:
    folder, files = root / FOLDERS[name], []
    chunks = np.array_split(np.arange(len(train[1])), 5)
    for i, idx in enumerate(chunks, 1):
        files.append(_pickle(folder / f"data_batch_{i}", {
            "batch_label": f"training batch {i} of 5", "labels": train[1][idx].tolist(),
            "data": _cifar_rows(train[0][idx]), "filenames": [f"fake_{j}.png" for j in idx]}))
    files.append(_pickle(folder / "test_batch", {
        "batch_label": "testing batch 1 of 1", "labels": test[1].tolist(), "data": _cifar_rows(test[0]),
        "filenames": [f"fake_{j}.png" for j in range(len(test[1]))]}))
    files.append(_pickle(folder / "batches.meta", {
        "num_cases_per_batch": len(chunks[0]), "label_names": list(CIFAR10_NAMES), "num_vis": 3072}))
    return files


def _write_cifar100(root: Path, name: str, train: tuple, test: tuple) -> list[Path]:
    folder, files = root / FOLDERS[name], []
    for part, (X, y) in (("train", train), ("test", test)):
        files.append(_pickle(folder / part, {
            "filenames": [f"fake_{j}.png" for j in range(len(y))], "batch_label": f"{part}ing batch 1 of 1",
            "fine_labels": y.tolist(), "coarse_labels": [_COARSE[CIFAR100_NAMES[k]] for k in y],
            "data": _cifar_rows(X)}))
    files.append(_pickle(folder / "meta", {"fine_label_names": list(CIFAR100_NAMES),
                                           "coarse_label_names": list(CIFAR100_SUPERCLASSES)}))
    return files


def _write_svhn(root: Path, name: str, train: tuple, test: tuple) -> list[Path]:
    """SVHN's .mat: X of shape (H, W, C, N), y of shape (N, 1) with the digit 0 stored as 10."""
    import scipy.io

    files = []
    for part, (X, y) in (("train", train), ("test", test)):
        path = root / FOLDERS[name] / f"{part}_32x32.mat"
        scipy.io.savemat(path, {"X": X.transpose(2, 3, 1, 0), "y": np.where(y == 0, 10, y).astype(np.uint8)[:, None]})
        files.append(path)
    return files


def skip_md5_checks(monkeypatch=None) -> None:
    """Let torchvision take these files though their md5 checksums differ from the real
    ones': CIFAR and SVHN compare every file with one (MNIST only checks that its files
    exist). Only the checksum is skipped: a missing file still counts as missing. With a
    pytest ``monkeypatch`` the change ends with the test; without one (the full-mode
    smoke test's kernels, ``tests/full_mode_site``) it lasts for the process."""
    from torchvision.datasets import cifar, svhn

    def exists(fpath, md5=None) -> bool:
        return os.path.isfile(fpath)

    patch = monkeypatch.setattr if monkeypatch is not None else setattr
    for module in (cifar, svhn):
        patch(module, "check_integrity", exists)
