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


def _tags(cell):
    return set(cell.get("metadata", {}).get("tags", []))


def _hidden(cell):
    return cell.get("metadata", {}).get("jupyter", {}).get("source_hidden") is True


def test_checks_the_environment_right_after_the_parameters(cells):
    cells, _ = cells
    code = [c for c in cells if c["cell_type"] == "code"]
    assert "environment.check_environment(device)" in "".join(code[1]["source"])


def test_parameters_are_never_reassigned_after_the_parameters_cell(cells):
    """`epochs = epochs or …` breaks partial reruns: defaults resolve into new names (settings.resolve)."""
    cells, _ = cells
    code = [c for c in cells if c["cell_type"] == "code"]
    parameters = {n.targets[0].id for n in ast.parse("".join(code[0]["source"])).body if isinstance(n, ast.Assign)}
    for cell in code[1:]:
        source = "\n".join(line for line in "".join(cell["source"]).splitlines() if not line.lstrip().startswith(("%", "!")))
        names = _module_level_assignments(ast.parse(source))
        assert not names & parameters, f"cell {cell['id']} reassigns the parameter(s) {sorted(names & parameters)}"


def _module_level_assignments(tree: ast.AST) -> set[str]:
    """Names a cell binds in the notebook's namespace (not inside a function, class or lambda)."""
    found, todo = set(), list(ast.iter_child_nodes(tree))
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda, ast.ListComp,
                             ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            found.add(node.id)
        todo.extend(ast.iter_child_nodes(node))
    return found


def test_hints_answer_keys_and_going_further_are_collapsed_and_follow_the_core(cells):
    cells, _ = cells
    answer_keys = [i for i, c in enumerate(cells) if "answer-key" in _tags(c)]
    further = [i for i, c in enumerate(cells) if "going-further" in _tags(c)]
    hints = [c for c in cells if c["id"].endswith("-hint")]
    assert answer_keys and further and len(hints) >= 2
    assert all(_hidden(cells[i]) for i in answer_keys + further) and all(_hidden(c) for c in hints)
    assert min(further) > max(answer_keys), "Going further comes after the try-it prompts and their answer key"


def test_glossary_links_point_to_anchors_that_exist(cells):
    import re

    cells, _ = cells
    glossary = (NOTEBOOKS[0].parent / "glossary.md").read_text()
    anchors = set(re.findall(r'<a id="([^"]+)"></a>', glossary))
    links = {m for c in cells if c["cell_type"] == "markdown" for m in re.findall(r"glossary\.md#([\w-]+)", "".join(c["source"]))}
    assert links, "the lesson links no glossary entry"
    assert links <= anchors, f"links to missing glossary entries: {sorted(links - anchors)}"


def test_cites_papers_instead_of_unshipped_paths(cells):
    cells, _ = cells
    text = "".join("".join(c["source"]) for c in cells)
    assert "shared/seeds" not in text and "../shared" not in text
