import gzip
import struct
from urllib.error import URLError

import numpy as np
import pytest

from osrkit import data


def test_unknown_dataset_name_lists_the_valid_ones():
    with pytest.raises(ValueError) as err:
        data.load_dataset("imagenet")
    for name in data.DATASETS:
        assert name in str(err.value)


def test_rings_lie_on_their_annuli_with_balanced_labels():
    ds = data.load_dataset("rings", n_per_class=400, seed=3)
    assert ds.X.shape == (1200, 2) and ds.X.dtype == np.float32
    assert np.bincount(ds.y).tolist() == [400, 400, 400]
    radius = np.linalg.norm(ds.X - data.RING_CENTRES[ds.y], axis=1)
    assert radius.min() >= 0.6 - 1e-6 and radius.max() <= 0.7 + 1e-6
    assert np.allclose(data.distance_to_rings(ds.X), 0.0, atol=1e-6)


def test_rings_are_seeded():
    a, b, c = (data.sample_rings(50, seed=s)[0] for s in (1, 1, 2))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_distance_to_rings_by_hand():
    # centre of ring 1 is 0.6 inside its inner edge; (1, 2) is 1.0 from (1, 1): 0.3 outside the outer edge
    pts = np.array([[1.0, 1.0], [1.0, 2.0], [-1.65, 1.0]])
    assert np.allclose(data.distance_to_rings(pts), [0.6, 0.3, 0.0])


def test_background_points_keep_their_distance_and_stay_in_the_box():
    bg = data.sample_background(2000, seed=0)
    assert bg.shape == (2000, 2)
    assert np.abs(bg).max() <= 2.5
    assert data.distance_to_rings(bg).min() >= 0.15
    # uniform over what is allowed: both far corners are populated
    assert (bg[:, 0] < -2).sum() > 50 and (bg[:, 0] > 2).sum() > 50


def test_offline_image_datasets_have_the_documented_shapes():
    digits = data.load_dataset("digits")
    assert digits.X.shape == (1797, 1, 8, 8) and 0.0 <= digits.X.min() and digits.X.max() <= 1.0
    mnist = data.load_dataset("mnist5k")
    assert mnist.X.shape == (5000, 1, 28, 28) and mnist.X.dtype == np.float32
    assert mnist.X.max() == pytest.approx(1.0) and np.bincount(mnist.y).tolist() == [500] * 10


def test_absent_torchvision_dataset_says_how_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        data.load_dataset("cifar10", root=tmp_path, download=False)
    msg = str(err.value)
    assert str(tmp_path) in msg and "OSRKIT_DATA" in msg and "mnist5k" in msg


def test_failed_download_becomes_a_clear_error(tmp_path, monkeypatch):
    from torchvision import datasets as tvd

    class Offline:
        def __init__(self, root, train=True, download=False):
            if download:
                raise URLError("no network")
            raise RuntimeError("Dataset not found.")

    monkeypatch.setattr(tvd, "MNIST", Offline)
    with pytest.raises(FileNotFoundError, match="could not be downloaded.*URLError"):
        data.load_dataset("mnist", root=tmp_path, download=True)


def _write_idx(path, array, magic_type):
    with gzip.open(path, "wb") as fh:
        fh.write(struct.pack(">HBB", 0, magic_type, array.ndim))
        fh.write(struct.pack(">" + "I" * array.ndim, *array.shape))
        fh.write(array.astype(np.uint8).tobytes())


def test_mnist_files_in_the_data_root_are_read_without_network(tmp_path, monkeypatch):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    images = np.zeros((3, 28, 28), np.uint8)
    images[1, 5, 7] = 255
    for split in ("train", "t10k"):
        _write_idx(raw / f"{split}-images-idx3-ubyte.gz", images, 0x08)
        _write_idx(raw / f"{split}-labels-idx1-ubyte.gz", np.array([4, 0, 9]), 0x08)
    for f in raw.glob("*.gz"):  # torchvision reads the unpacked files
        (raw / f.stem).write_bytes(gzip.decompress(f.read_bytes()))
    monkeypatch.setenv("OSRKIT_DATA", str(tmp_path))
    ds = data.load_dataset("mnist", download=False)
    assert ds.X.shape == (3, 1, 28, 28) and ds.X[1, 0, 5, 7] == 1.0 and ds.X.sum() == 1.0
    assert ds.y.tolist() == [4, 0, 9]


