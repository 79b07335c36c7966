import json
import os
import stat

import numpy as np
import pytest

from osrkit import results


def test_record_writes_plain_json_and_reads_back(tmp_path):
    path = results.record("01_open_set_basics_rings",
                          {"auroc_dae": np.float32(0.5), "n": np.int64(3), "runtime_s": 1.25},
                          tmp_path / "res", parameters={"seed": 0, "quick": True})
    assert path == tmp_path / "res" / "01_open_set_basics_rings.json"
    payload = json.loads(path.read_text())
    assert results.load("01_open_set_basics_rings", tmp_path / "res") == payload
    assert payload.pop("provenance")["osrkit"]
    assert payload == {"auroc_dae": 0.5, "n": 3, "runtime_s": 1.25, "parameters": {"seed": 0, "quick": True}}
    assert [p.name for p in (tmp_path / "res").iterdir()] == [path.name]  # no temp file left behind


def test_record_overwrites_atomically(tmp_path):
    results.record("x", {"a": 1.0}, tmp_path)
    results.record("x", {"a": 2.0}, tmp_path)
    assert results.load("x", tmp_path)["a"] == 2.0


@pytest.mark.parametrize("numbers", [{"a": float("nan")}, {"a": object()}, {}])
def test_record_refuses_what_json_cannot_hold(tmp_path, numbers):
    with pytest.raises(ValueError):
        results.record("x", numbers, tmp_path)
    assert not (tmp_path / "x.json").exists()


def test_record_wants_a_file_stem(tmp_path):
    with pytest.raises(ValueError, match="file stem"):
        results.record("../x", {"a": 1}, tmp_path)


def test_load_says_which_notebook_to_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="run the notebook 02_x"):
        results.load("02_x", tmp_path)


def test_every_record_carries_the_provenance_its_numbers_depend_on(tmp_path):
    import platform

    import torch

    import osrkit

    with __import__("osrkit.train", fromlist=["cpu_threads"]).cpu_threads(1):
        saved = json.loads(results.record("01_x", {"a": 1.0}, tmp_path, device="cpu").read_text())["provenance"]
    assert saved["osrkit"] == osrkit.__version__ and saved["torch"] == torch.__version__
    assert saved["numpy"] == np.__version__ and saved["python"] == platform.python_version()
    assert saved["device"] == "cpu" and saved["cpu_threads"] == 1 and saved["cpu"]
    assert saved["commit"] is None or len(saved["commit"].split("+")[0]) == 12     # a checkout: its commit


def test_atomic_writes_get_the_permissions_of_a_plainly_created_file(tmp_path):
    old = os.umask(0o022)
    try:
        path = results.write_text_atomic(tmp_path / "numbers.json", "{}")
        plain = tmp_path / "plain.json"
        plain.write_text("{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode) == 0o644
    assert path.read_text() == "{}"
