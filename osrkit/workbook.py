"""Run every lesson notebook with papermill and print their headline numbers.

    python -m osrkit.workbook                 # quick mode, seed 0, into build/
    python -m osrkit.workbook --full          # paper scale (network for datasets; GPU helps)
    python -m osrkit.workbook --seed 3 -p steps 8000 --only 01
    python -m osrkit.workbook --no-cache      # train every network, load no checkpoint
    python -m osrkit.workbook --only 06 --sweep seed=0,1,2 split=0..4   # a grid, one run per point

Executed notebooks go to ``{build}/notebooks``, results JSON to ``{build}/results``, and
a summary of all runs to ``{build}/summary.json``. Trained networks are kept in the
checkpoint cache (the notebooks' ``cache_dir``, by default the data root's ``cache``
folder), so a second run loads them; ``--cache-dir`` moves it, ``--no-cache`` turns it off. The exit status is non-zero when a
notebook fails; the others still run.

``--sweep`` runs each notebook over the grid of the given parameters (comma lists and
``a..b`` integer ranges), one kernel per point, each point writing into its own folder
``{build}/results/{notebook}/{name=value,...}/``; a point whose results JSON exists is
skipped, so an interrupted sweep resumes. Every kernel runs with ``--threads`` CPU threads
(``OMP_NUM_THREADS``/``MKL_NUM_THREADS``), since conv-net numbers depend on the count.
"""
from __future__ import annotations

import argparse
import ast
import itertools
import json
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

from . import results

WORKBOOK_ROOT = Path(__file__).resolve().parent.parent
#: A quick-mode cell takes seconds to a couple of minutes; one still running after this
#: long is stuck (a lost kernel message was seen once), so the run reports it and moves on.
QUICK_CELL_TIMEOUT_S = 900.0


def _parse_value(text: str) -> Any:
    """Interpret ``-p name value`` like papermill's ``-p``: Python literals, else a string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_grid(specs: Sequence[str]) -> list[dict[str, Any]]:
    """The points of a sweep: ``["seed=0,1", "split=0..2"]`` → every combination, in order
    (``a..b`` is an integer range including b; other values are read like ``-p``)."""
    axes: list[tuple[str, list[Any]]] = []
    for spec in specs:
        name, sep, values = spec.partition("=")
        if not sep or not name.isidentifier() or not values:
            raise ValueError(f"a sweep axis is name=v1,v2,... or name=a..b, got {spec!r}")
        if ".." in values:
            low, _, high = values.partition("..")
            try:
                grid = list(range(int(low), int(high) + 1))
            except ValueError as err:
                raise ValueError(f"{spec!r}: a range a..b needs two integers") from err
            if not grid:
                raise ValueError(f"{spec!r}: the range is empty")
        else:
            grid = [_parse_value(v) for v in values.split(",")]
        if name in dict(axes):
            raise ValueError(f"parameter {name!r} appears twice in the sweep")
        axes.append((name, grid))
    return [dict(zip([n for n, _ in axes], combo)) for combo in itertools.product(*[g for _, g in axes])]


@contextmanager
def kernel_threads(threads: int) -> Iterator[None]:
    """Kernels started inside the block use ``threads`` CPU threads (they inherit
    ``OMP_NUM_THREADS`` and ``MKL_NUM_THREADS``); the old values come back afterwards."""
    names = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
    before = {n: os.environ.get(n) for n in names}
    os.environ.update({n: str(threads) for n in names})
    try:
        yield
    finally:
        for n, value in before.items():
            if value is None:
                os.environ.pop(n, None)
            else:
                os.environ[n] = value


def point_folder(point: dict[str, Any]) -> str:
    """A sweep point's folder name, ``seed=0,split=3`` (empty point: ``default``)."""
    return ",".join(f"{k}={v}" for k, v in point.items()) or "default"


def find_notebooks(notebooks_dir: Path, only: Sequence[str] = ()) -> list[Path]:
    """Lesson notebooks in order (``NN_*.ipynb``); ``only`` keeps those whose name contains
    any of the given strings."""
    found = sorted(p for p in notebooks_dir.glob("[0-9][0-9]_*.ipynb"))
    if only:
        found = [p for p in found if any(key in p.name for key in only)]
    if not found:
        raise FileNotFoundError(f"no lesson notebooks matching {list(only) or 'NN_*.ipynb'} in {notebooks_dir}")
    return found


