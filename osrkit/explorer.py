"""The machinery under every lesson's explorer: controls → a pure report → figures updated in place.

An :class:`Explorer` shows its controls, one line of numbers and one image per figure.
A move of a control recomputes the report (a pure function, tested by pytest), updates
the figures' changing artists in place and sends each figure as PNG bytes to an
``ipywidgets.Image`` (:class:`LiveFigure`): the figure is built once, its static parts are
rendered once and cached, and a move redraws only the artists marked dynamic over that
background (blitting), so a move costs tens of milliseconds instead of rebuilding and
re-rendering the whole figure. Everything static still comes from the lesson's own draw
code, and the plain draw call below each widget cell shows the same figure inline.

Threshold sliders move over quantiles of the scores (:func:`quantile_slider`) or over a
logit scale of a confidence (:func:`logit_slider`), so every part of the range is as
reachable by drag and arrow keys as any other, while the readout shows the value itself.

Errors in a callback are printed below the explorer (ipywidgets would swallow them). A
saved notebook holds no live widget; its explorers' text says to run the cell again
(:mod:`osrkit.lab` strips the dead widget views when JupyterLab saves).
"""
from __future__ import annotations

import abc
import html
import io
import itertools
import traceback
import weakref
from typing import Any, Callable, Mapping, Sequence

import ipywidgets as w
import numpy as np

#: What a saved explorer shows until its cell is run again in a live kernel.
OFFLINE_TEXT = "interactive explorer: run this cell to explore (the sliders need a live kernel)"

#: Positions of a quantile or logit slider (the readout shows the value at each).
SLIDER_POSITIONS = 201


def encode_png(rgba: np.ndarray) -> bytes:
    """PNG bytes of an (H, W, 4) uint8 canvas buffer, without its alpha (figures are opaque);
    zlib level 1: about 12 ms for a 1400×420 figure, against 50 ms at matplotlib's default."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(np.asarray(rgba)[..., :3])).save(buf, format="png", compress_level=1)
    return buf.getvalue()


class ExplorerFigure(abc.ABC):
    """What an :class:`Explorer` needs of a figure: the matplotlib ``fig``, :meth:`detach`
    from pyplot, :meth:`render` as PNG bytes and :meth:`show` a new report."""

    fig: Any

    @abc.abstractmethod
    def detach(self) -> None:
        """Take the figure from pyplot and render it with Agg (see :meth:`LiveFigure.detach`)."""

    @abc.abstractmethod
    def render(self) -> bytes:
        """The figure as PNG bytes."""

    @abc.abstractmethod
    def show(self, report: Any) -> bytes:
        """The figure updated to ``report``, as PNG bytes."""


class LiveFigure(ExplorerFigure):
    """A matplotlib figure drawn once and then updated in place.

    Subclasses build ``self.fig`` in ``__init__`` (the same code draws the lesson's static
    figure), list the artists a move changes in ``dynamic`` and change them in
    :meth:`update`. :meth:`render` draws the static rest once into a cached background
    and, on later calls, restores it and draws only the dynamic artists (blitting).
    :meth:`update` returns True when it changed something static (new axis limits, new
    histograms): the next render then redraws everything. A figure with no dynamic
    artists is rendered once and its PNG reused until it is invalidated.
    """

    def __init__(self, fig, dynamic: Sequence = ()) -> None:
        self.fig = fig
        self.dynamic = list(dynamic)
        self._background = None
        self._png: bytes | None = None

    def detach(self) -> None:
        """Take the figure from pyplot (the inline backend must not show it as well) and
        render it with Agg whatever the notebook's backend; the explorer calls this."""
        import matplotlib.pyplot as plt
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        plt.close(self.fig)
        FigureCanvasAgg(self.fig)

    def update(self, report: Any) -> bool:
        """Show ``report``; True if static parts changed. Subclasses override it."""
        raise NotImplementedError(f"{type(self).__name__} does not update in place")

    def invalidate(self) -> None:
        """Drop the cached background: the next render draws everything."""
        self._background = self._png = None

    def render(self) -> bytes:
        """The figure as PNG bytes (see the class docstring for what is redrawn)."""
        if self._png is not None and not self.dynamic:
            return self._png
        canvas = self.fig.canvas
        if self._background is None:
            for artist in self.dynamic:
                artist.set_animated(True)
            canvas.draw()                    # everything but the dynamic artists
            self._background = canvas.copy_from_bbox(self.fig.bbox)
        else:
            canvas.restore_region(self._background)
        for artist in self.dynamic:
            if artist.get_visible():
                self.fig.draw_artist(artist)
        self._png = encode_png(canvas.buffer_rgba())
        return self._png

    def show(self, report: Any) -> bytes:
        """:meth:`update` with ``report`` and :meth:`render`."""
        if self.update(report):
            self.invalidate()
        return self.render()


