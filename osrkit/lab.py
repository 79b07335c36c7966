"""A Jupyter server extension: a saved lesson reopens without "model not found".

A widget's output in a notebook file is only a reference to a model that lives in the
kernel; JupyterLab does not save the models (unless "Save Widget State Automatically" is
on), so a lesson saved and reopened shows "Error displaying widget: model not found" in
every explorer and progress-bar cell. This extension registers a pre-save hook that
drops each widget view whose model the file does not carry, keeping the output's plain
text: an explorer's says "run this cell to explore" (:data:`osrkit.explorer.OFFLINE_TEXT`).
The open notebook keeps its live widgets; only the file changes.

``pip install`` enables it for every Jupyter server of the environment
(``etc/jupyter/jupyter_server_config.d/osrkit.json``); ``make lab`` also names it.
"""
from __future__ import annotations

from typing import Any

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"

#: The text left where a widget view had no plain-text form of its own.
NO_KERNEL_TEXT = "[an interactive widget: run this cell to show it again]"


def strip_dead_widget_views(notebook: dict) -> int:
    """Remove from ``notebook`` (nbformat 4, as a dict) every widget view whose model is not
    in the notebook's saved widget state; returns how many were removed."""
    state = notebook.get("metadata", {}).get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    removed = 0
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs") or []:
            data = output.get("data") or {}
            view = data.get(WIDGET_VIEW)
            if view is not None and view.get("model_id") not in state:
                del data[WIDGET_VIEW]
                data.setdefault("text/plain", NO_KERNEL_TEXT)
                removed += 1
    return removed


def pre_save_hook(model: dict, **_kwargs: Any) -> None:
    """The contents manager's pre-save hook: notebooks only."""
    if model.get("type") == "notebook" and isinstance(model.get("content"), dict):
        strip_dead_widget_views(model["content"])


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "osrkit.lab"}]


def _load_jupyter_server_extension(serverapp) -> None:
    serverapp.contents_manager.register_pre_save_hook(pre_save_hook)
    serverapp.log.info("osrkit: saved notebooks keep no widget views without a model")
