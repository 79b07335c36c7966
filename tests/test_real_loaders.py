"""osrkit's loaders of the real datasets, unchanged, on tiny fake copies written in each
dataset's on-disk format (tests/fake_datasets.py) and read by the real torchvision: only
torchvision's md5 checks are skipped, and the network is blocked in every test."""
import errno
import gzip
import pickle
import socket
import traceback

import numpy as np
import pytest
import scipy.io
from fake_datasets import (BRIGHT, CIFAR10_NAMES, CIFAR100_NAMES, CIFAR100_SUPERCLASSES, DARK, STRIPE_ROWS, label_of,
                           write_fake_datasets)

from osrkit import data
from osrkit.torchvision_data import FILES, FOLDERS

PER_CLASS = 12                                      # the conftest's fake_data_root
SHAPES = {"mnist": (1, 28), "fashion_mnist": (1, 28), "cifar10": (3, 32), "cifar100": (3, 32), "svhn": (3, 32)}
BLOCKED = "Network is unreachable (blocked by the test)"


@pytest.fixture(autouse=True)
def network_attempts(monkeypatch):
    """No test here reaches a network: every connection fails as it does offline. The list
    records the attempts."""
    attempts = []

    def unreachable(*args, **kwargs):
        attempts.append(args[:1])
        raise OSError(errno.ENETUNREACH, BLOCKED)

    monkeypatch.setattr(socket, "create_connection", unreachable)
    monkeypatch.setattr(socket, "getaddrinfo", unreachable)
    return attempts


def test_the_file_table_is_what_torchvision_reads():
    from torchvision import datasets as tvd

    assert set(FILES) == set(FOLDERS) == set(data.TORCHVISION_DATASETS)
    for name, cls in (("mnist", tvd.MNIST), ("fashion_mnist", tvd.FashionMNIST)):
        unpacked = tuple(f"{cls.__name__}/raw/{f.removesuffix('.gz')}" for f, _ in cls.resources)
        assert FOLDERS[name] == cls.__name__ and FILES[name] == {"train": unpacked, "test": unpacked}
    for name, cls in (("cifar10", tvd.CIFAR10), ("cifar100", tvd.CIFAR100)):
        files = tuple(f"{cls.base_folder}/{f}" for f, _ in cls.train_list + cls.test_list + [[cls.meta["filename"], 0]])
        assert FOLDERS[name] == cls.base_folder and FILES[name] == {"train": files, "test": files}
    assert FILES["svhn"] == {part: (f"svhn/{tvd.SVHN.split_list[part][1]}",) for part in ("train", "test")}


def test_the_fake_files_are_in_the_real_formats(fake_data_root, fake_data):
    raw = fake_data_root / "MNIST" / "raw"
    images, labels = (raw / "t10k-images-idx3-ubyte").read_bytes(), (raw / "t10k-labels-idx1-ubyte").read_bytes()
    assert np.frombuffer(images[:16], ">u4").tolist() == [2051, 10 * PER_CLASS, 28, 28]
    assert np.frombuffer(labels[:8], ">u4").tolist() == [2049, 10 * PER_CLASS] and len(labels) == 8 + 120
    assert gzip.decompress((raw / "t10k-images-idx3-ubyte.gz").read_bytes()) == images
    with open(fake_data_root / "cifar-10-batches-py" / "data_batch_2", "rb") as fh:
        batch = pickle.load(fh, encoding="latin1")
    assert batch["data"].shape == (24, 3072) and batch["data"].dtype == np.uint8 and len(batch["labels"]) == 24
    red, blue = batch["data"][:, :1024], batch["data"][:, 2048:]     # CIFAR's rows: red plane first
    assert (red[:, :1024 - 32 * STRIPE_ROWS].mean(1) > 150).all() and (blue.mean(1) < 100).all()
    mat = scipy.io.loadmat(fake_data_root / "svhn" / "test_32x32.mat")
    assert mat["X"].shape == (32, 32, 3, 120) and mat["X"].dtype == np.uint8 and mat["y"].shape == (120, 1)
    assert sorted(np.unique(mat["y"]).tolist()) == list(range(1, 11))          # SVHN stores the digit 0 as 10
    assert len(fake_data["cifar100"].files) == 3 and len(fake_data["mnist"].files) == 8


