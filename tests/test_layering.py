"""The layout's dependency rules (DESIGN.md, "osrkit layout"), read from the source with ast:
the core knows no paper, a method imports the core and at most the softmax baseline, and
no module imports itself back, counting imports inside functions too."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "osrkit"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str) -> set[str]:
    """osrkit modules imported anywhere in ``name`` (top level and inside functions)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("osrkit"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("osrkit"):
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in MODULES else target)
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: _imports(name) for name in MODULES}
CORE = [m for m in MODULES if m.count(".") == 1 and m.split(".")[1] not in ("methods", "studies", "benchmark", "exercises", "book")]
METHODS = [m for m in MODULES if m.startswith("osrkit.methods.") and m.rsplit(".", 1)[1] not in ("base",)]


def test_the_import_reader_sees_relative_and_function_level_imports():
    assert "osrkit.scoring" in GRAPH["osrkit.evaluation"]
    assert "osrkit.data" in GRAPH["osrkit.train"]           # imported inside resolve_cache_dir
    assert "osrkit.methods.softmax" in GRAPH["osrkit.methods.cac"]
    assert {"osrkit.nets", "osrkit.scoring", "osrkit.train"} <= set(CORE)
    assert "osrkit.methods.gmvae" in METHODS


@pytest.mark.parametrize("module", CORE)
def test_the_core_imports_no_method_study_or_benchmark(module):
    upward = {m for m in GRAPH[module] if m.split(".")[1:2] in (["methods"], ["studies"], ["benchmark"], ["exercises"])}
    assert not upward, f"{module} (core) imports {sorted(upward)}"


@pytest.mark.parametrize("module", METHODS)
def test_a_method_imports_the_core_and_at_most_the_softmax_baseline(module):
    allowed = {"osrkit.methods", "osrkit.methods.base", "osrkit.methods.softmax"}
    family = ".".join(module.split(".")[:3])            # a method grown into a subpackage (methods.nas.*)
    other = {m for m in GRAPH[module] if m.startswith("osrkit.methods") and m not in allowed
             and m != family and not m.startswith(family + ".")}
    studies = {m for m in GRAPH[module] if m.startswith(("osrkit.studies", "osrkit.benchmark"))}
    assert not other and not studies, f"{module} imports {sorted(other | studies)}"


def test_no_import_cycles():
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in GRAPH[node]:
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join(path[path.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for module in GRAPH:
        if module not in state:
            visit(module, [module])


def test_no_module_is_over_500_lines():
    long = {name: n for name, path in MODULES.items() if (n := len(path.read_text().splitlines())) > 500}
    assert not long, f"split these by responsibility: {long}"
