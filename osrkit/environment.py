"""The second cell of every lesson: is this kernel ready to run the workbook?

It reports the versions, the device a lesson will use and whether the ipywidgets front end
is installed, each with the fix when something is missing, so a lab's first failure is a
sentence and not a traceback.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

WIDGETS_FIX = ("sliders need the ipywidgets front end in the environment that runs JupyterLab (the server): "
               "`pip install 'ipywidgets>=8' jupyterlab_widgets` there and reload the page; the plain cell "
               "after each widget still draws its figure without it")


def widgets_frontend_installed(prefixes: list[str] | None = None) -> bool:
    """Whether the JupyterLab widget manager is installed: the ``jupyterlab_widgets`` package
    or its lab extension under one of ``prefixes`` (default: this Python's prefixes)."""
    if prefixes is None:
        if importlib.util.find_spec("jupyterlab_widgets") is not None:
            return True
        prefixes = [sys.prefix, sys.base_prefix]
    extension = Path("share", "jupyter", "labextensions", "@jupyter-widgets", "jupyterlab-manager")
    return any((Path(p) / extension).is_dir() for p in prefixes)


def check_environment(device: str = "auto") -> dict[str, object]:
    """Print what a lesson will run on, with a fix for anything missing; return it as a dict.
    Raises a ``RuntimeError`` that says what to do only when the lesson cannot run at all
    (a device that is not there)."""
    import numpy
    import torch

    import osrkit
    from osrkit import train

    try:
        resolved = train.resolve_device(device)
    except (ValueError, RuntimeError) as err:
        raise RuntimeError(f"device={device!r} is not usable here ({err}); set device = \"auto\" in the "
                           f"parameters cell to use a GPU when there is one, else the CPU") from err
    report = {"python": sys.version.split()[0], "osrkit": osrkit.__version__, "torch": torch.__version__,
              "numpy": numpy.__version__, "device": str(resolved), "cpu_threads": torch.get_num_threads(),
              "widgets": widgets_frontend_installed()}
    print(f"osrkit {report['osrkit']} · Python {report['python']} · torch {report['torch']} · "
          f"numpy {report['numpy']}")
    print(f"device: {resolved}" + (f" ({torch.get_num_threads()} CPU threads)" if resolved.type == "cpu" else ""))
    print("widgets: front end installed" if report["widgets"] else f"widgets: NOT FOUND: {WIDGETS_FIX}")
    return report
