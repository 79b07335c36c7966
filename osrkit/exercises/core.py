"""What an exercise is and how a student's function is checked against the reference.

An :class:`Exercise` holds a reference solution (a tested osrkit function) and a list of
:class:`Case` inputs of its own: random ones and the edge cases where a plausible wrong
answer shows (ties, one class, an empty batch, values that overflow a naive formula).
``check(fn)`` calls the student's function on every case, compares with the reference and
prints feedback that names the input, the expected and the received values and a hint; it
returns False, never raises, for a wrong answer, an exception, ``None`` or a stub that
still raises ``NotImplementedError``. ``assert_correct(fn)`` raises an ``AssertionError``
with that feedback: it is what nbgrader's hidden tests call.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch

NOT_ATTEMPTED = "not attempted yet"


@dataclass(frozen=True)
class Case:
    """One input of an exercise: a label that says what it tests, and the arguments."""

    label: str
    args: tuple
    kwargs: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    """The outcome of checking one function: passed, and the feedback text."""

    passed: bool
    feedback: str
    attempted: bool = True


def to_numpy(value: Any) -> Any:
    """Tensors (detached, on the CPU), numbers and sequences of numbers as numpy arrays;
    tuples of results stay tuples (element by element)."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, tuple) and value and any(isinstance(v, (torch.Tensor, np.ndarray, tuple)) for v in value):
        return tuple(to_numpy(v) for v in value)
    return np.asarray(value)


def describe(value: Any, limit: int = 12) -> str:
    """A short printable form of an input or output (first values of a long array)."""
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], (torch.Tensor, np.ndarray, tuple)):
        inner = ", ".join(describe(v, limit) for v in value)
        return f"({inner})" if isinstance(value, tuple) else f"[{inner}]"
    if isinstance(value, (torch.Tensor, np.ndarray, list, tuple, float, int, np.number)):
        arr = np.asarray(to_numpy(value))
        if arr.ndim == 0:
            return f"{arr.item():.6g}" if np.issubdtype(arr.dtype, np.floating) else repr(arr.item())
        text = np.array2string(arr.ravel()[:limit], precision=4, separator=", ", suppress_small=False)
        more = f" … ({arr.size} values)" if arr.size > limit else ""
        return f"shape {tuple(arr.shape)}: {text}{more}"
    return repr(value)


def compare(expected: Any, got: Any, rtol: float, atol: float) -> str | None:
    """None when ``got`` matches ``expected``, else what differs, in one sentence."""
    if got is None:
        return "your function returned None: did you forget the `return`?"
    if isinstance(expected, tuple):
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            return f"expected a tuple of {len(expected)} values, got {type(got).__name__}"
        for i, (e, g) in enumerate(zip(expected, got)):
            problem = compare(e, g, rtol, atol)
            if problem:
                return f"value {i} of the tuple: {problem}"
        return None
    try:
        got_arr = np.asarray(to_numpy(got), dtype=np.float64)
    except (TypeError, ValueError):
        return f"expected numbers, got {type(got).__name__} {got!r:.60}"
    exp_arr = np.asarray(expected, dtype=np.float64)
    if got_arr.shape != exp_arr.shape:
        return f"expected shape {exp_arr.shape}, got shape {got_arr.shape}"
    if np.isfinite(exp_arr).all() and not np.isfinite(got_arr).all():
        return "your result has nan or inf where the expected one is finite (an overflow? see the hint)"
    if not np.allclose(got_arr, exp_arr, rtol=rtol, atol=atol, equal_nan=True):
        return "the values differ"
    return None


@dataclass(frozen=True)
class Exercise:
    """One exercise: ``name`` ("04.rejection_scores"), ``lesson`` ("04"), a one-line
    ``prompt``, the ``signature`` the student writes, a ``hint``, the reference
    ``solution`` and ``cases()``, the inputs it is checked on."""

    name: str
    lesson: str
    prompt: str
    signature: str
    hint: str
    solution: Callable
    cases: Callable[[], Sequence[Case]]
    rtol: float = 1e-5
    atol: float = 1e-7

    def verdict(self, fn: Callable) -> Verdict:
        """Check ``fn`` on every case; the first failure decides the feedback."""
        cases = list(self.cases())
        for case in cases:
            expected = to_numpy(self.solution(*copy.deepcopy(case.args), **copy.deepcopy(case.kwargs)))
            try:
                got = fn(*copy.deepcopy(case.args), **copy.deepcopy(case.kwargs))
            except NotImplementedError:
                return Verdict(False, f"✗ {self.name}: {NOT_ATTEMPTED}. Replace `raise NotImplementedError()` "
                                      f"by your code: {self.prompt}", attempted=False)
            except Exception as err:                      # a student's bug: report it, never raise
                return Verdict(False, self._failure(case, f"it raised {type(err).__name__}: {err}", expected))
            problem = compare(expected, got, self.rtol, self.atol)
            if problem:
                return Verdict(False, self._failure(case, problem, expected, got))
        labels = "; ".join(c.label for c in cases)
        return Verdict(True, f"✓ {self.name}: correct on all {len(cases)} inputs ({labels}).")

    def _failure(self, case: Case, problem: str, expected: Any, got: Any = None) -> str:
        inputs = ", ".join([describe(a) for a in case.args] + [f"{k}={describe(v)}" for k, v in case.kwargs.items()])
        lines = [f"✗ {self.name}: on the input \"{case.label}\": {problem.rstrip('.?!')}.",
                 f"  input:    {inputs}",
                 f"  expected: {describe(expected)}"]
        if got is not None:
            lines.append(f"  got:      {describe(got)}")
        lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)

    def check(self, fn: Callable) -> bool:
        """Print feedback on ``fn`` and return whether it is correct (never raises)."""
        outcome = self.verdict(fn)
        print(outcome.feedback)
        return outcome.passed

    def assert_correct(self, fn: Callable) -> None:
        """Raise an ``AssertionError`` carrying the feedback unless ``fn`` is correct."""
        outcome = self.verdict(fn)
        if not outcome.passed:
            raise AssertionError(outcome.feedback)
