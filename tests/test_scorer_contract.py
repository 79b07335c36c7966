"""One contract for every decision rule of every registered method (scikit-learn's
``parametrize_with_checks`` idea): each method is trained once on a small digits task
with a tiny budget, and each rule it returns is checked the same way."""
import copy

import numpy as np
import pytest

from osrkit import data, evaluation, metrics, methods, scoring
from osrkit.studies.openness import OneClassSVMScorer

#: Budgets that train in seconds on a CPU; enough for every rule to fit (EVT needs 20
#: correctly classified samples per class).
TINY = {"softmax": dict(epochs=6), "dae": dict(epochs=3), "cool": dict(epochs=3), "crosr": dict(epochs=4),
        "gmvae": dict(epochs=4, subclusters=1), "cac": dict(epochs=10, batch_size=32), "gradmix": dict(epochs=2, k=5),
        "nas": dict(epochs=5, layers=2, warmup_epochs=1, search_epochs=1, pseudo_unknowns=1)}


@pytest.fixture(scope="module")
def task():
    return data.load_task("digits", [0, 1, 2], seed=0)


_FITTED: dict[str, dict[str, scoring.Scorer]] = {}


def fitted_rules(name: str, task) -> dict[str, scoring.Scorer]:
    if name not in _FITTED:
        method = methods.get(name)
        _FITTED[name] = method.fit(task, seed=0, device="cpu", config=method.config(True, **TINY[name]), progress=False)
    return _FITTED[name]


RULES = [(m, rule) for m in methods.available() for rule in methods.get(m).rules]


def test_every_registered_method_has_a_tiny_budget_here():
    assert set(TINY) == set(methods.available())


@pytest.mark.parametrize("method,rule", RULES, ids=[r for _, r in RULES])
def test_rule_contract(method, rule, task):
    scorer = fitted_rules(method, task)[rule]
    assert scorer.name == rule and scorer.native_name and scorer.is_fitted
    X = task.X_test
    # unfitted: one error type for every rule, from score and predict alike
    fresh = type(scorer)()
    assert not fresh.is_fitted
    with pytest.raises(scoring.NotFittedError):
        fresh.score(X[:5])
    with pytest.raises(scoring.NotFittedError):
        fresh.predict(X[:5], 0.5)
    # shapes, classes, finiteness
    pred, novelty = scorer.score(X)
    assert pred.shape == novelty.shape == (len(X),)
    assert np.issubdtype(pred.dtype, np.integer) and pred.min() >= 0 and pred.max() < task.num_known
    assert np.isfinite(novelty).all()
    # predict is score + threshold
    t = float(np.median(novelty))
    assert np.array_equal(scorer.predict(X, t), metrics.predict_with_rejection(pred, novelty, t))
    # to_native is monotone in the novelty
    order = np.argsort(novelty)
    native = np.asarray(scorer.to_native(novelty[order]), dtype=float)
    steps = np.diff(native)
    assert (steps >= -1e-12).all() or (steps <= 1e-12).all()
    # fit returns self, and refitting on the same data gives the same scores
    again = copy.copy(scorer)
    assert again.fit(scorer.model, task.X_train, task.y_train) is again
    np.testing.assert_allclose(again.score(X)[1], novelty, rtol=1e-6, atol=1e-9)
    # one evaluation row for every rule, with finite numbers
    row = evaluation.evaluate(scorer, task).as_dict()
    assert all(np.isfinite(v) for v in row.values()), row
    assert 0.0 <= row["auroc"] <= 1.0 and 0.0 <= row["macro_f1"] <= 1.0


@pytest.mark.parametrize("method", methods.available())
def test_same_seed_gives_the_same_scores(method, task):
    m = methods.get(method)
    again = m.fit(task, seed=0, device="cpu", config=m.config(True, **TINY[method]), progress=False)
    for rule, scorer in fitted_rules(method, task).items():
        np.testing.assert_allclose(again[rule].score(task.X_test)[1], scorer.score(task.X_test)[1], rtol=1e-6,
                                   atol=1e-9, err_msg=rule)


def test_the_one_class_svm_is_a_scorer_too(task):
    known = task.y_train == 0
    sc = OneClassSVMScorer(nu=0.1, gamma=0.1)
    with pytest.raises(scoring.NotFittedError):
        sc.score(task.X_test)
    assert sc.fit(None, task.X_train[known]) is sc
    pred, novelty = sc.score(task.X_test)
    assert (pred == 0).all() and np.isfinite(novelty).all()
    # digit 0 (the one class it saw) looks less novel than the other digits
    assert metrics.auroc(novelty[task.y_test == 0], novelty[task.y_test != 0]) > 0.8
    assert np.array_equal(sc.to_native(novelty), -novelty)
