import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from osrkit import metrics, plots, scoring, widgets  # noqa: E402
from osrkit.methods import dae, gmvae  # noqa: E402
from osrkit.studies import fooling, gmvae_protocol, subclusters  # noqa: E402
from osrkit.methods.dae import DAEComponents  # noqa: E402

Y = np.array([0, 0, 1, 1, -1, -1, -1])
PRED = np.array([0, 1, 1, 1, 0, 1, 0])
NOV = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.4, 0.9])


def test_threshold_report_by_hand():
    rep = widgets.threshold_report(Y, PRED, NOV, 0.5, class_names=["a", "b"])
    # accepted (novelty <= 0.5): samples 0,1,2,5 -> decisions [0, 1, 1, -1, -1, 1, -1]
    assert rep.known_accepted == pytest.approx(3 / 4)
    assert rep.unknown_rejected == pytest.approx(2 / 3)
    assert rep.accuracy == pytest.approx(4 / 7)  # samples 0, 2, 4, 6
    assert rep.labels == ["a", "b", "unknown"]
    assert rep.confusion.tolist() == [[1, 1, 0],
                                      [0, 1, 1],
                                      [0, 1, 2]]
    assert rep.operating_point == pytest.approx((0.25, 2 / 3))
    # AUROC: unknown scores 0.8, 0.4, 0.9 against known 0.1, 0.2, 0.3, 0.7 -> (4 + 3 + 4) / 12
    assert rep.auroc == pytest.approx(11 / 12)
    assert set(rep.summary()) >= {"threshold", "AUROC", "macro-F1"}


def test_threshold_report_needs_known_and_unknown_samples():
    with pytest.raises(ValueError, match="both known"):
        widgets.threshold_report(Y[:4], PRED[:4], NOV[:4], 0.5)
    with pytest.raises(ValueError, match="class_names"):
        widgets.threshold_report(Y, PRED, NOV, 0.5, class_names=["only one"])
    with pytest.raises(ValueError, match="threshold"):
        widgets.threshold_report(Y, PRED, NOV, "0.5")


def test_draw_threshold_report_shows_three_panels_and_the_native_quantity():
    rep = widgets.threshold_report(Y, PRED, NOV, 0.5)
    fig = widgets.draw_threshold_report(rep, Y, NOV, native_name="confidence", to_native=lambda n: 1 - n)
    assert len(fig.axes) == 3 and "confidence 0.5" in fig._suptitle.get_text()
    plt.close(fig)


def _parts(sq, gamma, probs):
    return DAEComponents(np.asarray(probs, float), np.asarray(sq, float), np.asarray(gamma, float))


def test_dae_map_report_recomputes_confidence_from_components():
    known = _parts([0.0, 0.01], [-0.1, 0.2], [[1, 0], [0, 1]])
    unknown = _parts([0.1, 0.0], [-0.1, 1.0], [[1, 0], [1, 0]])
    grid = _parts([0.0, 0.05], [0.0, 0.5], [[0.5, 0.5], [1, 0]])
    rep = dae.dae_map_report(grid, known, np.array([0, 1]), unknown, alpha=10.0, beta=2.0, threshold=0.5)
    c_known = np.array([1.0, np.exp(-0.1) * np.exp(-0.4)])    # 1, 0.61
    c_unknown = np.array([np.exp(-1.0), np.exp(-2.0)])        # 0.37, 0.14
    assert rep.confidence_grid == pytest.approx([1.0, np.exp(-0.5) * np.exp(-1.0)])
    assert rep.gate_grid == pytest.approx([1.0, np.exp(-1.0)])
    assert rep.scaled_probs_grid[1] == pytest.approx([rep.confidence_grid[1], 0.0])
    assert rep.auroc == 1.0 and rep.known_accepted == 1.0 and rep.unknown_rejected == 1.0
    assert rep.accuracy == 1.0
    # a threshold above the second known's confidence rejects it
    strict = dae.dae_map_report(grid, known, np.array([0, 1]), unknown, 10.0, 2.0, threshold=0.7)
    assert strict.known_accepted == 0.5 and strict.accuracy == pytest.approx(3 / 4)
    assert c_known.min() > c_unknown.max()