def test_data_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("OSRKIT_DATA", str(tmp_path))
    assert data.data_root() == tmp_path
    monkeypatch.delenv("OSRKIT_DATA")
    assert data.data_root().name == "data"


# ------------------------------------------------------------------ splits
def _pool(n_per_class=50, classes=10):
    y = np.repeat(np.arange(classes), n_per_class)
    X = np.arange(len(y), dtype=np.float32)[:, None]  # each row remembers its index
    return X, y


def test_split_never_leaks_unknown_classes_into_train_or_val():
    X, y = _pool()
    known = data.standard_split(1)
    split = data.open_set_split(X, y, known, seed=0)
    for Xp in (split.X_train, split.X_val):
        original = y[Xp[:, 0].astype(int)]
        assert set(original) <= set(known)
    unknown_rows = split.y_test == -1
    assert set(y[split.X_test[unknown_rows, 0].astype(int)]) == set(split.unknown_classes)
    assert split.unknown_classes == (1, 2, 4, 6)


def test_split_relabels_known_classes_in_order_and_is_disjoint_and_stratified():
    X, y = _pool()
    split = data.open_set_split(X, y, [7, 3], val_fraction=0.2, test_fraction=0.3, seed=1)
    assert np.array_equal(y[split.X_train[:, 0].astype(int)], np.array([7, 3])[split.y_train])  # 7 -> 0, 3 -> 1
    idx = [set(p[:, 0].astype(int)) for p in (split.X_train, split.X_val, split.X_test)]
    assert not (idx[0] & idx[1]) and not (idx[0] & idx[2]) and not (idx[1] & idx[2])
    # 50 per class: 15 test, 7 val, 28 train for each known class
    assert np.bincount(split.y_train).tolist() == [28, 28]
    assert np.bincount(split.y_val).tolist() == [7, 7]
    assert (split.y_test == -1).sum() == 8 * 15


def test_split_is_seeded():
    X, y = _pool()
    a = data.open_set_split(X, y, [0, 1, 2], seed=5)
    b = data.open_set_split(X, y, [0, 1, 2], seed=5)
    c = data.open_set_split(X, y, [0, 1, 2], seed=6)
    assert np.array_equal(a.X_train, b.X_train) and not np.array_equal(a.X_train, c.X_train)


def test_split_with_an_official_test_set_uses_it_whole():
    X, y = _pool(20, 4)
    X_te, y_te = np.zeros((6, 1), np.float32), np.array([0, 1, 2, 3, 3, 0])
    split = data.open_set_split(X, y, [0, 3], X_test=X_te, y_test=y_te, val_fraction=0.25)
    assert split.y_test.tolist() == [0, -1, -1, 1, 1, 0]
    assert len(split.y_train) + len(split.y_val) == 40


def test_grouped_known_classes_merge_labels_and_keep_the_source_digits():
    """Paper 000 §5.3: "even" = {0, 2}, "odd" = {1, 3}; each digit split on its own."""
    X, y = _pool()
    split = data.open_set_split(X, y, [(0, 2), (1, 3)], val_fraction=0.2, test_fraction=0.3, seed=0)
    assert split.known_classes == ((0, 2), (1, 3)) and split.unknown_classes == (4, 5, 6, 7, 8, 9)
    assert np.array_equal(split.source_train, y[split.X_train[:, 0].astype(int)])
    assert np.array_equal(split.y_train, np.array([0, 1, 0, 1])[split.source_train])
    assert np.bincount(split.source_train).tolist() == [28, 28, 28, 28]      # balanced digits
    assert np.bincount(split.y_val).tolist() == [14, 14]
    unknown = split.y_test == -1
    assert np.array_equal(split.source_test, y[split.X_test[:, 0].astype(int)])
    assert set(split.source_test[unknown]) == set(range(4, 10)) and set(split.source_test[~unknown]) == {0, 1, 2, 3}
    with pytest.raises(ValueError, match="duplicates"):
        data.open_set_split(X, y, [(0, 2), (2, 3)])