class KeyedFigure(ExplorerFigure):
    """One :class:`LiveFigure` per key (a rule, a class, …), each built the first time its
    key is shown and updated in place after; reports are ``(key, report)`` pairs."""

    def __init__(self, make: Callable[[Any, Any], LiveFigure], keyed_report: tuple[Any, Any]) -> None:
        self.make, self.by_key = make, {}
        self._use(keyed_report)

    def _use(self, keyed_report: tuple[Any, Any]) -> bool:
        """Make ``current`` the key's figure showing the report; True if a figure was made."""
        key, report = keyed_report
        made = key not in self.by_key
        if made:
            self.by_key[key] = self.make(key, report)
        self.current = self.by_key[key]
        return made

    @property
    def fig(self):
        return self.current.fig

    def detach(self) -> None:
        for figure in self.by_key.values():
            figure.detach()

    def render(self) -> bytes:
        return self.current.render()

    def show(self, keyed_report: tuple[Any, Any]) -> bytes:
        if self._use(keyed_report):
            self.current.detach()
            return self.current.render()
        return self.current.show(keyed_report[1])


#: The explorers of this kernel, by id (the e2e test finds them by their CSS class).
_EXPLORERS: "weakref.WeakValueDictionary[int, Explorer]" = weakref.WeakValueDictionary()
_IDS = itertools.count(1)


def registered(explorer_id: int) -> "Explorer":
    """The live explorer with this id (its widget has CSS class ``osrkit-explorer-<id>``)."""
    try:
        return _EXPLORERS[explorer_id]
    except KeyError:
        raise KeyError(f"no live explorer {explorer_id}; live ones: {sorted(_EXPLORERS)}") from None


def numbers_html(numbers: Mapping[str, str]) -> str:
    """The explorer's line of numbers: ``name value`` pairs, each in a span the e2e test reads."""
    parts = [f'<span class="osrkit-number" data-name="{html.escape(k)}">{html.escape(k)} <b>{html.escape(v)}</b></span>'
             for k, v in numbers.items()]
    return '<div class="osrkit-numbers" style="font-family: monospace; font-size: 12px">' + " &nbsp;|&nbsp; ".join(parts) + "</div>"


def numbers_title(numbers: Mapping[str, str], lead: str = "") -> str:
    """The same numbers as one figure title: ``lead: name value  |  name value …``, so the
    static figure and the explorer's line never disagree."""
    text = "  |  ".join(f"{k} {v}" for k, v in numbers.items())
    return f"{lead}: {text}" if lead else text


class Explorer:
    """Controls driving ``compute`` (pure: control values → report), ``numbers`` (report →
    formatted numbers, printed above the figures) and ``figures`` (report → the
    :class:`LiveFigure` objects, built at the first report and updated in place after).

    ``explorer.widget`` is the panel (displayed by the notebook cell that returns it);
    ``explorer.report()`` is the report at the controls' current values, the one the
    figures show.
    """

    def __init__(self, controls: Sequence, compute: Callable[..., Any],
                 figures: Callable[[Any], ExplorerFigure | Sequence[ExplorerFigure]],
                 numbers: Callable[[Any], Mapping[str, str]], *, name: str = "explorer") -> None:
        self.id = next(_IDS)
        self.name = name
        self.controls = list(controls)
        self.compute, self._make_figures, self.numbers = compute, figures, numbers
        self.figures: list[ExplorerFigure] = []
        self.images: list = []
        self.text = w.HTML()
        self.errors = w.Output()
        self.errors.add_class("osrkit-errors")
        self.widget = ExplorerBox(list(self.controls) + [self.text, self.errors])
        self.widget.add_class("osrkit-explorer")
        self.widget.add_class(f"osrkit-explorer-{self.id}")
        _EXPLORERS[self.id] = self
        for control in self.controls:
            control.observe(self.refresh, names="value")
        self.refresh()

    def values(self) -> tuple:
        """The controls' current values, in order (the arguments of ``compute``)."""
        return tuple(c.value for c in self.controls)

    def report(self) -> Any:
        """``compute`` at the controls' current values."""
        return self.compute(*self.values())

    def state(self) -> dict[str, Any]:
        """What the explorer shows now, as the e2e test reads it off the page: its name,
        each control's readout and the numbers of the report at the controls' values."""
        return {"name": self.name, "readouts": [readout(c) for c in self.controls],
                "numbers": dict(self.numbers(self.report()))}

    def refresh(self, _change=None) -> None:
        """Recompute and redraw; an error is printed below the explorer instead of vanishing."""
        try:
            report = self.report()
            if not self.figures:
                made = self._make_figures(report)
                self.figures = [made] if isinstance(made, ExplorerFigure) else list(made)
                for figure in self.figures:
                    figure.detach()
                self.images = [w.Image(format="png", layout=w.Layout(max_width="100%")) for _ in self.figures]
                for image in self.images:
                    image.add_class("osrkit-figure")
                self.widget.children = list(self.controls) + [self.text, *self.images, self.errors]
                pngs = [f.render() for f in self.figures]
            else:
                pngs = [f.show(report) for f in self.figures]
            self.text.value = numbers_html(self.numbers(report))
            for image, png in zip(self.images, pngs):
                image.value = png
            self.errors.outputs = ()
        except Exception:  # shown to the student instead of vanishing
            self.errors.outputs = ()
            self.errors.append_stderr(traceback.format_exc())

    def show(self) -> "Explorer":
        """Display the explorer in the running notebook and return it (every factory ends so)."""
        from IPython.display import display

        display(self)
        return self

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def readout(control) -> str:
    """A control's readout as the page shows it (a label, or the value in its readout format)."""
    if isinstance(control, (w.SelectionSlider, w.Dropdown)):
        return str(control.label)
    if isinstance(control, (w.FloatSlider, w.FloatLogSlider)):
        # d3-format, which the page uses, matches Python's for "f" specs and for "~g" (trailing zeros trimmed)
        return format(control.value, control.readout_format.replace("~", ""))
    return str(control.value)


