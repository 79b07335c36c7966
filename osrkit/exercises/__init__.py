"""Graded exercises of the lessons and the feedback behind their nbgrader test cells.

Each exercise is the few lines that *are* a method (a lesson's equation), checked against
osrkit's own tested function on inputs of its own::

    from osrkit import exercises
    exercises.available()                           # ['01.curvature_gate', ...]
    exercises.check("04.rejection_scores", rejection_scores)            # prints feedback, True/False
    exercises.assert_correct("04.rejection_scores", rejection_scores)   # nbgrader's hidden test
    exercises.get("04.rejection_scores").solution                       # the reference
"""
from __future__ import annotations

from typing import Callable

from . import lesson01, lesson02, lesson03, lesson04, lesson05, lesson06, lesson07
from .core import NOT_ATTEMPTED, Case, Exercise, Verdict

_REGISTRY: dict[str, Exercise] = {}
for _module in (lesson01, lesson02, lesson03, lesson04, lesson05, lesson06, lesson07):
    for _exercise in _module.EXERCISES:
        if _exercise.name in _REGISTRY:
            raise RuntimeError(f"two exercises named {_exercise.name!r}")
        _REGISTRY[_exercise.name] = _exercise


def available(lesson: str | None = None) -> list[str]:
    """Every exercise's name ("04.rejection_scores"), or only those of ``lesson`` ("04")."""
    return [name for name, ex in _REGISTRY.items() if lesson is None or ex.lesson == lesson]


def get(name: str) -> Exercise:
    """The exercise called ``name``; a clear error lists the names there are."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"no exercise {name!r}; there are {available()}") from None


def check(name: str, fn: Callable) -> bool:
    """Print feedback on the student's ``fn`` for exercise ``name``; True when correct.
    Never raises for a wrong answer, an exception or an unsolved stub."""
    return get(name).check(fn)


def assert_correct(name: str, fn: Callable) -> None:
    """Raise an ``AssertionError`` with the feedback unless ``fn`` solves ``name``."""
    get(name).assert_correct(fn)


__all__ = ["Case", "Exercise", "NOT_ATTEMPTED", "Verdict", "assert_correct", "available", "check", "get"]