@pytest.mark.parametrize("train", [True, False], ids=["train", "test"])
@pytest.mark.parametrize("name", data.TORCHVISION_DATASETS)
def test_the_loaded_arrays_are_the_written_images(name, train, fake_data_root, fake_data):
    ds = data.load_dataset(name, train=train, root=fake_data_root, download=False)
    X, y = fake_data[name].part(train)
    n_classes, (channels, side) = (100 if name == "cifar100" else 10), SHAPES[name]
    assert ds.X.shape == (PER_CLASS * n_classes, channels, side, side) and ds.X.dtype == np.float32
    assert ds.y.dtype == np.int64 and np.bincount(ds.y).tolist() == [PER_CLASS] * n_classes
    assert 0.0 <= ds.X.min() and ds.X.max() == 1.0
    assert np.array_equal(ds.X, X.astype(np.float32) / 255.0) and np.array_equal(ds.y, y)
    assert ds.X[7, 0, 10, 11] == np.float32(X[7, 0, 10, 11] / 255.0) and ds.X[7, 0, 10, 11] != 0
    assert not np.array_equal(ds.y, fake_data[name].part(not train)[1])       # the other part is another file
    # what each image says of itself, whatever the writer's bookkeeping: its label ...
    assert np.array_equal(label_of(ds.X), ds.y)
    # ... rows and columns not swapped, and colour channels in the order red, green, blue
    assert (ds.X[:, :, BRIGHT[0], BRIGHT[1]] == 1.0).all() and (ds.X[:, :, DARK[0], DARK[1]] == 0.0).all()
    if channels == 3:
        means = ds.X.mean(axis=(2, 3))
        assert (means[:, 0] > means[:, 1] + 0.1).all() and (means[:, 1] > means[:, 2] + 0.1).all()


def test_svhn_zero_is_label_0_though_its_file_says_10(fake_data_root):
    ds = data.load_dataset("svhn", train=False, root=fake_data_root, download=False)
    stored = scipy.io.loadmat(fake_data_root / "svhn" / "test_32x32.mat")["y"][:, 0]
    assert np.array_equal(stored == 10, ds.y == 0) and (ds.y == 0).sum() == PER_CLASS
    assert np.array_equal(ds.y[stored != 10], stored[stored != 10]) and ds.y.max() == 9


def test_cifar10_training_part_is_its_five_batches_in_order(fake_data_root):
    ds = data.load_dataset("cifar10", train=True, root=fake_data_root, download=False)
    labels = []
    for i in range(1, 6):
        with open(fake_data_root / "cifar-10-batches-py" / f"data_batch_{i}", "rb") as fh:
            labels += pickle.load(fh, encoding="latin1")["labels"]
    assert ds.y.tolist() == labels and len(labels) == 120


def test_class_names_come_from_torchvision_and_the_meta_files(fake_data_root):
    names = {n: data.load_dataset(n, root=fake_data_root, download=False).class_names
             for n in data.TORCHVISION_DATASETS}
    assert names["mnist"][0] == "0 - zero" and names["mnist"][9] == "9 - nine" and len(names["mnist"]) == 10
    assert names["fashion_mnist"][0] == "T-shirt/top" and names["fashion_mnist"][9] == "Ankle boot"
    assert names["cifar10"] == CIFAR10_NAMES and names["cifar100"] == CIFAR100_NAMES
    assert names["cifar100"][43] == "lion" and names["svhn"] == tuple("0123456789")


# ------------------------------------------------------------------ tasks
@pytest.mark.parametrize("index", [0, 3])
@pytest.mark.parametrize("name", ["mnist", "svhn", "cifar10"])
def test_standard_task_on_the_real_loaders(name, index, fake_data_root):
    task = data.standard_task(name, index, root=fake_data_root)
    known = data.STANDARD_SPLITS[index]
    assert task.dataset == name and task.known_classes == known
    assert task.unknown_classes == tuple(c for c in range(10) if c not in known)
    channels = SHAPES[name][0]
    assert task.X_train.shape[1:] == task.X_test.shape[1:] == (channels, 32, 32)     # MNIST resized to 32x32
    # train and validation: the official training part of the known classes, 10% of each to validation
    assert np.bincount(task.y_train).tolist() == [PER_CLASS - 1] * 6 and np.bincount(task.y_val).tolist() == [1] * 6
    train = data.load_dataset(name, train=True, root=fake_data_root, download=False)
    test = data.load_dataset(name, train=False, root=fake_data_root, download=False)
    pool = {x.tobytes() for x in data.resize_images(train.X, 32)}
    for X, y, source in ((task.X_train, task.y_train, task.source_train), (task.X_val, task.y_val, task.source_val)):
        assert np.array_equal(label_of(X), source) and np.array_equal(np.array(known)[y], source)
        assert all(x.tobytes() in pool for x in X)
    # test: the official test part whole, in its order, the unknown classes as -1
    assert np.array_equal(task.X_test, data.resize_images(test.X, 32)) and np.array_equal(task.source_test, test.y)
    assert np.array_equal(label_of(task.X_test), task.source_test)
    is_known = np.isin(test.y, known)
    assert np.array_equal(task.y_test == -1, ~is_known) and (~is_known).sum() == 4 * PER_CLASS
    assert np.array_equal(np.array(known)[task.y_test[is_known]], test.y[is_known])