class ExplorerBox(w.VBox):
    """A VBox whose plain-text form (what a saved notebook keeps) says how to bring it back."""

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle:
            bundle["text/plain"] = OFFLINE_TEXT
        return bundle


def short_number(value: float, digits: int = 3) -> str:
    """``value`` to ``digits`` significant digits without an exponent: 63.1, 1000, 0.01."""
    return np.format_float_positional(float(value), precision=digits, unique=True, fractional=False, trim="-")


def _labelled_options(values: np.ndarray, label: Callable[[float], str]) -> list[tuple[str, float]]:
    return [(label(float(v)), float(v)) for v in values]


def _with_value(values: np.ndarray, value: float) -> np.ndarray:
    return np.unique(np.append(np.asarray(values, dtype=np.float64), float(value)))


def quantile_slider(scores: np.ndarray, *, value: float | None = None, description: str = "threshold",
                    label: Callable[[float], str] | None = None, positions: int = SLIDER_POSITIONS):
    """A slider whose positions are ``positions`` quantiles of ``scores`` (plus ``value``):
    equal steps move past equal shares of the samples. Its value is the score itself, and
    the readout shows it (``label``: how, default 4 significant digits)."""

    scores = np.asarray(scores, dtype=np.float64).ravel()
    if scores.size == 0 or not np.isfinite(scores).all():
        raise ValueError("quantile_slider needs a non-empty array of finite scores")
    value = float(np.median(scores)) if value is None else float(value)
    values = _with_value(np.quantile(scores, np.linspace(0.0, 1.0, positions)), value)
    label = label or (lambda v: f"{v:.4g}")
    return w.SelectionSlider(options=_labelled_options(values, label), value=value, description=description,
                             continuous_update=False, layout=w.Layout(width="60%"))


def log_slider(*, value: float, low: float, high: float, positions: int = 81, description: str = "",
               digits: int = 3):
    """A slider over a positive parameter spaced evenly in log10 from ``low`` to ``high``
    (plus ``value``), its readout rounded to ``digits`` significant digits (α = 63.1, not 63.0957)."""
    if not 0 < low < high:
        raise ValueError(f"need 0 < low < high, got low={low}, high={high}")
    values = _with_value(np.geomspace(low, high, positions), value)
    return w.SelectionSlider(options=_labelled_options(values, lambda v: short_number(v, digits)), value=float(value),
                             description=description, continuous_update=False, style={"description_width": "initial"})


def logit_slider(*, value: float, low: float = 1e-3, high: float = 1 - 1e-3, description: str = "threshold",
                 positions: int = SLIDER_POSITIONS, digits: int = 4):
    """A slider over a confidence in (0, 1) spaced evenly in logit(c) = log(c / (1 − c)):
    as many positions between 0.99 and 0.999 as between 0.5 and 0.9 (plus ``value``)."""

    if not 0 < low < high < 1:
        raise ValueError(f"need 0 < low < high < 1, got low={low}, high={high}")
    logit = lambda c: np.log(c / (1 - c))  # noqa: E731
    grid = 1 / (1 + np.exp(-np.linspace(logit(low), logit(high), positions)))
    values = _with_value(np.round(grid, digits), value)
    return w.SelectionSlider(options=_labelled_options(values, lambda v: f"{v:.{digits}g}"), value=float(value),
                             description=description, continuous_update=False, layout=w.Layout(width="60%"),
                             style={"description_width": "initial"})
