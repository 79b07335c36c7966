"""The lessons as nbgrader assignments (``make assignments``).

Every lesson notebook is an nbgrader *source* notebook: an exercise is a solution cell
(``### BEGIN SOLUTION`` … ``### END SOLUTION``) followed by a locked, graded test cell whose
visible line calls :func:`osrkit.exercises.check` (feedback, never raises) and whose
``### BEGIN HIDDEN TESTS`` block calls :func:`osrkit.exercises.assert_correct`. This module
sets up a course directory (``nbgrader_config.py``, ``source/<lesson>/``) and runs nbgrader's
``generate_assignment``, which writes the student versions to ``release/<lesson>/``: solutions
replaced by ``raise NotImplementedError()``, hidden tests and the try-it answer keys (cells
tagged ``answer-key``) removed. It also builds the cheap notebooks CI autogrades: a lesson's
exercise cells alone, which need no training.

    python -m osrkit.assignments                  # every lesson into build/release/
    python -m osrkit.assignments --only 04 --course /tmp/course
"""
from __future__ import annotations

import argparse
import copy
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Sequence

import nbformat

from .workbook import WORKBOOK_ROOT, find_notebooks

ANSWER_KEY_TAG = "answer-key"
SOLUTION = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", re.MULTILINE)

NBGRADER_CONFIG = '''\
# nbgrader configuration of the osrkit course (written by `python -m osrkit.assignments`).
from nbconvert.preprocessors import TagRemovePreprocessor
from nbgrader.converters import GenerateAssignment

c = get_config()  # noqa: F821 (given by nbgrader)
c.CourseDirectory.course_id = "osrkit"
# the student versions drop the try-it answer keys (cells tagged "{tag}") before nbgrader's own steps
c.GenerateAssignment.preprocessors = [TagRemovePreprocessor, *GenerateAssignment.class_traits()["preprocessors"].default()]
c.TagRemovePreprocessor.enabled = True
c.TagRemovePreprocessor.remove_cell_tags = ["{tag}"]
# autograde runs whole lessons: their training cells take minutes on a laptop CPU
c.Execute.timeout = {timeout}
'''


def write_course(course: str | Path, lessons: Sequence[Path], *, timeout: int = 1800) -> Path:
    """Set up an nbgrader course directory: ``nbgrader_config.py`` and one source assignment
    per lesson (named after the notebook), with the glossary beside each notebook."""
    course = Path(course)
    (course / "source").mkdir(parents=True, exist_ok=True)
    (course / "nbgrader_config.py").write_text(NBGRADER_CONFIG.format(tag=ANSWER_KEY_TAG, timeout=timeout))
    for lesson in lessons:
        folder = course / "source" / lesson.stem
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        shutil.copy2(lesson, folder / lesson.name)
        glossary = lesson.parent / "glossary.md"
        if glossary.exists():
            shutil.copy2(glossary, folder / glossary.name)
    return course


def nbgrader(course: str | Path, *args: str) -> subprocess.CompletedProcess:
    """Run an nbgrader command in the course directory; a failure raises with nbgrader's log."""
    # nbgrader runs its database migrations with the `alembic` script installed beside this Python
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    result = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, capture_output=True, text=True,
                            env=env)
    if result.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed in {course}:\n{result.stdout}\n{result.stderr}")
    return result


def generate(course: str | Path, assignments: Sequence[str]) -> list[Path]:
    """``nbgrader generate_assignment`` for each assignment: the student versions in ``release/``."""
    for name in assignments:
        nbgrader(course, "generate_assignment", name, "--force")
    return [Path(course) / "release" / name for name in assignments]


def _nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def is_exercise_cell(cell) -> bool:
    """A solution or graded test cell (the cells nbgrader grades)."""
    meta = _nbgrader_meta(cell)
    return bool(meta.get("solution") or meta.get("grade"))


def exercise_notebook(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The lesson's exercise cells alone, after its title: what CI autogrades cheaply (the
    exercise cells import what they use and never read the lesson's trained models)."""
    out = copy.deepcopy(notebook)
    out.cells = [out.cells[0]] + [c for c in out.cells if is_exercise_cell(c)]
    if len(out.cells) == 1:
        raise ValueError("the notebook has no exercise cells (cells with nbgrader solution or grade metadata)")
    return out


def without_solution_markers(source: str) -> str:
    """A solution cell's code as a student who solved it would hand it in."""
    return SOLUTION.sub("", source)


def solved(release: nbformat.NotebookNode, source: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The student version with the source's solutions put back (a full-marks submission)."""
    answers = {_nbgrader_meta(c).get("grade_id"): c.source for c in source.cells if _nbgrader_meta(c).get("solution")}
    out = copy.deepcopy(release)
    for cell in out.cells:
        grade_id = _nbgrader_meta(cell).get("grade_id")
        if _nbgrader_meta(cell).get("solution") and grade_id in answers:
            cell.source = without_solution_markers(answers[grade_id])
    return out


def scores(course: str | Path, assignment: str) -> dict[str, tuple[float, float]]:
    """(score, max score) of every autograded submission of ``assignment``."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{Path(course).resolve() / 'gradebook.db'}") as gradebook:
        return {sub.student_id: (float(sub.score), float(sub.max_score))
                for sub in gradebook.find_assignment(assignment).submissions}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the student versions of the lessons with nbgrader.")
    parser.add_argument("--course", default="build", help="nbgrader course directory (default: build)")
    parser.add_argument("--notebooks", type=Path, default=WORKBOOK_ROOT / "notebooks")
    parser.add_argument("--only", nargs="*", default=[], help="lessons whose name contains one of these, e.g. 01 04")
    args = parser.parse_args(argv)
    lessons = find_notebooks(args.notebooks, args.only)
    course = write_course(args.course, lessons)
    for folder in generate(course, [lesson.stem for lesson in lessons]):
        for notebook in sorted(folder.glob("*.ipynb")):
            nb = nbformat.read(notebook, as_version=4)
            graded = [c for c in nb.cells if _nbgrader_meta(c).get("grade")]
            points = sum(_nbgrader_meta(c).get("points", 0) for c in graded)
            print(f"{notebook}: {len(graded)} graded exercises, {points:g} points")
    print(f"student versions in {Path(course) / 'release'}; sources in {Path(course) / 'source'} "
          f"(lessons from {args.notebooks})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