ANIMALS = {"aquatic_mammals", "fish", "insects", "large_carnivores", "large_omnivores_and_herbivores",
           "medium_mammals", "non-insect_invertebrates", "people", "reptiles", "small_mammals"}


def test_cifar_plus_unknowns_are_cifar100_animal_classes(fake_data_root):
    """Neal et al.'s "animal classes of CIFAR-100": the 50 classes of its 10 animal
    superclasses (people among them, as CAC's class_splits have them)."""
    names = data.load_dataset("cifar100", train=False, root=fake_data_root, download=False).class_names
    animals = {n for s in ANIMALS for n in CIFAR100_SUPERCLASSES[s]}
    assert len(animals) == 50
    for n_unknown, draws in data.CIFAR_PLUS_UNKNOWN.items():
        for draw in draws:
            assert len(set(draw)) == n_unknown and {names[c] for c in draw} <= animals
    assert {names[c] for c in data.CIFAR_PLUS_UNKNOWN[50][0]} == animals


@pytest.mark.parametrize("n_unknown, index", [(10, 0), (10, 4), (50, 2)])
def test_cifar_plus_tasks_from_the_real_loaders(n_unknown, index, fake_data_root):
    task = data.standard_task(f"cifar+{n_unknown}", index, root=fake_data_root)
    unknown = data.CIFAR_PLUS_UNKNOWN[n_unknown][index]
    offset = data.CIFAR100_SOURCE_OFFSET
    assert task.dataset == f"cifar+{n_unknown}" and task.known_classes == data.CIFAR_PLUS_KNOWN == (0, 1, 8, 9)
    assert [CIFAR10_NAMES[c] for c in task.known_classes] == ["airplane", "automobile", "ship", "truck"]
    assert task.unknown_classes == tuple(offset + c for c in unknown)
    # train and validation: CIFAR-10's training images of the four vehicle classes, 10% to validation
    for X, y, source in ((task.X_train, task.y_train, task.source_train), (task.X_val, task.y_val, task.source_val)):
        assert np.array_equal(label_of(X), source) and np.array_equal(np.array([0, 1, 8, 9])[y], source)
    assert np.bincount(task.y_train).tolist() == [PER_CLASS - 1] * 4 and np.bincount(task.y_val).tolist() == [1] * 4
    # test: CIFAR-10's test vehicles, then CIFAR-100's test images of the N unknown classes, as -1
    known = task.y_test >= 0
    assert known.sum() == 4 * PER_CLASS and (~known).sum() == n_unknown * PER_CLASS
    assert not known[known.sum():].any()
    assert np.array_equal(label_of(task.X_test), np.where(known, task.source_test, task.source_test - offset))
    assert set(task.source_test[~known].tolist()) == set(task.unknown_classes)
    c10 = data.load_dataset("cifar10", train=False, root=fake_data_root, download=False)
    c100 = data.load_dataset("cifar100", train=False, root=fake_data_root, download=False)
    assert np.array_equal(task.X_test[known], c10.X[np.isin(c10.y, (0, 1, 8, 9))])
    assert np.array_equal(task.X_test[~known], c100.X[np.isin(c100.y, unknown)])
    same = data.cifar_plus_task(n_unknown, index, root=fake_data_root)
    assert np.array_equal(same.X_train, task.X_train) and np.array_equal(same.y_test, task.y_test)


# ------------------------------------------------------------------ errors
def _own_copy(tmp_path, name):
    """A copy of one fake dataset that a test may break (the shared root stays whole)."""
    write_fake_datasets(tmp_path, per_class=2, names=[name])
    return tmp_path


def _check_clean(err, path):
    """The message names ``path`` and the fixes; no frame of torchvision in the traceback."""
    msg = str(err.value)
    assert str(path) in msg
    assert "download=True" in msg and "OSRKIT_DATA" in msg and "quick=True" in msg
    assert all(name in msg for name in data.OFFLINE_DATASETS)
    assert err.value.__cause__ is None and err.value.__suppress_context__
    assert "site-packages" not in "".join(traceback.format_exception(err.value))
    assert err.traceback[-1].path.name == "torchvision_data.py"
    return msg


MISSING = [("mnist", "MNIST/raw/t10k-labels-idx1-ubyte", True),       # MNIST's training part needs it too
           ("fashion_mnist", "FashionMNIST/raw/train-images-idx3-ubyte", False),
           ("cifar10", "cifar-10-batches-py/data_batch_3", False),    # so does CIFAR's test part
           ("cifar100", "cifar-100-python/meta", True),
           ("svhn", "svhn/test_32x32.mat", False)]


