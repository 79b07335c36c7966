"""The one progress bar of osrkit: a ``tqdm.auto`` bar that, in a notebook, leaves a plain-text line.

In Jupyter, tqdm draws a widget; a widget is a reference to a model in the kernel, so a
lesson saved and reopened would show "Error displaying widget: model not found" in every
training cell. :class:`NotebookProgressBar` replaces its widget, once the bar is closed,
by the bar's final line as plain text (or by nothing for a ``leave=False`` inner bar), so
the saved notebook, an executed copy and the rendered book all show text.
"""
from __future__ import annotations

from tqdm.auto import tqdm
from tqdm.notebook import tqdm_notebook

#: Seconds between two redraws of a progress bar. In a notebook every redraw is a kernel
#: message; at tqdm's default of 0.1 s, a cell that trains several networks sends so many
#: that the kernel's output queue overflows and drops its final "idle" message (nbval then
#: fails the cell with "Timeout of 5 seconds exceeded waiting for output").
PROGRESS_INTERVAL_S = 1.0


class NotebookProgressBar(tqdm_notebook):
    """tqdm's notebook bar, displayed with a handle and replaced by plain text when closed."""

    def __init__(self, *args, **kwargs) -> None:
        from IPython.display import display

        kwargs["display"] = False
        super().__init__(*args, **kwargs)
        self._handle = None
        if not self.disable:
            self._handle = display(self.container, display_id=True)
            self.displayed = True

    def close(self) -> None:
        if self.disable or self._handle is None:
            return super().close()
        super().close()
        text = self.format_meter(**self.format_dict) if self.leave or self.n < (self.total or 0) else ""
        self._handle.update({"text/plain": text}, raw=True)
        self._handle = None
        self.container.close()


def progress_bar(iterable=None, **kwargs) -> tqdm:
    """A ``tqdm.auto`` bar (a widget in Jupyter that becomes a text line when done) that
    redraws at most once a :data:`PROGRESS_INTERVAL_S`."""
    bar = NotebookProgressBar if issubclass(tqdm, tqdm_notebook) else tqdm
    return bar(iterable, mininterval=PROGRESS_INTERVAL_S, **kwargs)
