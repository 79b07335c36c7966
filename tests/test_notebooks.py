"""Conventions every lesson notebook must keep (DESIGN.md). nbval itself executes the
notebooks: pytest collects notebooks/*.ipynb through --nbval-lax (pyproject.toml)."""
import ast
import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))
REQUIRED_PARAMETERS = {"quick": True, "seed": 0, "results_dir": "results", "device": "auto", "cache_dir": "auto"}


def test_there_are_lesson_notebooks():
    assert NOTEBOOKS, "no notebooks/NN_*.ipynb found"


@pytest.fixture(params=NOTEBOOKS, ids=lambda p: p.stem)
def cells(request):
    return json.loads(request.param.read_text())["cells"], request.param.stem


def test_opens_with_a_title_cell(cells):
    cells, _ = cells
    assert cells[0]["cell_type"] == "markdown"
    assert "".join(cells[0]["source"]).lstrip().startswith("# ")


def test_first_code_cell_is_the_papermill_parameters_cell(cells):
    cells, _ = cells
    code = [c for c in cells if c["cell_type"] == "code"]
    assert "parameters" in code[0].get("metadata", {}).get("tags", [])
    assigned = {}
    for node in ast.parse("".join(code[0]["source"])).body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            assigned[node.targets[0].id] = node.value.value
    for name, default in REQUIRED_PARAMETERS.items():
        assert assigned.get(name) == default, f"parameters cell must set {name} = {default!r}"


def test_papermill_reads_every_parameter(cells):
    """papermill's parser (used for `papermill --help-notebook` and its warnings) fails on
    lines like `x = 1  # a >= b`: every assigned name must come through."""
    from papermill.translators import PythonTranslator

    cells, _ = cells
    source = "".join(next(c for c in cells if c["cell_type"] == "code")["source"])
    assigned = {n.targets[0].id for n in ast.parse(source).body if isinstance(n, ast.Assign)}
    parsed = {p.name for p in PythonTranslator.inspect({"source": source})}
    assert parsed == assigned


def test_committed_without_outputs(cells):
    cells, _ = cells
    for c in cells:
        if c["cell_type"] == "code":
            assert c["outputs"] == [] and c["execution_count"] is None


def test_records_its_results_under_its_own_name(cells):
    cells, stem = cells
    source = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    assert f'results.record("{stem}"' in source