@pytest.mark.parametrize("download", [False, True], ids=["no-download", "download-offline"])
@pytest.mark.parametrize("name, rel, train", MISSING)
def test_a_missing_file_is_named_with_the_fix(name, rel, train, download, tmp_path, skip_md5, network_attempts):
    root = _own_copy(tmp_path, name)
    for path in root.glob(rel + "*"):               # MNIST: the unpacked file and its .gz
        path.unlink()
    with pytest.raises(FileNotFoundError) as err:
        data.load_dataset(name, train=train, root=root, download=download)
    msg = _check_clean(err, root / rel)
    assert f"{root / rel} is missing" in msg and f"delete {root / FOLDERS[name]} (what is left of it)" in msg
    if not download:
        assert not network_attempts and "download=False" in msg
    elif rel.endswith("/meta"):     # torchvision checks only the batches before downloading: it does not try
        assert not network_attempts and "could not be downloaded (RuntimeError: Dataset metadata file" in msg
    else:                           # it tried, and the network failure is reported
        assert network_attempts and "could not be downloaded" in msg and BLOCKED in msg


def test_svhn_parts_are_separate_files(tmp_path, skip_md5):
    root = _own_copy(tmp_path, "svhn")
    (root / "svhn" / "test_32x32.mat").unlink()
    assert len(data.load_dataset("svhn", train=True, root=root, download=False)) == 20
    with pytest.raises(FileNotFoundError, match="test_32x32.mat is missing"):
        data.load_dataset("svhn", train=False, root=root, download=False)


def test_an_empty_data_root_counts_all_the_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        data.load_dataset("cifar10", root=tmp_path, download=False)
    msg = str(err.value)
    assert f"{tmp_path}/cifar-10-batches-py/data_batch_1 is missing (and 6 more of its 7 files)" in msg
    assert f"torchvision downloads it into {tmp_path}/cifar-10-batches-py" in msg and "delete" not in msg


TRUNCATED = [("mnist", "MNIST/raw/t10k-images-idx3-ubyte", False,
              "truncated: 7848 bytes where its header promises 15696"),           # 16 + 20 * 28 * 28 bytes
             ("cifar10", "cifar-10-batches-py/data_batch_3", True, "UnpicklingError: pickle data was truncated"),
             ("cifar100", "cifar-100-python/test", False, "UnpicklingError: pickle data was truncated"),
             ("svhn", "svhn/train_32x32.mat", True, "unreadable, truncated or corrupt")]


@pytest.mark.parametrize("download", [False, True], ids=["no-download", "download-allowed"])
@pytest.mark.parametrize("name, rel, train, problem", TRUNCATED)
def test_a_truncated_file_is_named_with_the_fix(name, rel, train, problem, download, tmp_path, skip_md5,
                                               network_attempts):
    root = _own_copy(tmp_path, name)
    path = root / rel
    path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])
    with pytest.raises(OSError) as err:
        data.load_dataset(name, train=train, root=root, download=download)
    assert type(err.value) is OSError                  # present but broken: not a FileNotFoundError
    msg = _check_clean(err, path)
    assert f"broken file: {path} (" in msg and problem in msg and "delete that file" in msg
    assert not network_attempts                        # a broken file is reported, not downloaded over


def test_a_file_that_parses_but_is_wrong_is_blamed_on_the_folder(tmp_path, skip_md5):
    root = _own_copy(tmp_path, "cifar10")
    with open(root / "cifar-10-batches-py" / "data_batch_2", "wb") as fh:
        pickle.dump({"pixels": []}, fh)
    with pytest.raises(OSError) as err:
        data.load_dataset("cifar10", root=root, download=False)
    msg = _check_clean(err, root / "cifar-10-batches-py")
    assert "could not be read from" in msg and "KeyError: 'data'" in msg


@pytest.mark.parametrize("name, first", [("cifar10", "cifar-10-batches-py/data_batch_1"),
                                          ("svhn", "svhn/train_32x32.mat")])
def test_without_the_md5_bypass_torchvision_rejects_the_fakes_and_says_which_file(name, first, tmp_path):
    root = _own_copy(tmp_path, name)
    with pytest.raises(OSError) as err:
        data.load_dataset(name, root=root, download=False)
    msg = _check_clean(err, root / first)
    assert "md5 checksum does not match" in msg


def test_a_failed_download_into_an_empty_root_says_where_it_would_go(tmp_path, network_attempts):
    with pytest.raises(FileNotFoundError) as err:
        data.load_dataset("mnist", root=tmp_path / "new", download=True)
    msg = _check_clean(err, tmp_path / "new" / "MNIST" / "raw" / "train-images-idx3-ubyte")
    assert network_attempts and BLOCKED in msg and "(and 3 more of its 4 files)" in msg
    assert f"torchvision downloads it into {tmp_path / 'new' / 'MNIST'}" in msg and "delete" not in msg