def run_notebook(notebook: Path, build: Path, parameters: dict[str, Any],
                 cell_timeout: float | None = None, point: str | None = None) -> dict[str, Any]:
    """Execute one notebook; return its status, wall time and recorded numbers. A cell
    running longer than ``cell_timeout`` seconds fails the notebook instead of hanging.
    A sweep ``point`` (its folder name) gets its own executed copy and results folder."""
    import papermill as pm

    out_nb = build / "notebooks" / (notebook.name if point is None else f"{notebook.stem}/{point}.ipynb")
    out_nb.parent.mkdir(parents=True, exist_ok=True)
    results_dir = build / "results" / ("" if point is None else f"{notebook.stem}/{point}")
    params = {**parameters, "results_dir": str(results_dir.resolve())}
    start = time.time()
    row: dict[str, Any] = {"notebook": notebook.stem if point is None else f"{notebook.stem} [{point}]"}
    try:
        pm.execute_notebook(str(notebook), str(out_nb), parameters=params, cwd=str(notebook.parent),
                            progress_bar=False, execution_timeout=cell_timeout)
        row["status"] = "ok"
    except Exception as err:  # papermill raises PapermillExecutionError with the cell's traceback
        row["status"] = "FAILED"
        if "Timeout" in type(err).__name__:
            row["error"] = (f"{type(err).__name__}: a cell ran longer than {cell_timeout:g} s and was stopped "
                            f"(pass --cell-timeout SECONDS if it is only slow)")
        else:
            row["error"] = f"{type(err).__name__}: {str(err).strip().splitlines()[-1] if str(err).strip() else ''}"
    row["wall_s"] = round(time.time() - start, 1)
    try:
        numbers = results.load(notebook.stem, results_dir)
        numbers.pop("parameters", None)
        row["provenance"] = numbers.pop("provenance", None)
        row["numbers"] = numbers
    except FileNotFoundError:
        row["numbers"] = {}
    return row


def format_table(rows: list[dict[str, Any]]) -> str:
    """A plain-text table: notebook, status, wall time, then each headline number (lists
    and tables, such as the capstone's rows, stay in the results JSON)."""
    lines = [f"{'notebook':<36} {'status':<7} {'wall s':>7}  headline numbers", "-" * 100]
    for row in rows:
        nums = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                         for k, v in row["numbers"].items() if not isinstance(v, (list, dict)))
        lines.append(f"{row['notebook']:<36} {row['status']:<7} {row['wall_s']:>7.1f}  {nums}")
        if "error" in row:
            lines.append(f"{'':<36} {row['error']}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m osrkit.workbook", description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="paper-scale runs (quick=False)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--build", type=Path, default=WORKBOOK_ROOT / "build", help="output folder (default build/)")
    parser.add_argument("--notebooks", type=Path, default=WORKBOOK_ROOT / "notebooks")
    parser.add_argument("--only", nargs="*", default=[], help="run notebooks whose name contains one of these")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="extra papermill parameter for every notebook (repeatable)")
    parser.add_argument("--no-cache", action="store_true", help="train every network (cache_dir=None)")
    parser.add_argument("--cache-dir", default=None, metavar="FOLDER",
                        help="checkpoint cache folder (default: the notebooks' own, the data root's cache/)")
    parser.add_argument("--sweep", nargs="+", default=[], metavar="NAME=VALUES",
                        help="run over a grid: name=v1,v2 or name=a..b (resumable: points with results are skipped)")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads of every kernel (default: all cores; numbers depend on it)")
    parser.add_argument("--cell-timeout", type=float, default=None, metavar="SECONDS",
                        help=f"fail a notebook whose cell runs longer than this (default: {QUICK_CELL_TIMEOUT_S:.0f} "
                             "in quick mode, none with --full)")
    args = parser.parse_args(argv)
    cell_timeout = args.cell_timeout or (None if args.full else QUICK_CELL_TIMEOUT_S)

    notebooks = find_notebooks(args.notebooks, args.only)
    parameters = {"quick": not args.full, "seed": args.seed, "device": args.device}
    if args.no_cache or args.cache_dir:
        parameters["cache_dir"] = None if args.no_cache else str(Path(args.cache_dir).resolve())
    parameters.update({name: _parse_value(value) for name, value in args.parameter})
    points = parse_grid(args.sweep) if args.sweep else [None]
    threads = args.threads or os.cpu_count() or 1
    (args.build / "notebooks").mkdir(parents=True, exist_ok=True)
    print(f"running {len(notebooks)} notebook(s) × {len(points)} point(s) with {parameters}, {threads} CPU "
          f"thread(s), into {args.build}", flush=True)
    rows = []
    with kernel_threads(threads):
        for nb, point in itertools.product(notebooks, points):
            folder = None if point is None else point_folder(point)
            label = nb.name if folder is None else f"{nb.stem} [{folder}]"
            if folder is not None and (args.build / "results" / nb.stem / folder / f"{nb.stem}.json").exists():
                print(f"  {label}: done before, skipped", flush=True)
                continue
            print(f"  {label} ...", end=" ", flush=True)
            row = run_notebook(nb, args.build, {**parameters, **(point or {})}, cell_timeout, folder)
            row["threads"] = threads
            print(f"{row['status']} in {row['wall_s']:.1f} s", flush=True)
            rows.append(row)
    summary = {"parameters": parameters, "runs": rows}
    (args.build / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print()
    print(format_table(rows))
    print(f"\nexecuted notebooks: {args.build / 'notebooks'}   results: {args.build / 'results'}")
    return 0 if all(r["status"] == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
