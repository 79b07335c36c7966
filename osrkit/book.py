"""The rendered workbook: every lesson executed in quick mode, as a static website.

    python -m osrkit.book                 # (make book) run the lessons that are not current, build build/book/
    python -m osrkit.book --no-run        # build from whatever build/notebooks holds; fail on a missing lesson

A lesson is *current* when ``build/notebooks`` holds an executed copy whose cells are the
lesson's own (what papermill injected aside) and its results JSON exists; the others are
run with :mod:`osrkit.workbook` (which loads the trained networks from the checkpoint
cache). The site's sources are assembled in ``build/book_src``: the Sphinx configuration
and pages of ``book/``, the glossary, a page for the capstone's table, and each executed
lesson with a "run it yourself" note and its headline numbers after the title, and each
widget replaced by a note (the plain figure after it stays). Sphinx with myst-nb then
builds ``build/book``, MathJax is copied in from ``jupyter_server_mathjax``, and
:func:`check_site` checks that every page, image and internal link resolves and that no
page loads anything from the network.
"""
from __future__ import annotations

import argparse
import copy
import json
import re
import shutil
import sys
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import unquote, urlsplit

from . import results, workbook

BOOK_SOURCE = workbook.WORKBOOK_ROOT / "book"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_NOTE = ('<div class="osrkit-widget-note"><b>Interactive explorer.</b> Its sliders need a live kernel: '
               'open the lesson in JupyterLab (<code>make lab</code>). The plain figure below shows its '
               'starting view.</div>')
CAPSTONE = "07_capstone_benchmark"


def _cell_sources(nb: dict) -> list[tuple[str, str]]:
    """(type, source) of every cell but papermill's injected parameters."""
    return [(c["cell_type"], "".join(c["source"]) if isinstance(c["source"], list) else c["source"])
            for c in nb["cells"] if "injected-parameters" not in c.get("metadata", {}).get("tags", [])]


def is_current(lesson: Path, executed: Path, results_dir: Path) -> bool:
    """Whether ``executed`` is a run of ``lesson`` as it is now, with its results recorded."""
    if not executed.exists() or not (results_dir / f"{lesson.stem}.json").exists():
        return False
    return _cell_sources(json.loads(executed.read_text())) == _cell_sources(json.loads(lesson.read_text()))


def stale_lessons(notebooks_dir: Path, build: Path) -> list[Path]:
    """The lessons whose executed copy in ``build`` is missing or out of date."""
    return [nb for nb in workbook.find_notebooks(notebooks_dir)
            if not is_current(nb, build / "notebooks" / nb.name, build / "results")]


def headline_numbers(numbers: dict[str, Any]) -> dict[str, Any]:
    """The scalar numbers a lesson recorded (lists, tables and provenance left out)."""
    return {k: v for k, v in numbers.items() if k not in ("parameters", "provenance")
            and isinstance(v, (int, float)) and not isinstance(v, bool)}


def _format(value: float | int) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:.3f}"


def run_hint(lesson: Path, recorded: dict[str, Any] | None) -> str:
    """The note after a lesson's title: how to open it in JupyterLab, and its headline numbers."""
    lines = [f'<div class="osrkit-run-hint"><b>Run it yourself:</b> <code>make lab</code> (or '
             f'<code>jupyter lab notebooks/{lesson.name}</code>) in a checkout of the workbook; '
             f'<code>make workbook ARGS="--only {lesson.stem[:2]}"</code> reruns it with papermill.']
    if recorded:
        numbers = headline_numbers(recorded)
        prov = recorded.get("provenance", {})
        where = ", ".join(str(prov[k]) for k in ("device", "cpu") if prov.get(k))
        params = recorded.get("parameters", {})
        mode = "quick" if params.get("quick", True) else "full"
        lines.append(f"<br>This page: {mode} mode, seed {params.get('seed', 0)}"
                     + (f", on {where} ({prov.get('cpu_threads')} threads)" if where else "")
                     + (f", osrkit commit <code>{prov['commit']}</code>" if prov.get("commit") else "")
                     + ". Headline numbers from its results JSON:")
        cells = "".join(f"<tr><td><code>{k}</code></td><td>{_format(v)}</td></tr>" for k, v in numbers.items())
        lines.append(f"<table>{cells}</table>")
    return "\n".join(lines) + "</div>"