def test_draw_dae_map_has_four_panels():
    grid = plots.make_grid(1.0, 4)
    parts = _parts(np.zeros(16), np.linspace(-1, 1, 16), np.full((16, 3), 1 / 3))
    rep = dae.dae_map_report(parts, parts, np.zeros(16, int), parts, 40, 5, 0.5)
    fig = dae.draw_dae_map(grid, rep, np.zeros((2, 2)), np.ones((2, 2)))
    assert len([ax for ax in fig.axes if ax.get_title()]) == 4
    plt.close(fig)


def test_widgets_respond_to_slider_changes_without_errors():
    explorer = widgets.threshold_explorer(Y, PRED, NOV, initial=0.5)
    slider = explorer.controls[0]
    assert slider.value == 0.5 and slider.label == "0.5"
    first = explorer.images[0].value
    slider.value = slider.options[10][1]                   # the 5% quantile of the scores: 0.13
    assert explorer.images[0].value != first and "threshold <b>0.13</b>" in explorer.text.value
    assert not explorer.errors.outputs
    grid = plots.make_grid(1.0, 4)
    parts = _parts(np.zeros(16), np.linspace(-1, 1, 16), np.full((16, 3), 1 / 3))
    known = _parts([0.0, 0.1], [-1.0, 0.5], [[1, 0, 0], [0, 1, 0]])
    explorer = dae.dae_map_explorer(grid, parts, known, np.array([0, 1]), known)
    alpha, beta, threshold = explorer.controls
    alpha.value, beta.value = 100.0, min((v for _, v in beta.options), key=lambda v: abs(v - 0.5))
    threshold.value = min((v for _, v in threshold.options), key=lambda v: abs(v - 0.9))
    assert not explorer.errors.outputs and "α <b>100</b>" in explorer.text.value
    plt.close("all")


def test_widget_errors_are_shown_not_swallowed():
    import ipywidgets as w

    from osrkit.explorer import Explorer

    slider = w.IntSlider(value=1, min=0, max=2)
    explorer = Explorer([slider], lambda v: 1 / v, lambda r: [], lambda r: {"value": str(r)})
    assert not explorer.errors.outputs
    slider.value = 0
    assert "ZeroDivisionError" in explorer.errors.outputs[0]["text"]
    slider.value = 2                       # a good value clears the error and shows the numbers
    assert not explorer.errors.outputs and "0.5" in explorer.text.value


def test_fooling_report_by_hand():
    correct = {"cnn": np.array([True, True, False, True]), "dae": np.array([True, True, True, False])}
    conf = {"cnn": np.array([0.95, 0.5, 0.99, 0.91]), "dae": np.array([0.92, 0.89, 0.95, 0.99])}
    fool = {"cnn": np.array([0.99, 0.93]), "dae": np.array([0.4, 0.91])}
    rep = fooling.fooling_report(correct, conf, fool, 0.9)
    assert rep.thresholded_accuracy == {"cnn": 0.5, "dae": 0.5}
    assert rep.fooled == {"cnn": 1.0, "dae": 0.5} and rep.passing["dae"].tolist() == [False, True]
    strict = fooling.fooling_report(correct, conf, fool, 0.95)
    assert strict.fooled == {"cnn": 0.5, "dae": 0.0} and strict.thresholded_accuracy["dae"] == 0.25
    fig = fooling.draw_fooling_report(rep, {"cnn": np.zeros((2, 1, 4, 4)), "dae": np.ones((2, 1, 4, 4))})
    assert len(fig.axes) == 1
    plt.close("all")


