"""The rendered workbook (osrkit.book): built with Sphinx from executed lessons — here the
committed lessons with outputs added (a figure, a widget), so the build takes seconds —
and checked: every page, every image, every internal link and anchor, nothing loaded from
the network."""
from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pytest

from osrkit import book, results, workbook

NOTEBOOKS = workbook.WORKBOOK_ROOT / "notebooks"
#: a 1×1 PNG, what a figure output holds
PNG = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8cfc0f01f0005000201a3b1c0a40000000049454e44ae426082")).decode()
WIDGET = {"output_type": "display_data", "metadata": {},
          "data": {"text/plain": "Explorer(children=(...))",
                   book.WIDGET_MIME: {"model_id": "abc", "version_major": 2, "version_minor": 0}}}


def _executed_copy(lesson: Path) -> dict:
    """The lesson as papermill would leave it: an injected-parameters cell, a figure
    output on its first code cell after the parameters, a widget on the last code cell."""
    nb = json.loads(lesson.read_text())
    code = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"]
    nb["cells"][code[1]]["outputs"] = [{"output_type": "display_data", "metadata": {},
                                        "data": {"image/png": PNG, "text/plain": "<Figure>"}}]
    nb["cells"][code[-1]]["outputs"] = [WIDGET]
    injected = {"cell_type": "code", "execution_count": None, "id": "injected", "outputs": [],
                "metadata": {"tags": ["injected-parameters"]}, "source": ["quick = True\n"]}
    nb["cells"].insert(code[0] + 1, injected)
    nb["metadata"]["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    return nb


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    build = tmp_path_factory.mktemp("build")
    (build / "notebooks").mkdir()
    lessons = workbook.find_notebooks(NOTEBOOKS)
    for lesson in lessons:
        (build / "notebooks" / lesson.name).write_text(json.dumps(_executed_copy(lesson)))
    results.record("04_cac_anchors", {"auroc_cac": 0.91234, "acc_cac": 0.98, "auroc_grid": {"a": 1.0}},
                   build / "results", parameters={"quick": True, "seed": 0})
    rows = [{"key": key, "method": key.split("/")[0], "rule": key.split("/")[1], "dataset": "mnist5k",
             "split": split, "seed": 0, "auroc": auroc + 0.01 * split, "oscr": 0.8, "macro_f1": 0.7,
             "closed_accuracy": 0.97}
            for key, auroc in (("softmax/MSP", 0.85), ("cac/CAC", 0.9)) for split in (0, 1)]
    results.record("07_capstone_benchmark", {"rows": rows, "auroc_cac": 0.905}, build / "results")
    pages = book.prepare(NOTEBOOKS, build, build / "book_src")
    book.build_html(build / "book_src", build / "book")
    return build / "book", pages


def test_every_page_image_and_internal_link_resolves(site):
    out, pages = site
    assert pages == [p.stem for p in workbook.find_notebooks(NOTEBOOKS)]
    assert book.check_site(out, [*pages, "glossary", "references", "capstone_table"]) == []
    assert all('src="_images/' in (out / f"{p}.html").read_text() for p in pages)   # each lesson's figure
    assert (out / "_static" / "mathjax" / "MathJax.js").exists()


def test_lesson_pages_show_the_run_hint_numbers_and_widget_notes(site):
    out, _ = site
    page = (out / "04_cac_anchors.html").read_text()
    assert "jupyter lab notebooks/04_cac_anchors.ipynb" in page and "make lab" in page
    assert "<code>auroc_cac</code></td><td>0.912</td>" in page      # headline numbers, rounded
    assert "auroc_grid" not in page.split("osrkit-run-hint")[1][:2000]  # tables are left out
    assert "sliders need a live kernel" in page and "widget-view" not in page
    assert "osrkit-run-hint" in (out / "01_open_set_basics_rings.html").read_text()   # no results: the hint alone


def test_front_page_glossary_bibliography_and_capstone_table(site):
    out, pages = site
    index = (out / "index.html").read_text()
    assert all(f'href="{p}.html"' in index for p in pages)
    assert "Class Anchor Clustering" in index and "Spigler" in index and "CC BY 4.0" in index
    glossary = (out / "glossary.html").read_text()
    assert 'id="auroc"' in glossary and 'id="weibull"' in glossary
    lesson = (out / "01_open_set_basics_rings.html").read_text()
    assert 'href="glossary.html#openness"' in lesson
    references = (out / "references.html").read_text()
    assert references.count("arxiv.org/abs/") >= 4
    table = (out / "capstone_table.html").read_text()
    assert "cac/CAC" in table and "0.905 ± 0.007" in table            # mean ± std over the two splits


def test_check_site_finds_broken_links_missing_images_and_network_loads(tmp_path):
    (tmp_path / "index.html").write_text(
        '<a href="other.html">x</a> <a href="#here">y</a> <a href="https://example.org">ok</a>'
        '<img src="_images/gone.png"> <script src="https://cdn.example.org/mathjax.js"></script>')
    (tmp_path / "lesson.html").write_text('<p id="here"></p><a href="index.html#nowhere">z</a>')
    problems = book.check_site(tmp_path, ["lesson", "absent"])
    assert problems == ["missing page absent.html",
                        "index.html refers to _images/gone.png, which is not in the site",
                        "index.html loads https://cdn.example.org/mathjax.js from the network",
                        "index.html links to other.html: no such page",
                        "index.html links to #here: no anchor #here there",
                        "lesson.html links to index.html#nowhere: no anchor #nowhere there"]


def test_a_lesson_is_current_only_with_its_own_cells_and_results(tmp_path):
    lesson = workbook.find_notebooks(NOTEBOOKS, ["04"])[0]
    executed = tmp_path / "notebooks" / lesson.name
    executed.parent.mkdir()
    executed.write_text(json.dumps(_executed_copy(lesson)))
    assert not book.is_current(lesson, executed, tmp_path / "results")         # no results JSON yet
    results.record(lesson.stem, {"x": 1.0}, tmp_path / "results")
    assert book.is_current(lesson, executed, tmp_path / "results")             # outputs and injected cell ignored
    edited = tmp_path / "edited" / lesson.name
    edited.parent.mkdir()
    nb = json.loads(lesson.read_text())
    nb["cells"][-1]["source"] = ["numbers = {}\n"]
    edited.write_text(json.dumps(nb))
    assert not book.is_current(edited, executed, tmp_path / "results")
    notebooks = tmp_path / "nbs"
    notebooks.mkdir()
    shutil.copy(lesson, notebooks / lesson.name)
    assert book.stale_lessons(notebooks, tmp_path) == []