def page_notebook(executed: dict, lesson: Path, recorded: dict[str, Any] | None) -> dict:
    """An executed lesson as a page: the run hint after the title, each widget output
    replaced by :data:`WIDGET_NOTE`, no widget state (nothing for a browser to fetch)."""
    nb = copy.deepcopy(executed)
    nb.get("metadata", {}).pop("widgets", None)
    note = {"output_type": "display_data", "metadata": {}, "data": {"text/html": WIDGET_NOTE}}
    for cell in nb["cells"]:
        if "outputs" in cell:
            cell["outputs"] = [note if WIDGET_MIME in out.get("data", {}) else out for out in cell["outputs"]]
    hint = {"cell_type": "markdown", "metadata": {}, "source": run_hint(lesson, recorded)}
    if nb["nbformat_minor"] >= 5:
        hint["id"] = "osrkit-run-hint"
    nb["cells"].insert(1, hint)
    return nb


def lesson_title(nb: dict) -> str:
    """The lesson's title: its first heading, without "Lesson NN —"."""
    first = _cell_sources(nb)[0][1]
    title = re.search(r"^#\s+(.+)$", first, re.M)
    return re.sub(r"^Lesson \d+\s*[—-]\s*", "", title.group(1).strip()) if title else first.strip()


def capstone_page(rows: Sequence[dict[str, Any]]) -> str:
    """The capstone's table (:func:`osrkit.benchmark.table`) of the benchmark ``rows`` that
    lesson 07 recorded (its results JSON), one table per dataset."""
    from . import benchmark

    lines = ["# The capstone's table", ""]
    if not rows:
        return "\n".join(lines + ["No benchmark rows in this build: run lesson 07 (`make workbook ARGS=\"--only 07\"`)."])
    lines += [f"Every rule of every method on the same standard splits, from [lesson 07]({CAPSTONE}.ipynb): "
              "mean ± standard deviation over the splits and seeds run, beside the papers' own numbers where they "
              "report one (on the real dataset the quick one stands in for).", ""]
    for dataset in sorted({row["dataset"] for row in rows}):
        frame = benchmark.table(rows, dataset)
        lines += [f"## {dataset}", "", frame.to_html(classes="osrkit-table", border=0), ""]
    return "\n".join(lines)


def prepare(notebooks_dir: Path, build: Path, src: Path) -> list[str]:
    """Assemble the site's sources in ``src``; returns the lesson page names in order."""
    if src.exists():
        shutil.rmtree(src)
    shutil.copytree(BOOK_SOURCE, src)
    glossary = (notebooks_dir / "glossary.md").read_text()     # <a id="x"></a> anchors as MyST targets (x)=
    (src / "glossary.md").write_text(re.sub(r'^<a id="([^"]+)"></a>$', r"(\1)=", glossary, flags=re.M))
    lessons = workbook.find_notebooks(notebooks_dir)
    pages, table, capstone_rows = [], ["| lesson | what it is about |", "|---|---|"], []
    for lesson in lessons:
        executed = build / "notebooks" / lesson.name
        if not executed.exists():
            raise FileNotFoundError(f"no executed copy of {lesson.name} in {executed.parent}: run `make workbook` "
                                    f"(or `python -m osrkit.book` without --no-run)")
        try:
            recorded = results.load(lesson.stem, build / "results")
        except FileNotFoundError:
            recorded = None
        if lesson.stem == CAPSTONE and recorded:
            capstone_rows = recorded.get("rows", [])
        nb = page_notebook(json.loads(executed.read_text()), lesson, recorded)
        (src / lesson.name).write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
        pages.append(lesson.stem)
        table.append(f"| [{lesson.stem[:2]}]({lesson.name}) | {lesson_title(nb)} |")
    index = (src / "index.md").read_text()
    index = index.replace("<!-- osrkit.book: lesson map -->", "\n".join(table))
    index = index.replace("<!-- osrkit.book: toctree -->", "\n".join(pages))
    (src / "index.md").write_text(index)
    (src / "capstone_table.md").write_text(capstone_page(capstone_rows))
    return pages


def vendor_mathjax(out: Path) -> Path:
    """MathJax 2 from the ``jupyter_server_mathjax`` package into ``out/_static/mathjax``."""
    import jupyter_server_mathjax

    source = Path(jupyter_server_mathjax.__file__).parent / "static"
    target = out / "_static" / "mathjax"
    if not target.exists():
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("*.md", "unpacked", "test"))
    return target


