"""The explorer machinery: sliders over quantiles and logits, figures updated in place
that look like figures drawn afresh, numbers that match the pure report."""
import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from osrkit import explorer, plots, widgets  # noqa: E402
from osrkit.methods import dae  # noqa: E402
from osrkit.methods.dae import DAEComponents  # noqa: E402


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)


def fresh_png(fig) -> bytes:
    live = explorer.LiveFigure(fig)
    live.detach()
    return live.render()


def test_quantile_slider_steps_over_equal_shares_of_skewed_scores():
    scores = np.random.default_rng(0).lognormal(0, 2, 5000)      # most scores near 0, a long tail
    slider = explorer.quantile_slider(scores, value=1.0)
    values = np.array([v for _, v in slider.options])
    assert slider.value == 1.0 and slider.label == "1"
    share = np.array([np.mean(scores <= v) for v in values if v != 1.0])
    assert np.all(np.diff(share) >= 0) and np.abs(np.diff(share)).max() < 0.01   # each step passes ~0.5% of them
    # an even slider over the range would leave 90% of the scores in its first 2% of positions
    even = np.linspace(scores.min(), scores.max(), 201)
    assert np.mean(scores <= even[4]) > 0.9
    with pytest.raises(ValueError, match="finite"):
        explorer.quantile_slider(np.array([0.1, np.nan]))


def test_logit_slider_is_as_fine_near_one_as_near_one_half():
    slider = explorer.logit_slider(value=0.9, low=0.5, high=0.999)
    values = np.array([v for _, v in slider.options])
    assert slider.value == 0.9 and values[0] == 0.5 and values[-1] == 0.999
    assert np.sum((values > 0.99) & (values <= 0.999)) >= 50 and np.sum(values <= 0.9) >= 50
    with pytest.raises(ValueError, match="0 < low < high < 1"):
        explorer.logit_slider(value=0.5, low=0.0)


Y = np.r_[np.repeat([0, 1, 2], 40), -np.ones(60, int)]
RNG = np.random.default_rng(1)
PRED = RNG.integers(0, 3, len(Y))
NOV = np.r_[RNG.normal(0, 1, 120), RNG.normal(1.5, 1, 60)]


def test_threshold_explorer_redraws_in_place_what_a_fresh_figure_shows():
    ex = widgets.threshold_explorer(Y, PRED, NOV)
    slider = ex.controls[0]
    for index in (20, 150, 60):
        slider.value = slider.options[index][1]
        report = ex.report()
        assert report.threshold == slider.value
        assert ex.text.value == explorer.numbers_html(widgets.threshold_numbers(report))
        fresh = pixels(fresh_png(widgets.draw_threshold_report(report, Y, NOV)))
        live = pixels(ex.images[0].value)
        assert live.shape == fresh.shape
        # the same picture: only the antialiased edges of the moved line and point may differ
        assert np.mean(np.abs(live - fresh).max(axis=2) > 40) < 0.002
    assert not ex.errors.outputs
    plt.close("all")


def test_the_blitted_matrix_numbers_and_colours_follow_the_threshold():
    fig, ax = plt.subplots()
    plots.plot_confusion(np.array([[5, 0], [1, 2]]), ["a", "unknown"], ax=ax)
    plots.update_confusion(ax, np.array([[0, 9], [3, 1]]))
    assert [t.get_text() for t in ax.texts if t is not ax.title] == ["0", "9", "3", "1"]
    colors = [t.get_color() for t in ax.texts if t is not ax.title]
    assert colors[1] == "w" and colors[0] == ".15"           # white on the darkest cell, dark on the lightest
    with pytest.raises(ValueError, match="show 4 numbers, the new matrix has 9"):
        plots.update_confusion(ax, np.zeros((3, 3), int))
    plt.close(fig)


def test_dae_map_explorer_titles_round_the_log_slider_values():
    parts = DAEComponents(np.full((16, 3), 1 / 3), np.linspace(0, 0.2, 16), np.linspace(-1, 1, 16))
    ex = dae.dae_map_explorer(plots.make_grid(1.0, 4), parts, parts, np.zeros(16, int), parts, alpha=40.0)
    alpha = ex.controls[0]
    alpha.value = next(v for _, v in alpha.options if 63 < v < 64)   # a log-spaced position: 63.0957…
    title = ex.figures[0].fig._suptitle.get_text()
    assert title.startswith("α 63.1  |  β 5  |  threshold c̃ ≥ 0.5") and "63.09" not in title
    assert title == explorer.numbers_title(ex.state()["numbers"])          # the title and the line agree
    assert "α <b>63.1</b>" in ex.text.value
    plt.close("all")


def test_a_saved_explorer_says_how_to_bring_it_back():
    ex = widgets.threshold_explorer(Y, PRED, NOV)
    bundle = ex.widget._repr_mimebundle_()
    assert bundle["text/plain"] == explorer.OFFLINE_TEXT
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == ex.widget.model_id
    assert explorer.registered(ex.id) is ex and "osrkit-explorer" in ex.widget._dom_classes
    plt.close("all")
