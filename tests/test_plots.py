import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_rgb  # noqa: E402

from osrkit import plots  # noqa: E402


def test_grid_covers_the_square_in_row_order():
    grid = plots.make_grid(2.5, 5)
    assert grid.points.shape == (25, 2) and grid.shape == (5, 5)
    assert grid.points[0].tolist() == [-2.5, -2.5] and grid.points[4].tolist() == [2.5, -2.5]
    assert grid.as_image(np.arange(25))[1, 0] == 5
    with pytest.raises(ValueError):
        plots.make_grid(1.0, 1)


def test_label_image_fades_to_white_with_low_confidence():
    probs = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    img = plots.label_image(probs, scale=np.array([1.0, 1.0, 0.0]))
    assert img[0] == pytest.approx(to_rgb(plots.CLASS_COLORS[0]))
    assert img[1] == pytest.approx(to_rgb(plots.CLASS_COLORS[1]))
    assert img[2] == pytest.approx([1.0, 1.0, 1.0])


def test_plot_helpers_draw_on_given_axes():
    grid = plots.make_grid(1.0, 10)
    fig, axes = plt.subplots(1, 6)
    plots.plot_map(grid, np.linspace(0, 1, 100), ax=axes[0], title="map")
    plots.plot_labels(grid, np.full((100, 3), 1 / 3), ax=axes[1])
    plots.plot_points(np.zeros((4, 2)), np.array([0, 1, -1, -1]), ax=axes[2])
    plots.plot_score_histograms(np.zeros(5), np.ones(5), 0.5, ax=axes[3])
    plots.plot_roc(np.array([0, 1.0]), np.array([0, 1.0]), operating_point=(0.2, 0.8), auc=0.5, ax=axes[4])
    plots.plot_confusion(np.eye(2, dtype=int), ["a", "unknown"], ax=axes[5])
    assert axes[0].get_title() == "map" and len(axes[0].images) == 1
    assert axes[2].get_legend_handles_labels()[1] == ["unknown", "class 0", "class 1"]
    assert axes[3].lines[0].get_xdata()[0] == 0.5
    plt.close(fig)


def test_grouped_bars_and_fraction_heatmaps_write_their_values():
    fig, axes = plt.subplots(1, 2)
    plots.plot_grouped_bars({"anchor only": (0.98, 0.95), "both": (0.99, 0.96)}, ("accuracy", "AUROC"), ax=axes[0],
                            ylim=(0.9, 1.0))
    assert len(axes[0].patches) == 4 and [t.get_text() for t in axes[0].get_xticklabels()] == ["accuracy", "AUROC"]
    assert sorted(t.get_text() for t in axes[0].texts) == ["0.950", "0.960", "0.980", "0.990"]
    plots.plot_confusion(np.array([[0.9612, 0.5]]), ["α=2"], column_labels=["λ=0.1", "λ=1"], fmt=".3f", ax=axes[1])
    assert sorted(t.get_text() for t in axes[1].texts) == ["0.500", "0.961"]
    assert [t.get_text() for t in axes[1].get_xticklabels()] == ["λ=0.1", "λ=1"]
    with pytest.raises(ValueError, match="one value per metric"):
        plots.plot_grouped_bars({"a": (1.0,)}, ("x", "y"))
    plt.close(fig)


def test_embedding_of_2d_features_keeps_its_axes_and_hollow_centroids():
    fig, ax = plt.subplots()
    plots.plot_embedding(np.array([[10.0, 0.0], [0.0, 10.0], [9.0, 1.0]]), np.array([0, 1, 0]),
                         centroids=np.array([[10.0, 0.0], [0.0, 10.0]]), centroid_labels=[0, 1], ax=ax)
    assert len(ax.get_xticks()) > 0
    stars = ax.collections[-1]
    assert stars.get_facecolor().size == 0 or stars.get_facecolor()[0][3] == 0     # hollow: points show through
    plt.close(fig)