def build_html(src: Path, out: Path, *, quiet: bool = True) -> None:
    """Sphinx (myst-nb) from ``src`` into ``out``; raises if Sphinx reports a failure."""
    from sphinx.cmd.build import build_main

    args = ["-b", "html", "-j", "1", "-d", str(src / ".doctrees"), *(["-q"] if quiet else []), str(src), str(out)]
    status = build_main(args)
    if status:
        raise RuntimeError(f"sphinx-build failed with status {status} (sources in {src})")
    vendor_mathjax(out)


class _Refs(HTMLParser):
    """The ids, links and loaded resources of one HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.resources: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "a" and "name" in a:
            self.ids.add(a["name"])
        if tag == "a" and "href" in a:
            self.links.append(a["href"])
        if tag in ("img", "script", "iframe", "source") and a.get("src"):
            self.resources.append(a["src"])
        if tag == "link" and a.get("href") and a.get("rel", "") in ("stylesheet", "icon", "preload", "shortcut icon"):
            self.resources.append(a["href"])


def check_site(out: Path, pages: Sequence[str] = ()) -> list[str]:
    """Problems of the built site ``out``: a page of ``pages`` (names without suffix) that
    is missing, an image, script or stylesheet that is not in the site or comes from the
    network, an internal link to a missing page or anchor. Empty when all is well."""
    problems = [f"missing page {p}.html" for p in ("index", *pages) if not (out / f"{p}.html").exists()]
    parsed: dict[Path, _Refs] = {}
    for page in sorted(p for p in out.rglob("*.html") if "_static" not in p.relative_to(out).parts):
        refs = _Refs()
        refs.feed(page.read_text(errors="replace"))
        parsed[page.resolve()] = refs
    for page, refs in parsed.items():
        name = page.relative_to(out.resolve())
        for url in refs.resources:
            parts = urlsplit(url)
            if parts.scheme in ("http", "https") or url.startswith("//"):
                problems.append(f"{name} loads {url} from the network")
            elif parts.scheme != "data" and not (page.parent / unquote(parts.path)).exists():
                problems.append(f"{name} refers to {url}, which is not in the site")
        for url in refs.links:
            parts = urlsplit(url)
            if parts.scheme or url.startswith("//"):       # http(s), mailto: outside the site
                continue
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                problems.append(f"{name} links to {url}: no such page")
            elif parts.fragment and target.suffix == ".html":
                ids = parsed[target].ids if target in parsed else set()
                if parts.fragment not in ids:
                    problems.append(f"{name} links to {url}: no anchor #{parts.fragment} there")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m osrkit.book", description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", default=str(workbook.WORKBOOK_ROOT / "build"),
                        help="the build folder of make workbook (default: build/)")
    parser.add_argument("--notebooks", default=str(workbook.WORKBOOK_ROOT / "notebooks"))
    parser.add_argument("--no-run", action="store_true", help="do not run stale lessons; build from what is there")
    args = parser.parse_args(argv)
    build, notebooks_dir = Path(args.build), Path(args.notebooks)
    start = time.time()
    stale = stale_lessons(notebooks_dir, build)
    if stale and not args.no_run:
        print(f"running {len(stale)} lesson(s) that build/notebooks lacks or holds out of date: "
              f"{', '.join(nb.stem for nb in stale)}", flush=True)
        status = workbook.main(["--notebooks", str(notebooks_dir), "--build", str(build),
                                "--only", *[nb.stem for nb in stale]])
        if status:
            print("a lesson failed: the book is built from what ran, the failed lesson's page shows its error",
                  file=sys.stderr)
    elif stale:
        print(f"not current, used as they are (--no-run): {', '.join(nb.stem for nb in stale)}")
    src, out = build / "book_src", build / "book"
    pages = prepare(notebooks_dir, build, src)
    build_html(src, out)
    problems = check_site(out, pages)
    for problem in problems:
        print("broken:", problem, file=sys.stderr)
    print(f"built {out / 'index.html'} ({len(pages)} lessons) in {time.time() - start:.0f} s"
          + (f"; {len(problems)} broken links or resources" if problems else "; every page, image and link checked"))
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
