import numpy as np
import pytest

from osrkit import data, evaluation, nets, scoring
from osrkit.methods import cac, dae
from osrkit.studies import fooling, gmvae_protocol, openness


def _tiny_digits(n_per_class=12, classes=3, seed=0):
    """28×28 images whose class is a bright bar at a class-specific row: learnable in one epoch."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(classes), n_per_class)
    X = rng.random((len(y), 1, 28, 28)).astype(np.float32) * 0.1
    for i, c in enumerate(y):
        X[i, 0, 4 + 8 * c: 8 + 8 * c] = 1.0
    return X, y


def _closed_task(X, y):
    """Every sample known and in every part: the paper-004 models train on all of X."""
    return data.OpenSetSplit(X, y, X, y, X, y, tuple(range(int(y.max()) + 1)), ())


@pytest.mark.parametrize("kind", fooling.PAPER_MODELS)
def test_each_paper_model_trains_and_gets_its_scorer_and_fooling_target(kind):
    X, y = _tiny_digits()
    model = fooling.train_model(kind, _closed_task(X, y), epochs=1, progress=False)
    assert not model.training and model.num_classes == 3
    pred, novelty = fooling.make_scorer(kind, model).score(X)
    assert pred.shape == (len(y),) and ((0 <= novelty) & (novelty <= 1)).all()
    target = fooling.fooling_target(kind, model)
    res = fooling.fooling_attack(target, [0, 1], max_steps=2, progress=False)
    assert res.images.shape == (2, 1, 28, 28)


def test_unknown_kinds_are_refused():
    X, y = _tiny_digits()
    for fn in (lambda: fooling.paper_model("vgg"), lambda: fooling.train_model("vgg", _closed_task(X, y), epochs=1),
               lambda: fooling.make_scorer("vgg", None), lambda: fooling.fooling_target("vgg", None)):
        with pytest.raises(ValueError, match="unknown model kind"):
            fn()


def test_calibrated_dae_scorer_picks_alpha_on_validation():
    X, y = _tiny_digits()
    model = fooling.train_model("dae_sym", _closed_task(X, y), epochs=1, progress=False)
    sc = dae.calibrated_dae_scorer(model, X, y, threshold=0.5)
    assert isinstance(sc, dae.DAEConfidenceScorer) and sc.output == "scaled"
    assert 0.01 <= sc.alpha <= 100.0


def test_openness_curve_and_one_class_roc_have_one_value_per_level_and_model():
    X, y = _tiny_digits(n_per_class=15, classes=4)
    curve = openness.openness_curve(X, y, [2, 4], kinds=("cnn", "cool"), epochs=1, progress=False)
    assert curve.openness == pytest.approx([1 - np.sqrt(0.5), 0.0])
    assert all(len(v) == 2 and all(0 <= f <= 1 for f in v) for v in curve.f_measure.values())
    roc = openness.one_class_roc(X, y, [1], epochs=1, progress=False)
    assert set(roc.auc) == {"dae_sym", "cool", "ocsvm"}
    for kind, tpr in roc.tpr.items():
        assert tpr.shape == roc.fpr.shape and 0.0 <= roc.auc[kind] <= 1.0
    # the bar images are trivially separable for a one-class SVM on pixels
    assert roc.auc["ocsvm"] > 0.9


def test_fooling_benchmark_fills_table_one():
    X, y = _tiny_digits(n_per_class=10)
    split = data.open_set_split(X, y, [0, 1, 2], seed=0)
    trained = {k: fooling.train_model(k, split, epochs=1, progress=False)
               for k in ("cnn", "dae_asym")}
    bench = fooling.fooling_benchmark(trained, split, max_steps=2, progress=False)
    cnn, asym = bench.rows()
    assert cnn["model"] == "CNN" and 0 <= cnn["fooled_90"] <= 1 and 0 <= cnn["acc_99"] <= cnn["acc_90"] <= 1
    assert set(bench.fooling["cnn"]) == {0.9, 0.99} and set(bench.fooling["dae_asym"]) == {0.9}
    assert np.isnan(asym["fooled_99"]) and not np.isnan(asym["acc_90"])
    assert bench.alpha["dae_asym"][0.9] > 0 and bench.test_confidence["cnn"].shape == split.y_test.shape
    head, cnn_line, asym_line = bench.table().splitlines()
    assert head.split()[:4] == ["model", "acc", "0%", "acc"] and "fooled 99% (steps)" in head
    assert cnn_line.startswith("CNN") and f"{cnn['acc_0']:.1%}" in cnn_line
    assert asym_line.split()[-1] == "—" and "nan" not in asym_line  # not attacked at 99%


def test_one_class_dae_learns_its_digit_instead_of_a_constant_image():
    """Trained on zeros alone, the dAE reconstructs zeros better than other digits. At
    lr 1e-3 its features died and every input got one constant image: AUC 0.24 here."""
    pool = data.load_dataset("mnist5k")
    roc = openness.one_class_roc(pool.X[:2500], pool.y[:2500], [0], epochs=8, batch_size=32, progress=False)
    assert roc.auc_per_digit["dae_sym"][0] > 0.85


def test_gmvae_task_even_odd_on_mnist5k_groups_digits_and_keeps_them_balanced():
    split = gmvae_protocol.gmvae_task("even_odd", "mnist5k", seed=1)
    assert split.known_classes == ((0, 2), (1, 3)) and split.unknown_classes == (4, 5, 6, 7, 8, 9)
    assert np.bincount(split.source_train).tolist()[:4] == [300] * 4          # 500 per digit: 60% train
    assert np.bincount(split.y_val).tolist() == [150, 150]
    assert np.bincount(split.source_test).tolist() == [125] * 10
    with pytest.raises(ValueError, match="unknown task"):
        gmvae_protocol.gmvae_task("cifar_animals", "mnist5k")


def test_gmvae_vs_crosr_evaluates_the_four_rules_at_their_thresholds():
    X, y = _tiny_digits(60, classes=4, seed=3)
    split = data.open_set_split(X, y, [(0, 2), (1,)], val_fraction=0.3, test_fraction=0.3, seed=0)
    comp = gmvae_protocol.gmvae_vs_crosr(split, [2, 1], epochs=2, crosr_epochs=2, z_dim=3, hidden=(32, 16),
                                    progress=False)
    assert comp.subclusters == (2, 1) and comp.gmvae.subclusters == (2, 1)
    assert list(comp.evaluations) == ["GMVAE+NC-U", "GMVAE+NC-D", "CROSR+NC-D", "CROSR+EVT"]
    assert comp.evaluations["CROSR+EVT"].threshold == 0.5 and comp.evaluations["CROSR+EVT"].val_tau is None
    assert len(comp.scorers["GMVAE+NC-U"].centroids) == 3 and len(comp.scorers["CROSR+NC-D"].centroids) == 3
    for name, ev in comp.evaluations.items():
        assert len(ev.f1_by_q) == 2 and np.all((0 <= ev.f1_by_q) & (ev.f1_by_q <= 1))
        if name != "CROSR+EVT":
            assert ev.threshold == pytest.approx(ev.picked_tau * ev.scale)
    assert set(comp.mean_f1()) == set(comp.evaluations)


def test_standard_task_takes_a_standard_split_of_mnist5k():
    task = data.standard_task("mnist5k", 1, seed=0)
    assert task.known_classes == (0, 3, 5, 7, 8, 9) and task.unknown_classes == (1, 2, 4, 6)
    assert set(np.unique(task.y_train)) == set(range(6))
    assert set(np.unique(task.source_test[task.y_test == -1])) == {1, 2, 4, 6}
    with pytest.raises(ValueError, match="split must be an integer"):
        data.standard_task("mnist5k", 5)
    with pytest.raises(ValueError, match="standard splits are defined for .*cifar\\+10"):
        data.standard_task("rings", 0)


def test_build_classifier_maps_images_to_one_logit_per_known_class():
    import torch

    assert nets.build_classifier("small", 6)(torch.zeros(2, 1, 28, 28)).shape == (2, 6)
    assert nets.build_classifier("classifier32", 6, in_channels=3)(torch.zeros(2, 3, 32, 32)).shape == (2, 6)
    with pytest.raises(ValueError, match="unknown network"):
        nets.build_classifier("resnet", 6)


class _FixedScorer(scoring.Scorer):
    name = "fixed"

    def __init__(self, pred, novelty):
        self.pred, self.novelty = np.asarray(pred), np.asarray(novelty, dtype=float)

    def fit(self, model, X, y):
        return self

    @property
    def is_fitted(self):
        return True

    def score(self, X):
        return self.pred, self.novelty


def test_evaluate_gives_auroc_over_known_and_unknown_and_accuracy_over_known():
    from sklearn.metrics import f1_score, roc_auc_score
    from osrkit import metrics

    y_test = np.array([0, 1, 1, -1, -1])
    split = data.OpenSetSplit(np.zeros((2, 1)), np.array([0, 1]), np.zeros((0, 1)), np.array([], int),
                              np.zeros((5, 1)), y_test, (0, 1), (2,))
    novelty = np.array([0.1, 0.5, 0.3, 0.4, 0.9])
    pred = np.array([0, 0, 1, 1, 0])
    s = evaluation.evaluate(_FixedScorer(pred, novelty), split, threshold=0.45)
    assert s.name == "fixed" and s.threshold == 0.45
    assert s.auroc == pytest.approx(roc_auc_score(y_test == -1, novelty))      # 5 of 6 pairs ordered: 0.833
    assert s.auroc == pytest.approx(5 / 6)
    assert s.closed_accuracy == pytest.approx(2 / 3)
    # at 0.45: decisions [0, −1, 1, 1, −1]; F1 of class 0 = 1, class 1 = 1/2, unknown = 1/2
    assert s.decisions().tolist() == [0, -1, 1, 1, -1]
    assert s.macro_f1 == pytest.approx((1 + 0.5 + 0.5) / 3)
    assert s.macro_f1 == pytest.approx(f1_score(y_test, s.decisions(), labels=[0, 1, -1], average="macro"))
    # 95% of the knowns kept at novelty 0.5: one of the two unknowns (0.9) is rejected
    assert s.tnr_at_95tpr == pytest.approx(0.5)
    assert s.oscr == pytest.approx(metrics.oscr(y_test, pred, novelty))
    assert np.array_equal(s.pred, pred) and np.array_equal(s.novelty, novelty)
    assert set(s.as_dict()) == {"auroc", "oscr", "macro_f1", "closed_accuracy", "tnr_at_95tpr", "threshold"}
    with pytest.raises(ValueError, match="no validation samples"):
        evaluation.evaluate(_FixedScorer(pred, novelty), split)          # "val95" needs known validation data


def test_cac_vs_baselines_scores_four_rules_and_a_variant_trains_the_ablation():
    X, y = _tiny_digits(n_per_class=48, classes=4)
    task = data.open_set_split(X, y, [0, 1, 2], val_fraction=0.2, test_fraction=0.25, seed=0)
    config = cac.CACConfig(epochs=15, lr=0.03, lam=0.1)
    comp = cac.cac_vs_baselines(task, config, progress=False)
    assert set(comp.scores) == {"CAC", "MSP", "OpenMax", "CE distance"} and set(comp.networks) == {"CE", "CAC"}
    for name, s in comp.scores.items():
        assert s.name == name and comp.scorers[name].name == name
        assert s.pred.shape == task.y_test.shape and 0.0 <= s.auroc <= 1.0 and 0.0 <= s.closed_accuracy <= 1.0
    assert isinstance(comp.scorers["CAC"], cac.CACScorer)
    assert comp.auroc() == {name: s.auroc for name, s in comp.scores.items()}
    anchor_only = cac.cac_variant(task, config.updated(terms="anchor", epochs=40), progress=False)
    assert anchor_only.name == "CAC"
    assert anchor_only.novelty.shape == task.y_test.shape
