"""A lesson saved and reopened shows no "model not found": progress bars become text when
done, and the save hook (osrkit.lab) drops widget views whose model the file lacks."""
import copy
import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from osrkit import explorer, lab

WIDGET_VIEW = lab.WIDGET_VIEW

CELLS = [
    "from osrkit.train import progress_bar\nfor _ in progress_bar(range(3), desc='training'):\n    pass",
    "for _ in progress_bar(range(3), desc='inner', leave=False):\n    pass",
    "import numpy as np\nfrom osrkit import widgets\n"
    "y = np.r_[np.zeros(20, int), np.ones(20, int), -np.ones(20, int)]\n"
    "nov = np.r_[np.linspace(0, 1, 40), np.linspace(0.5, 2, 20)]\n"
    "widgets.threshold_explorer(y, (y > 0).astype(int), nov);",
]


@pytest.fixture(scope="module")
def executed():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    return nb


def test_a_finished_progress_bar_leaves_a_text_line_and_no_widget(executed):
    done, inner = executed.cells[0].outputs, executed.cells[1].outputs
    assert all(WIDGET_VIEW not in o.get("data", {}) for o in done + inner)
    texts = [o["data"]["text/plain"] for o in done if "data" in o]
    assert texts == [texts[0]] and texts[0].startswith("training: 100%") and "3/3" in texts[0]
    assert [o["data"]["text/plain"] for o in inner if "data" in o] == [""]     # leave=False: nothing left


def test_the_save_hook_leaves_the_explorer_its_offline_text(executed):
    nb = json.loads(nbformat.writes(executed))
    nb["metadata"].pop("widgets", None)                       # JupyterLab saves no widget state by default
    views = [o for o in nb["cells"][2]["outputs"] if WIDGET_VIEW in o.get("data", {})]
    assert len(views) == 1
    model = {"type": "notebook", "content": nb}
    lab.pre_save_hook(model=model, path="lesson.ipynb")
    (output,) = [o for o in nb["cells"][2]["outputs"] if "data" in o]
    assert list(output["data"]) == ["text/plain"] and "".join(output["data"]["text/plain"]) == explorer.OFFLINE_TEXT
    nbformat.validate(nbformat.reads(json.dumps(nb), as_version=4))


def test_the_save_hook_keeps_views_whose_model_is_saved(executed):
    nb = json.loads(nbformat.writes(executed))
    state = nb["metadata"]["widgets"][lab.WIDGET_STATE]["state"]
    view = next(o for o in nb["cells"][2]["outputs"] if WIDGET_VIEW in o.get("data", {}))
    assert view["data"][WIDGET_VIEW]["model_id"] in state        # nbclient saved the state
    before = copy.deepcopy(nb)
    assert lab.strip_dead_widget_views(nb) == 0 and nb == before
    lab.pre_save_hook(model={"type": "file", "content": "text"}, path="a.txt")   # other files: untouched


def test_pip_and_make_enable_the_save_hook_in_every_jupyter_server():
    config = json.loads(Path("jupyter-config/jupyter_server_config.d/osrkit.json").read_text())
    assert config == {"ServerApp": {"jpserver_extensions": {"osrkit.lab": True}}}
    assert lab._jupyter_server_extension_points() == [{"module": "osrkit.lab"}]

    class Contents:
        hooks = []

        def register_pre_save_hook(self, hook):
            self.hooks.append(hook)

    class Server:
        contents_manager = Contents()
        log = __import__("logging").getLogger("test")

    lab._load_jupyter_server_extension(Server())
    assert Server.contents_manager.hooks == [lab.pre_save_hook]
