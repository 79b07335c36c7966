"""Headline numbers of a notebook run, written to ``{results_dir}/{notebook}.json``
for papermill sweeps, ``make workbook`` and the capstone, with the provenance the
numbers depend on (:func:`provenance`: versions, commit, device, CPU and threads)."""
from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np


def _plain(value: Any, key: str) -> Any:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"result {key!r} is {value}: only finite numbers can be recorded")
        return value
    if isinstance(value, str) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v, key) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v, f"{key}.{k}") for k, v in value.items()}
    raise ValueError(f"result {key!r} has type {type(value).__name__}; record numbers, strings, lists or dicts")


def _umask() -> int:
    """The process's umask (reading it means setting it: set it straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` (creating its folder) through a temporary file and a
    rename, so a reader never sees half a file; returns the path. The file gets the
    permissions of a plainly created one (0666 less the umask), not ``mkstemp``'s 0600, so
    other users of a shared lab machine can read a run's results."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "w", newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_commit() -> str | None:
    """The workbook checkout's commit (``+dirty`` with uncommitted changes), if osrkit runs from one."""
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")


def provenance(device: str | None = "auto") -> dict[str, Any]:
    """What a run's numbers depend on besides its parameters: osrkit's version and commit,
    the torch/numpy/Python versions, the device a ``device`` setting resolves to (a GPU
    by name), the CPU model and the torch thread count (conv-net numbers differ between
    CPUs and thread counts)."""
    import torch

    from . import __version__
    from .train import resolve_device

    resolved = resolve_device(device) if device is not None else None
    gpu = torch.cuda.get_device_name(resolved) if resolved is not None and resolved.type == "cuda" else None
    return {"osrkit": __version__, "commit": _git_commit(), "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version(), "device": gpu or (resolved.type if resolved is not None else None),
            "cpu": _cpu_model(), "cpu_threads": torch.get_num_threads()}


def record(notebook: str, numbers: Mapping[str, Any], results_dir: str | os.PathLike = "results", *,
           parameters: Mapping[str, Any] | None = None, device: str | None = "auto") -> Path:
    """Write ``numbers`` (and, under the key ``"parameters"``, the run's parameters, and under
    ``"provenance"`` :func:`provenance` for ``device``, the notebook's device setting) as
    JSON to ``{results_dir}/{notebook}.json`` atomically; return the path.

    ``notebook`` is the notebook's file stem, e.g. ``"01_open_set_basics_rings"``.
    """
    stem = Path(notebook).stem
    if not stem or Path(notebook).name != str(notebook):
        raise ValueError(f"notebook must be a file stem like '01_open_set_basics_rings', got {notebook!r}")
    if not numbers:
        raise ValueError("numbers is empty: record at least one headline number")
    payload = {str(k): _plain(v, str(k)) for k, v in numbers.items()}
    if parameters is not None:
        payload["parameters"] = _plain(dict(parameters), "parameters")
    payload["provenance"] = provenance(device)
    path = Path(results_dir) / f"{stem}.json"
    write_text_atomic(path, json.dumps(payload, indent=2, sort_keys=True) + "\n")
    return path


def load(notebook: str, results_dir: str | os.PathLike = "results") -> dict[str, Any]:
    """Read back what :func:`record` wrote."""
    path = Path(results_dir) / f"{Path(notebook).stem}.json"
    if not path.exists():
        raise FileNotFoundError(f"no results at {path}: run the notebook {Path(notebook).stem} first")
    return json.loads(path.read_text())
