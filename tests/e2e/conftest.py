"""Fixtures of the browser test: one JupyterLab server and one Chromium for the session,
the lessons to test (``--lessons 01,04``), and the latency table printed at the end
(``build/e2e/latency.md`` and ``.json``)."""
from __future__ import annotations

import json
import shutil
import statistics
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import lab  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
OUT = ROOT / "build" / "e2e"

#: (lesson, explorer, slider) -> milliseconds of each keyboard move and each drag.
LATENCY: dict[tuple[str, str, str], dict[str, list[float]]] = {}

#: Targets of the issue on a 2-core laptop CPU (a benchmark, not a timed assertion).
TARGET_MEDIAN_MS, TARGET_MAX_MS = 150, 400


def pytest_addoption(parser):
    parser.addoption("--lessons", default="", help="comma-separated lesson numbers to test in the browser "
                     "(default: every lesson in notebooks/)")


def lessons(config) -> list[str]:
    chosen = [p.strip() for p in config.getoption("--lessons").split(",") if p.strip()]
    names = sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    picked = [n for n in names if not chosen or n[:2] in chosen]
    unknown = set(chosen) - {n[:2] for n in names}
    if unknown:
        raise pytest.UsageError(f"--lessons: no lesson {sorted(unknown)}; the lessons are {[n[:2] for n in names]}")
    return picked


def pytest_generate_tests(metafunc):
    if "notebook" in metafunc.fixturenames:
        picked = lessons(metafunc.config)
        metafunc.parametrize("notebook", picked, ids=[n[:2] for n in picked])


@pytest.fixture(scope="session")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the browser test needs Playwright: pip install playwright (make installs it)")
    executable = lab.find_browser()
    if executable is None:
        pytest.skip("no Chromium found: apt-get install chromium (Debian), or set OSRKIT_CHROMIUM to a "
                    "Chromium or Chrome binary; Playwright's own browser download is not used")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=executable, args=lab.CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def jupyter_lab():
    """JupyterLab serving a fresh copy of the lessons (the test saves them)."""
    work = OUT / "work"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(NOTEBOOKS, work, ignore=shutil.ignore_patterns("results", ".ipynb_checkpoints"))
    state = OUT / "state"
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir(parents=True)
    server = lab.LabServer(work, state)
    yield server
    server.stop()


def latency_rows() -> list[dict]:
    rows = []
    for (lesson, explorer, slider), moves in LATENCY.items():
        keys, drags = moves["keyboard"], moves["drag"]
        rows.append({"lesson": lesson, "explorer": explorer, "slider": slider, "moves": len(keys),
                     "median_ms": round(statistics.median(keys), 1), "max_ms": round(max(keys), 1),
                     "drag_ms": [round(d, 1) for d in drags],
                     "meets_target": statistics.median(keys) <= TARGET_MEDIAN_MS and max(keys + drags) <= TARGET_MAX_MS})
    return rows


def pytest_terminal_summary(terminalreporter):
    rows = latency_rows()
    if not rows:
        return
    lines = [f"Slider move → redrawn explorer, in ms (target: median ≤ {TARGET_MEDIAN_MS}, max ≤ {TARGET_MAX_MS})",
             "", "| lesson | explorer | slider | keyboard moves | median | max | drags | target |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['lesson']} | {r['explorer']} | {r['slider']} | {r['moves']} | {r['median_ms']:.0f} | "
                     f"{r['max_ms']:.0f} | {', '.join(f'{d:.0f}' for d in r['drag_ms'])} | "
                     f"{'met' if r['meets_target'] else 'missed'} |")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "latency.md").write_text("\n".join(lines) + "\n")
    (OUT / "latency.json").write_text(json.dumps(rows, indent=1))
    terminalreporter.write_sep("=", "explorer latency (also in build/e2e/latency.md)")
    for line in lines:
        terminalreporter.write_line(line)
