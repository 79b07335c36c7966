import json
import time

import nbformat
import pytest

from osrkit import workbook


def _write_notebook(path, body):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# test"),
                nbformat.v4.new_code_cell('quick = True\nseed = 0\nresults_dir = "results"\ndevice = "auto"',
                                          metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_parameter_values_are_parsed_like_papermill():
    assert workbook._parse_value("3") == 3 and workbook._parse_value("0.5") == 0.5
    assert workbook._parse_value("False") is False and workbook._parse_value("mnist5k") == "mnist5k"


def test_find_notebooks_keeps_lesson_order_and_filters(tmp_path):
    for name in ("02_b.ipynb", "01_a.ipynb", "scratch.ipynb"):
        (tmp_path / name).write_text("{}")
    assert [p.name for p in workbook.find_notebooks(tmp_path)] == ["01_a.ipynb", "02_b.ipynb"]
    assert [p.name for p in workbook.find_notebooks(tmp_path, ["02"])] == ["02_b.ipynb"]
    with pytest.raises(FileNotFoundError, match="no lesson notebooks"):
        workbook.find_notebooks(tmp_path, ["07"])


def test_main_runs_notebooks_collects_numbers_and_reports_failures(tmp_path, capsys):
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    _write_notebook(nbs / "01_ok.ipynb",
                    'from osrkit import results\nresults.record("01_ok", {"twice_seed": 2 * seed, "q": quick}, results_dir)')
    _write_notebook(nbs / "02_broken.ipynb", "raise RuntimeError('boom')")
    status = workbook.main(["--notebooks", str(nbs), "--build", str(tmp_path / "build"), "--seed", "3",
                            "-p", "extra", "1"])
    out = capsys.readouterr().out
    assert status == 1
    summary = json.loads((tmp_path / "build" / "summary.json").read_text())
    ok, broken = summary["runs"]
    assert ok["status"] == "ok" and ok["numbers"] == {"twice_seed": 6, "q": True}
    assert broken["status"] == "FAILED" and "boom" in broken["error"]
    assert (tmp_path / "build" / "notebooks" / "01_ok.ipynb").exists()
    assert "twice_seed=6" in out and "FAILED" in out


def test_a_cell_past_the_timeout_fails_its_notebook_instead_of_hanging(tmp_path):
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    _write_notebook(nbs / "01_stuck.ipynb", "import time\ntime.sleep(60)")
    start = time.time()
    status = workbook.main(["--notebooks", str(nbs), "--build", str(tmp_path / "build"), "--cell-timeout", "3"])
    row = json.loads((tmp_path / "build" / "summary.json").read_text())["runs"][0]
    assert status == 1 and row["status"] == "FAILED" and "longer than 3 s" in row["error"]
    assert time.time() - start < 50


def test_parse_grid_expands_lists_and_ranges_and_checks_its_input():
    assert workbook.parse_grid(["seed=0,1", "split=2..3"]) == [
        {"seed": 0, "split": 2}, {"seed": 0, "split": 3}, {"seed": 1, "split": 2}, {"seed": 1, "split": 3}]
    assert workbook.parse_grid(["dataset=mnist5k,digits"]) == [{"dataset": "mnist5k"}, {"dataset": "digits"}]
    assert workbook.point_folder({"seed": 0, "split": 3}) == "seed=0,split=3"
    for bad in (["seed"], ["seed=1..x"], ["seed=3..1"], ["seed=0", "seed=1"], ["9x=1"]):
        with pytest.raises(ValueError):
            workbook.parse_grid(bad)


def test_a_sweep_runs_every_point_in_its_own_folder_with_pinned_threads_and_resumes(tmp_path, capsys):
    nbs, build = tmp_path / "nbs", tmp_path / "build"
    nbs.mkdir()
    _write_notebook(nbs / "01_grid.ipynb", 'import os\nfrom osrkit import results\n'
                    'results.record("01_grid", {"point": 10 * seed + split, "threads": os.environ["OMP_NUM_THREADS"]}, '
                    'results_dir)')
    # split is not in the parameters cell: papermill injects it (with a warning) after that cell
    args = ["--notebooks", str(nbs), "--build", str(build), "--sweep", "seed=0,1", "split=2..3", "--threads", "1"]
    assert workbook.main(args) == 0
    found = {p.parent.name: json.loads(p.read_text()) for p in (build / "results" / "01_grid").glob("*/01_grid.json")}
    assert {k: v["point"] for k, v in found.items()} == {"seed=0,split=2": 2, "seed=0,split=3": 3,
                                                         "seed=1,split=2": 12, "seed=1,split=3": 13}
    assert all(v["threads"] == "1" for v in found.values())
    (build / "results" / "01_grid" / "seed=1,split=3" / "01_grid.json").unlink()
    assert workbook.main(args) == 0
    out = capsys.readouterr().out
    assert out.count("done before, skipped") == 3
    runs = json.loads((build / "summary.json").read_text())["runs"]
    assert [r["notebook"] for r in runs] == ["01_grid [seed=1,split=3]"] and runs[0]["threads"] == 1