def test_nc_threshold_report_matches_the_rule_at_its_picked_tau_and_refuses_fixed_rules():
    from test_gmvae_protocol import FlatEmbedding, blob_split

    split = blob_split()
    sc = scoring.NearestCentroidScorer("uncertainty").fit(FlatEmbedding(), split.X_train, split.y_train)
    ev = gmvae_protocol.evaluate_rule("NC-U", sc, split)
    rep = gmvae_protocol.nc_threshold_report(ev, split.y_test, split.source_test, ev.picked_tau, class_names=["a", "b"])
    assert np.allclose(rep.f1_by_q, ev.f1_by_q)
    assert rep.test_macro_f1 == pytest.approx(metrics.macro_f1(split.y_test, ev.decisions(), 2))
    assert rep.confusion.sum() == len(split.y_test) and rep.labels == ["a", "b", "unknown"]
    # τ = 1 accepts every validation sample; τ = 0 rejects every test sample
    assert gmvae_protocol.nc_threshold_report(ev, split.y_test, split.source_test, 1.0).val_f1 == pytest.approx(ev.val_f1[-1])
    nothing = gmvae_protocol.nc_threshold_report(ev, split.y_test, split.source_test, 0.0)
    assert nothing.confusion[:, :-1].sum() == 0 and nothing.val_f1 == 0.0
    fig = gmvae_protocol.draw_nc_threshold_report(rep, ev)
    assert len(fig.axes) == 3
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        gmvae_protocol.nc_threshold_report(ev, split.y_test, split.source_test, 1.5)
    fixed = gmvae_protocol.evaluate_rule("EVT", sc, split, threshold=0.5)
    with pytest.raises(ValueError, match="fixed threshold"):
        gmvae_protocol.nc_threshold_report(fixed, split.y_test, split.source_test, 0.5)
    explorer = gmvae_protocol.nc_threshold_explorer({"NC-U": ev, "EVT": fixed}, split.y_test, split.source_test)
    assert list(explorer.controls[0].options) == ["NC-U"]
    explorer.controls[1].value = 0.3
    assert not explorer.errors.outputs and "τ <b>0.300</b>" in explorer.text.value
    plt.close("all")


def test_subcluster_report_cross_tabulates_subclusters_and_digits():
    import torch

    class TwoWay(gmvae.SupervisedGMVAE):
        """Subcluster = whether the first pixel is bright."""

        def subcluster_of(self, x, y):
            return (x.flatten(1)[:, 0] > 0.5).long()

    model = TwoWay(1, 2, in_dim=4, hidden=(8,), z_dim=2)
    X = np.array([[0.9, 0, 0, 0], [0.8, 0, 0, 0], [0.1, 0, 0, 0], [0.2, 0, 0, 0], [0.7, 0, 0, 0]], np.float32)
    source = np.array([2, 2, 0, 0, 0])
    rep = subclusters.subcluster_report(model, X, source)
    assert rep.row_labels == [0, 2] and rep.table.tolist() == [[2, 1], [0, 2]]
    assert rep.purity == pytest.approx(4 / 5)
    fig = subclusters.draw_subcluster_report(rep, model.embed(torch.as_tensor(X)).detach().numpy())
    assert len(fig.axes) == 2
    explorer = subclusters.subcluster_explorer({"even": {1: model, 2: model}}, {"even": X}, {"even": source})
    explorer.controls[1].value = 1
    assert not explorer.errors.outputs and "K <b>1</b>" in explorer.text.value
    plt.close("all")


def test_rule_report_thresholds_each_rule_at_a_percentile_of_its_own_scores(capsys):
    # the same samples scored by two rules on different scales; B is A × 100
    choices = {"A": (Y, PRED, NOV), "B": (Y, PRED, NOV * 100)}
    a, b = widgets.rule_report(choices, "A", 50), widgets.rule_report(choices, "B", 50)
    assert a.threshold == pytest.approx(0.4) and b.threshold == pytest.approx(40.0)       # median of 7 scores
    # same ranking, same percentile: the same decisions (3 of 4 known accepted; 2 of 3 unknowns rejected)
    assert (a.known_accepted, a.unknown_rejected) == (b.known_accepted, b.unknown_rejected) == (0.75, 2 / 3)
    assert widgets.rule_report(choices, "A", 100).unknown_rejected == 0.0
    with pytest.raises(ValueError, match="choose one of \\['A', 'B'\\]"):
        widgets.rule_report(choices, "C", 50)
    with pytest.raises(ValueError, match="percentile must be in"):
        widgets.rule_report(choices, "A", 101)
    fig = widgets.draw_rule_report(b, choices, "B")
    assert fig._suptitle.get_text().startswith("B: threshold 40")
    explorer = widgets.rule_threshold_explorer(choices, initial="B", percentile=20)
    dropdown, slider = explorer.controls
    dropdown.value, slider.value = "A", 90.0
    assert not explorer.errors.outputs and "rule <b>A</b>" in explorer.text.value
    plt.close("all")