@pytest.mark.parametrize("kwargs, message", [
    ({"known_classes": []}, "empty"),
    ({"known_classes": [(0, 1), ()]}, "empty"),
    ({"known_classes": [0, 0]}, "duplicates"),
    ({"known_classes": [0, 12]}, "do not occur"),
    ({"known_classes": [0], "val_fraction": 1.0}, "val_fraction"),
    ({"known_classes": [0], "test_fraction": -0.1}, "test_fraction"),
])
def test_split_rejects_bad_arguments(kwargs, message):
    X, y = _pool()
    with pytest.raises(ValueError, match=message):
        data.open_set_split(X, y, **kwargs)


def test_standard_splits_are_the_five_of_neal_et_al():
    assert data.standard_split(0) == (0, 1, 2, 4, 5, 9)
    assert data.standard_split(4) == (0, 1, 2, 3, 7, 8)
    assert all(len(s) == 6 for s in data.STANDARD_SPLITS)
    for bad in (5, -1, "0", 1.0, True):
        with pytest.raises(ValueError, match="split must be an integer"):
            data.standard_split(bad)


def test_openness_formulas_by_hand():
    assert data.openness_spigler(6, 10) == pytest.approx(1 - np.sqrt(0.6))
    assert data.openness_spigler(10, 10) == 0.0
    assert data.openness_scheirer(6, 10) == pytest.approx(1 - np.sqrt(12 / 16))
    assert data.openness_scheirer(6, 10, 6) == data.openness_scheirer(6, 10)
    with pytest.raises(ValueError):
        data.openness_spigler(11, 10)
    with pytest.raises(ValueError):
        data.openness_scheirer(0, 10)


def test_subsample_per_class_keeps_at_most_n_of_each_class_in_order():
    y = np.array([0] * 10 + [1] * 3 + [2] * 7)
    X = np.arange(len(y))[:, None].astype(np.float32)
    Xs, ys = data.subsample_per_class(X, y, 5, seed=1)
    assert np.bincount(ys).tolist() == [5, 3, 5]
    assert np.all(np.diff(Xs[:, 0]) > 0) and np.array_equal(y[Xs[:, 0].astype(int)], ys)
    assert np.array_equal(data.subsample_per_class(X, y, 5, seed=1)[0], Xs)
    assert len(data.subsample_per_class(X, y, None)[1]) == 20
    with pytest.raises(ValueError, match="positive integer"):
        data.subsample_per_class(X, y, 0)


def test_cifar_plus_tasks_take_vehicles_as_known_and_cifar100_animals_as_unknown(monkeypatch):
    """CIFAR+10 from fake CIFAR-10/100 arrays: each image carries its source label in its
    pixels, so the test checks which images went where, not only the labels."""
    def fake(name, *, train=True, root=None, **_):
        classes = 10 if name == "cifar10" else 100
        y = np.repeat(np.arange(classes), 20 if train else 3)
        X = np.broadcast_to((y + (1000 if name == "cifar100" else 0)).astype(np.float32)[:, None, None, None],
                            (len(y), 3, 2, 2)).copy()
        return data.Dataset(X, y, name, tuple(map(str, range(classes))))

    monkeypatch.setattr(data, "load_dataset", fake)
    task = data.standard_task("cifar+10", 1, seed=0)
    unknown = data.CIFAR_PLUS_UNKNOWN[10][1]
    assert task.dataset == "cifar+10" and task.known_classes == (0, 1, 8, 9)
    assert sorted(np.unique(task.X_train[:, 0, 0, 0]).tolist()) == [0, 1, 8, 9]     # CIFAR-10 vehicles only
    assert task.y_train.tolist().count(3) == 18 and len(task.y_val) == 8           # 10% of 80 to validation
    known, pixels = task.y_test >= 0, task.X_test[:, 0, 0, 0]
    assert sorted(set(pixels[known].tolist())) == [0, 1, 8, 9] and known.sum() == 12
    assert sorted(set(pixels[~known].tolist())) == sorted(1000 + c for c in unknown) and (~known).sum() == 30
    assert task.unknown_classes == tuple(10 + c for c in unknown)
    assert np.array_equal(task.source_test[~known], pixels[~known] - 1000 + 10)
    assert len(set(data.CIFAR_PLUS_UNKNOWN[50][0])) == 50
    with pytest.raises(ValueError, match="standard splits are defined for"):
        data.standard_task("cifar+20", 0)
    with pytest.raises(ValueError, match="split must be an integer in 0..4"):
        data.cifar_plus_task(10, 5)