def test_attribution_maps_and_activated_area_plots():
    images = np.random.default_rng(0).random((3, 1, 6, 6))
    fig = plots.plot_attribution_maps(images, {"Grad-CAM": images[:, 0], "LayerCAM": images[:, 0]}, max_images=2)
    assert len(fig.axes) == 6 and fig.axes[2].get_ylabel() == "Grad-CAM"
    plt.close(fig)
    fig, ax = plt.subplots()
    plots.plot_activated_area(np.array([0.0, 1.0]), {"plain": np.array([1.0, 0.1]), "GradMix": np.array([1.0, 0.3])},
                              ax=ax)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["plain (mean 0.5500)", "GradMix (mean 0.6500)"]
    plt.close(fig)
    # several runs: the mean curve is labelled, and each run is drawn as a thin line
    fig, ax = plt.subplots()
    plots.plot_activated_area(np.array([0.0, 1.0]), {"plain": np.array([[1.0, 0.1], [1.0, 0.3]])}, ax=ax)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["plain (mean 0.6000)"]
    assert len(ax.lines) == 3 and ax.lines[0].get_ydata().tolist() == [1.0, 0.2]
    plt.close(fig)


def test_critical_difference_diagram_joins_rules_closer_than_the_cd():
    ranks = {"A": 1.0, "B": 1.5, "C": 3.0, "D": 3.5}
    fig = plots.plot_critical_difference(ranks, 1.0)
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert "A (1.00)" in texts and "D (3.50)" in texts and "CD = 1.00" in texts
    thick = [c for c in ax.collections if c.get_linewidth()[0] == 3]
    spans = sorted(tuple(np.round(seg[:, 0], 2)) for c in thick for seg in c.get_segments())
    assert spans == [(0.97, 1.53), (2.97, 3.53)]                 # {A, B} and {C, D}; B–C differ by 1.5 > CD
    one_group = plots.plot_critical_difference(ranks, 5.0).axes[0]
    assert len([c for c in one_group.collections if c.get_linewidth()[0] == 3]) == 1
    with pytest.raises(ValueError, match="at least 2 rules"):
        plots.plot_critical_difference({"A": 1.0}, 1.0)
    plt.close("all")


def test_metric_pairs_and_histogram_grid_draw_one_entry_each():
    fig = plots.plot_metric_pairs({"a": (np.array([0.9, 0.8]), np.array([0.7, 0.6])), "b": (np.array([1.0]),
                                   np.array([0.9]))}, xlabel="accuracy", ylabel="AUROC")
    means = [c.get_offsets() for c in fig.axes[0].collections][1::2]
    assert np.allclose(means[0], [[0.85, 0.65]]) and np.allclose(means[1], [[1.0, 0.9]])
    rng = np.random.default_rng(0)
    grid = plots.plot_histogram_grid({f"r{i}": (rng.normal(size=50), rng.normal(2, size=50), 1.0) for i in range(5)},
                                     columns=4)
    visible = [ax for ax in grid.axes if ax.get_visible()]
    assert len(grid.axes) == 8 and [ax.get_title() for ax in visible] == [f"r{i}" for i in range(5)]
    plt.close("all")


def test_score_histograms_of_scores_that_nearly_coincide_draw_instead_of_failing():
    """An untrained network's scores can differ in the last bits only, too little for
    numpy's 40 bins (seen in the capstone's full-mode smoke run)."""
    known = np.full(20, np.nextafter(3.0, 4.0))               # one float step above 3
    unknown = np.full(10, 3.0)
    with pytest.raises(ValueError, match="Too many bins"):
        np.histogram_bin_edges(np.concatenate([known, unknown]), bins=40)
    fig = plots.plot_score_histograms(known, unknown, threshold=3.0)
    counts = [sum(p.get_height() > 0 for p in container) for container in fig.axes[0].containers]
    assert counts == [1, 1]                                   # every score lands in the one bin around 3
    plt.close(fig)
