"""The real image datasets (``mnist``, ``fashion_mnist``, ``cifar10``, ``cifar100``,
``svhn``) read through torchvision from the data root, with errors that name the file
that is missing or broken and say how to fix it.

:data:`FILES` lists, per dataset and part, the files torchvision 0.29 reads or checks,
relative to the data root (``tests/fake_datasets.py`` writes tiny copies of exactly these).
The public entry is :func:`osrkit.data.load_dataset`; this module imports no other part
of osrkit.
"""
from __future__ import annotations

import math
import pickle
import struct
from pathlib import Path

import numpy as np

#: The folder under the data root where torchvision keeps each dataset.
FOLDERS: dict[str, str] = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST", "cifar10": "cifar-10-batches-py",
                           "cifar100": "cifar-100-python", "svhn": "svhn"}

_IDX = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
_CIFAR10 = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch", "batches.meta")
_CIFAR100 = ("train", "test", "meta")


def _under(folder: str, names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(f"{folder}/{n}" for n in names)


#: The files torchvision reads or checks for the training and the test part. MNIST and
#: Fashion-MNIST want their four unpacked IDX files (a download also leaves the ``.gz``
#: archives beside them) and CIFAR all its batches and its meta file, whichever part is
#: asked for; SVHN has one ``.mat`` file per part.
FILES: dict[str, dict[str, tuple[str, ...]]] = {
    "mnist": dict.fromkeys(("train", "test"), _under("MNIST/raw", _IDX)),
    "fashion_mnist": dict.fromkeys(("train", "test"), _under("FashionMNIST/raw", _IDX)),
    "cifar10": dict.fromkeys(("train", "test"), _under("cifar-10-batches-py", _CIFAR10)),
    "cifar100": dict.fromkeys(("train", "test"), _under("cifar-100-python", _CIFAR100)),
    "svhn": {"train": ("svhn/train_32x32.mat",), "test": ("svhn/test_32x32.mat",)},
}

_OFFLINE_HINT = "Offline, use quick=True, which runs on the offline datasets (rings, digits, mnist5k)."


def expected_files(name: str, root: Path, *, train: bool) -> list[Path]:
    """The files of dataset ``name``'s training or test part under the data root ``root``."""
    return [Path(root) / f for f in FILES[name]["train" if train else "test"]]


def read_torchvision(name: str, *, train: bool, root: Path,
                     download: bool) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Images (N, C, H, W) float32 in [0, 1], int64 labels and class names of a torchvision
    dataset part; downloaded when files are missing and ``download`` allows it. A missing
    file raises FileNotFoundError, a broken one OSError, each naming the file and the fix."""
    from torchvision import datasets as tvd

    constructors = {
        "mnist": lambda dl: tvd.MNIST(root, train=train, download=dl),
        "fashion_mnist": lambda dl: tvd.FashionMNIST(root, train=train, download=dl),
        "cifar10": lambda dl: tvd.CIFAR10(root, train=train, download=dl),
        "cifar100": lambda dl: tvd.CIFAR100(root, train=train, download=dl),
        "svhn": lambda dl: tvd.SVHN(root / "svhn", split="train" if train else "test", download=dl),
    }
    try:
        ds = constructors[name](False)
    except (ImportError, MemoryError):
        raise
    except Exception as failure:  # a missing file, or a broken one: EOFError, UnpicklingError, ValueError, ...
        files = expected_files(name, root, train=train)
        missing = [f for f in files if not f.is_file()]
        if not missing:
            raise OSError(_broken_message(name, root, files, failure)) from None
        absent, fix = _absent(name, root, missing, len(files)), _fix_missing(name, root)
        if not download:
            raise FileNotFoundError(f"{absent}, and download=False. {fix}") from None
        try:
            root.mkdir(parents=True, exist_ok=True)
            ds = constructors[name](True)
        except Exception as again:  # network errors come in many types (URLError, OSError, ...)
            raise FileNotFoundError(f"{absent} and could not be downloaded ({type(again).__name__}: {again}). "
                                    f"{fix}") from None

    if name == "svhn":
        X, y = np.asarray(ds.data), np.asarray(ds.labels)          # torchvision: (N, C, H, W), digit 0 as 0
    elif name in ("cifar10", "cifar100"):
        X, y = np.asarray(ds.data).transpose(0, 3, 1, 2), np.asarray(ds.targets)   # HWC -> CHW
    else:
        X, y = ds.data.numpy()[:, None], ds.targets.numpy()
    names = tuple(getattr(ds, "classes", None) or [str(c) for c in range(10)])
    return np.ascontiguousarray(X.astype(np.float32) / 255.0), y.astype(np.int64), names


def _absent(name: str, root: Path, missing: list[Path], n_files: int) -> str:
    more = f" (and {len(missing) - 1} more of its {n_files} files)" if len(missing) > 1 else ""
    return f"dataset {name!r} is not complete in the data root {root}: {missing[0]} is missing{more}"


def _fix_missing(name: str, root: Path) -> str:
    folder = root / FOLDERS[name]
    get = (f"delete {folder} (what is left of it) and rerun with download=True and a network connection, so "
           f"that torchvision downloads it whole" if folder.exists() else
           f"rerun with download=True and a network connection (torchvision downloads it into {folder})")
    return (f"Fix: {get}; or copy the torchvision files there yourself (the layout of data/README.md), or set "
            f"OSRKIT_DATA to a folder that has them. {_OFFLINE_HINT}")


def _broken_message(name: str, root: Path, files: list[Path], failure: Exception) -> str:
    folder = root / FOLDERS[name]
    broken = _find_broken(name, files)
    if broken is None:
        what, delete = f"could not be read from {folder} ({type(failure).__name__}: {failure})", str(folder)
    else:
        what, delete = f"has a broken file: {broken[0]} ({broken[1]})", f"that file (or all of {folder})"
    return (f"dataset {name!r} {what}. Fix: delete {delete} and rerun with download=True and a network "
            f"connection so torchvision downloads it again, or copy intact files there, or set OSRKIT_DATA "
            f"to a folder that has them. {_OFFLINE_HINT}")


def _find_broken(name: str, files: list[Path]) -> tuple[Path, str] | None:
    """The first of ``files`` that cannot be parsed, else the first whose md5 differs from
    torchvision's (CIFAR and SVHN; MNIST keeps no checksum of its unpacked files), else None."""
    for path in files:
        problem = _problem(path)
        if problem:
            return path, problem
    from torchvision.datasets import cifar, svhn

    if name == "svhn":      # the check the dataset's own module makes (tests may skip its md5 part)
        module, md5 = svhn, {f: m for _, f, m in svhn.SVHN.split_list.values()}
    elif name in ("cifar10", "cifar100"):
        cls = cifar.CIFAR10 if name == "cifar10" else cifar.CIFAR100
        module, md5 = cifar, dict(cls.train_list + cls.test_list) | {cls.meta["filename"]: cls.meta["md5"]}
    else:
        module, md5 = None, {}
    for path in files:
        if path.name in md5 and not module.check_integrity(str(path), md5[path.name]):
            return path, "it differs from the file torchvision expects: its md5 checksum does not match"
    return None


def _problem(path: Path) -> str | None:
    """Why ``path`` cannot be read in its format (IDX, MATLAB .mat or pickle), or None."""
    try:
        if path.name.endswith("-ubyte"):
            return _idx_problem(path.read_bytes())
        if path.suffix == ".mat":
            import scipy.io
            mat = scipy.io.loadmat(path, variable_names=("X", "y"))
            return None if {"X", "y"} <= mat.keys() else "no arrays X and y in it"
        with open(path, "rb") as fh:
            pickle.load(fh, encoding="latin1")
    except Exception as error:
        return f"unreadable, truncated or corrupt: {type(error).__name__}: {error}"
    return None


def _idx_problem(data: bytes) -> str | None:
    """Why ``data`` is not a whole IDX file of bytes (MNIST's format), or None."""
    if len(data) < 4 or data[:3] != b"\x00\x00\x08" or not 1 <= data[3] <= 3:
        return f"not an IDX file of bytes: it starts with {data[:4].hex() or 'nothing'}"
    header = 4 + 4 * data[3]
    if len(data) < header:
        return f"truncated: {len(data)} bytes, shorter than its header"
    size = header + math.prod(struct.unpack(f">{data[3]}I", data[4:header]))
    if len(data) != size:
        return f"{'truncated: ' if len(data) < size else ''}{len(data)} bytes where its header promises {size}"
    return None
