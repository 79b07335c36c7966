"""The lessons as nbgrader assignments: generate_assignment writes student versions without
solutions, hidden tests or answer keys; autograde gives full marks to the solutions put back
and no exercise points (and no crash) to the unsolved release. Autograde runs only the
lessons' exercise cells (osrkit.assignments.exercise_notebook): they need no training."""
from pathlib import Path

import nbformat
import pytest

from osrkit import assignments, exercises

LESSONS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _meta(cell):
    return cell.metadata.get("nbgrader", {})


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    course = assignments.write_course(tmp_path_factory.mktemp("course"), LESSONS)
    assignments.generate(course, [p.stem for p in LESSONS])
    return course


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem[:2])
def test_every_lesson_is_a_source_notebook_with_graded_exercises_of_osrkit(lesson):
    nb = nbformat.read(lesson, as_version=4)
    checks = [c for c in nb.cells if _meta(c).get("grade")]
    solutions = [c for c in nb.cells if _meta(c).get("solution")]
    names = {n for n in exercises.available(lesson.stem[:2])}
    assert len(checks) >= 2 and len(solutions) == len(checks)
    for check in checks:
        assert _meta(check)["locked"] and _meta(check)["points"] > 0
        assert "### BEGIN HIDDEN TESTS" in check.source and "exercises.assert_correct(" in check.source
        assert any(f'exercises.check("{n}"' in check.source for n in names)
    for solution in solutions:
        assert "### BEGIN SOLUTION" in solution.source and "### END SOLUTION" in solution.source


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem[:2])
def test_the_student_version_has_stubs_and_no_hidden_tests_or_answer_keys(released, lesson):
    source = nbformat.read(lesson, as_version=4)
    release = nbformat.read(released / "release" / lesson.stem / lesson.name, as_version=4)
    assert (released / "release" / lesson.stem / "glossary.md").exists()
    assert any(assignments.ANSWER_KEY_TAG in c.metadata.get("tags", []) for c in source.cells)
    assert not any(assignments.ANSWER_KEY_TAG in c.metadata.get("tags", []) for c in release.cells)
    text = "\n".join(c.source for c in release.cells)
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text and "assert_correct" not in text
    stubs = [c for c in release.cells if _meta(c).get("solution")]
    assert stubs and all("raise NotImplementedError()" in c.source for c in stubs)
    assert sum(1 for c in release.cells if _meta(c).get("grade")) >= 2


def test_autograde_gives_full_marks_to_the_solutions_and_none_to_the_stubs(tmp_path):
    course = assignments.write_course(tmp_path / "course", [])
    (course / "source" / "exercises").mkdir()
    for lesson in LESSONS:
        nbformat.write(assignments.exercise_notebook(nbformat.read(lesson, as_version=4)),
                       course / "source" / "exercises" / lesson.name)
    assignments.generate(course, ["exercises"])
    for student, make in {"solved": assignments.solved, "unsolved": lambda release, source: release}.items():
        folder = course / "submitted" / student / "exercises"
        folder.mkdir(parents=True)
        for lesson in LESSONS:
            release = nbformat.read(course / "release" / "exercises" / lesson.name, as_version=4)
            source = nbformat.read(course / "source" / "exercises" / lesson.name, as_version=4)
            nbformat.write(make(release, source), folder / lesson.name)
    assignments.nbgrader(course, "autograde", "exercises", "--force")
    got = assignments.scores(course, "exercises")
    total = float(len(exercises.available()))
    assert got == {"solved": (total, total), "unsolved": (0.0, total)}
