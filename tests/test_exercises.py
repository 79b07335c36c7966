"""osrkit.exercises: every exercise accepts its reference and an independent solution,
and rejects a stub, a function returning None, one that raises, and a slightly wrong answer,
with feedback that names the input; check() never raises, assert_correct() does."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from osrkit import exercises


def _rowwise_softmin_wrong(d):                  # forgets the (1 − softmin): returns softmin ∘ d
    z = np.exp(-(d - d.min(1, keepdims=True)))
    return z / z.sum(1, keepdims=True) * d


def _cac_terms_squared(logits, targets, anchors):     # squared distances: a common slip
    d = torch.cdist(logits, anchors) ** 2
    d_y = d.gather(1, targets[:, None])
    return torch.logsumexp(d_y - d, dim=1).mean(), d_y.mean()


def _greedy_path(p):
    layers, resolutions, _ = p.shape
    s, path = 0, []
    for layer in range(layers):
        must_go_down = resolutions - 1 - s > layers - layer - 1
        if must_go_down or (s + 1 < resolutions and p[layer, s + 1, 1] > p[layer, s, 0]):
            s += 1
        path.append(s)
    return tuple(path)


def _oscr_without_ties(y, pred, novelty):       # one point per sample: ties not moved together
    order = np.argsort(novelty, kind="stable")
    known = y >= 0
    ccr = np.concatenate([[0], np.cumsum(((pred == y) & known)[order]) / known.sum()])
    fpr = np.concatenate([[0], np.cumsum((~known)[order]) / (~known).sum()])
    return float(np.trapezoid(ccr, fpr))


SLIGHTLY_WRONG = {
    "01.curvature_gate": lambda gamma, beta: np.exp(-beta * np.abs(gamma)),
    "01.dae_confidence": lambda e, gamma, alpha, beta: np.exp(-alpha * e),
    "02.thresholded_accuracy": lambda y, pred, nov, t: float(np.mean(np.where(nov >= t, -1, pred) == y)),
    "02.open_set_f_measure": lambda y, dec: float(2 * np.sum(dec == y) / (2 * np.sum(dec == y) + np.sum(dec != y)))
    if np.sum(dec == y) else 0.0,
    "03.nc_uncertainty": lambda D: D.min(1) / np.maximum(D.mean(1), 1e-12),
    "03.saturation_threshold": lambda tau, f1, eps1=1.5, eps2=0.4, step=0.05: float(
        tau[np.flatnonzero(np.diff(f1) / np.diff(tau) <= eps2)[-1]]),
    "04.cac_terms": _cac_terms_squared,
    "04.rejection_scores": _rowwise_softmin_wrong,
    "05.top_k_class_scores": lambda Z, F_, y, k: np.stack(
        [np.sort(Z @ F_[y == c].T, axis=1)[:, -k:].sum(1) for c in range(int(y.max()) + 1)], axis=1),
    "05.layer_cam": lambda A, G: torch.relu((G.mean(dim=(2, 3), keepdim=True) * A).sum(1)),
    "06.contrastive_loss": lambda d, y, temperature=1.0: F.cross_entropy(temperature * d, y),
    "06.decode_path": _greedy_path,
    "07.auroc": lambda k, u: float((u[None, :] >= k[:, None]).mean()),
    "07.oscr": _oscr_without_ties,
}


def _stub(*args, **kwargs):
    raise NotImplementedError()


def test_every_lesson_has_at_least_two_exercises_and_every_exercise_a_wrong_answer_here():
    names = exercises.available()
    for lesson in ["01", "02", "03", "04", "05", "06", "07"]:
        assert len(exercises.available(lesson)) >= 2, lesson
    assert sorted(SLIGHTLY_WRONG) == sorted(names)
    ex = exercises.get("04.rejection_scores")
    assert (ex.name, ex.lesson) == ("04.rejection_scores", "04") and ex.prompt and ex.hint and ex.signature


@pytest.mark.parametrize("name", exercises.available())
def test_the_reference_solution_passes(name, capsys):
    assert exercises.check(name, exercises.get(name).solution)
    assert capsys.readouterr().out.startswith(f"✓ {name}")
    exercises.assert_correct(name, exercises.get(name).solution)


@pytest.mark.parametrize("name", exercises.available())
def test_a_stub_is_not_attempted_yet_and_check_does_not_raise(name, capsys):
    assert exercises.check(name, _stub) is False
    assert exercises.NOT_ATTEMPTED in capsys.readouterr().out
    with pytest.raises(AssertionError, match=exercises.NOT_ATTEMPTED):
        exercises.assert_correct(name, _stub)


@pytest.mark.parametrize("name", exercises.available())
def test_returning_none_is_rejected_with_a_hint_about_return(name, capsys):
    assert exercises.check(name, lambda *a, **k: None) is False
    assert "returned None" in capsys.readouterr().out


@pytest.mark.parametrize("name", exercises.available())
def test_a_slightly_wrong_answer_is_rejected_naming_the_input(name, capsys):
    with np.errstate(all="ignore"):
        assert exercises.check(name, SLIGHTLY_WRONG[name]) is False
    out = capsys.readouterr().out
    assert out.startswith(f"✗ {name}: on the input \"") and "expected:" in out and "hint:" in out
    with pytest.raises(AssertionError, match="expected:"):
        with np.errstate(all="ignore"):
            exercises.assert_correct(name, SLIGHTLY_WRONG[name])


def test_an_exception_in_the_students_code_is_reported_not_raised(capsys):
    def broken(distances):
        return len(distances) + "x"
    assert exercises.check("04.rejection_scores", broken) is False
    out = capsys.readouterr().out
    assert "raised TypeError" in out and "input:" in out


def test_the_naive_softmin_is_caught_on_the_overflow_case(capsys):
    def naive(d):
        e = np.exp(-d)
        return (1 - e / e.sum(1, keepdims=True)) * d
    with np.errstate(all="ignore"):
        assert exercises.check("04.rejection_scores", naive) is False
    assert "nan or inf" in capsys.readouterr().out


def test_independent_solutions_pass(capsys):
    def rejection_scores(d):
        z = np.exp(-(d - d.min(1, keepdims=True)))
        return (1 - z / z.sum(1, keepdims=True)) * d

    def auroc(k, u):
        return float((u[None, :] > k[:, None]).mean() + 0.5 * (u[None, :] == k[:, None]).mean())

    def nc_uncertainty(D):
        d = D.min(1)
        return d / ((D.sum(1) - d) / (D.shape[1] - 1))

    assert exercises.check("04.rejection_scores", rejection_scores)
    assert exercises.check("07.auroc", auroc)
    assert exercises.check("03.nc_uncertainty", nc_uncertainty)


def test_inputs_are_copied_so_a_student_cannot_change_the_reference_inputs():
    def in_place(gamma, beta):
        gamma[:] = 0.0                                      # mutates its input, then answers wrongly
        return np.ones_like(gamma)
    assert exercises.check("01.curvature_gate", in_place) is False


def test_an_unknown_exercise_lists_the_names():
    with pytest.raises(ValueError, match="01.curvature_gate"):
        exercises.get("01.nope")
