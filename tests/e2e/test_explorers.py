"""Every lesson's explorers in a real JupyterLab and a real Chromium.

Per lesson: run all cells in quick mode; no output shows a traceback or a widget error;
every explorer renders; each slider, moved 20 times with the arrow keys and once by
dragging its handle, redraws the figure and the printed numbers, and those numbers (and
the slider's readout) are the ones the explorer's pure callback gives at the slider's
value in the kernel; each dropdown swaps the view the same way. Screenshots of each
explorer before and after go to ``build/e2e/<lesson>/``; the milliseconds of every move
go to the latency table (``conftest.py``). Finally the notebook is saved, its kernel shut
down and the page reloaded: a fresh kernel, no "model not found", and every explorer
says how to bring it back.
"""
from __future__ import annotations

import json
import re

import pytest

import lab
from conftest import LATENCY, NOTEBOOKS, OUT

from osrkit.explorer import OFFLINE_TEXT
from osrkit.lab import WIDGET_VIEW

MOVES = 20
ERRORS = ("Traceback (most recent call last)", "Error displaying widget", "model not found")


def expected_explorers(notebook: str) -> int:
    """Code cells that build an explorer (a call of a function named ``*_explorer``)."""
    cells = json.loads((NOTEBOOKS / notebook).read_text())["cells"]
    return sum(1 for c in cells if c["cell_type"] == "code" and re.search(r"\w+_explorer\(", "".join(c["source"])))


def page_state(root) -> dict:
    """The readouts of the explorer's controls and its printed numbers, as the page shows them
    (ipywidgets writes a dropdown's labels with no-break spaces: read back as spaces)."""
    return root.evaluate("""root => ({
      readouts: [...root.querySelectorAll(':scope > .widget-slider, :scope > .widget-dropdown')].map(c =>
          (c.classList.contains('widget-dropdown') ? c.querySelector('select').selectedOptions[0]
                                                   : c.querySelector('.widget-readout'))
          .textContent.replace(/\u00a0/g, ' ').trim()),
      numbers: Object.fromEntries([...root.querySelectorAll('.osrkit-number')].map(s =>
          [s.dataset.name, s.querySelector('b').textContent])),
      figures: [...root.querySelectorAll('img')].map(i => i.src)})""")


def assert_no_callback_error(root, what: str) -> None:
    """The explorer prints a failing callback's traceback below itself: fail with it."""
    shown = root.eval_on_selector_all(".osrkit-errors", "els => els.map(e => e.innerText).join('')").strip()
    assert not shown, f"{what}: the explorer's callback failed:\n{shown}"


def explorer_id(root) -> int:
    return int(next(c for c in root.get_attribute("class").split() if re.fullmatch(r"osrkit-explorer-\d+", c))
               .rsplit("-", 1)[1])


def assert_matches_kernel(root, kernel: lab.Kernel, ident: int, what: str) -> dict:
    shown = page_state(root)
    truth = kernel.json(f"import json; from osrkit import explorer as _e; print(json.dumps(_e.registered({ident}).state()))")
    assert shown["readouts"] == truth["readouts"], f"{what}: readouts {shown['readouts']} vs kernel {truth['readouts']}"
    assert shown["numbers"] == truth["numbers"], f"{what}: page shows {shown['numbers']}, callback gives {truth['numbers']}"
    return {**shown, "name": truth["name"]}


def slider_direction(slider, going: int) -> int:
    """+1 or −1: keep ``going`` unless the handle sits at that end of the slider."""
    handle = slider.query_selector(".noUi-handle")
    now, low, high = (float(handle.get_attribute(a)) for a in ("aria-valuenow", "aria-valuemin", "aria-valuemax"))
    if going > 0 and now >= high:
        return -1
    if going < 0 and now <= low:
        return 1
    return going


def test_lesson_explorers_in_jupyterlab(browser, jupyter_lab, notebook):
    lesson = notebook[:2]
    shots = OUT / lesson
    shots.mkdir(parents=True, exist_ok=True)
    page = lab.LabPage(browser, jupyter_lab, notebook)
    try:
        page.run_all()
        page.page.wait_for_timeout(1000)
        text = page.outputs_text()
        for error in ERRORS:
            assert error not in text, f"{notebook}: an output shows {error!r}"
        roots = page.explorers(".osrkit-explorer")
        assert len(roots) == expected_explorers(notebook) > 0, f"{notebook}: {len(roots)} explorers rendered"
        kernel = lab.Kernel(jupyter_lab.connection_file(notebook))
        try:
            for index, root in enumerate(roots):
                check_explorer(page, root, kernel, lesson, index, shots)
        finally:
            kernel.close()
        assert not [m for m in page.console if "Error displaying widget" in m]
        check_saved_and_reopened(page, jupyter_lab, notebook, len(roots), shots)
    finally:
        page.close()
        try:
            jupyter_lab.shutdown_session(notebook)
        except LookupError:
            pass


def check_explorer(page: lab.LabPage, root, kernel: lab.Kernel, lesson: str, index: int, shots) -> None:
    ident = explorer_id(root)
    root.scroll_into_view_if_needed()
    assert_no_callback_error(root, f"explorer {index} as drawn")
    start = assert_matches_kernel(root, kernel, ident, f"explorer {index} as drawn")
    name = start["name"]
    assert start["figures"] and start["numbers"], f"explorer {name}: no figure or no numbers"
    root.screenshot(path=str(shots / f"{index}-{name.replace(' ', '_')}-before.png"))
    for s, slider in enumerate(page.sliders(root)):
        label = slider.query_selector(".widget-label").text_content().strip() or f"slider {s}"
        before = page_state(root)
        figure_before = root.query_selector("img").screenshot()
        moves: dict[str, list[float]] = {"keyboard": [], "drag": []}
        going = 1
        for _ in range(MOVES):
            going = slider_direction(slider, going)
            previous = page_state(root)["numbers"]
            moves["keyboard"].append(page.timed(root, lambda: page.press(slider, "ArrowRight" if going > 0
                                                                        else "ArrowLeft")))
            assert_no_callback_error(root, f"{name}/{label} after {len(moves['keyboard'])} key presses")
            assert page_state(root)["numbers"] != previous, f"{name}/{label}: a key press left the numbers as they were"
        assert_matches_kernel(root, kernel, ident, f"{name}/{label} after the arrow keys")
        going = slider_direction(slider, going)
        moves["drag"].append(page.timed(root, lambda: page.drag(slider, 80 * going)))
        assert_no_callback_error(root, f"{name}/{label} after a drag")
        after = assert_matches_kernel(root, kernel, ident, f"{name}/{label} after a drag")
        assert after["numbers"] != before["numbers"] and after["figures"] != before["figures"]
        assert root.query_selector("img").screenshot() != figure_before, f"{name}/{label}: the figure did not change"
        LATENCY[(lesson, name, label)] = moves
    for d, dropdown in enumerate(root.query_selector_all(":scope > .widget-dropdown select")):
        options = dropdown.eval_on_selector_all("option", "els => els.map(e => e.value)")
        if len(options) < 2:
            continue
        current = dropdown.input_value()
        other = next(o for o in options if o != current)
        before = page_state(root)
        page.timed(root, lambda: dropdown.select_option(other))
        assert_no_callback_error(root, f"{name}: dropdown {d} on {other}")
        after = assert_matches_kernel(root, kernel, ident, f"{name}: dropdown {d} on {other}")
        assert after["numbers"] != before["numbers"]
        page.timed(root, lambda: dropdown.select_option(current))
    root.screenshot(path=str(shots / f"{index}-{name.replace(' ', '_')}-after.png"))


def check_saved_and_reopened(page: lab.LabPage, server: lab.LabServer, notebook: str, explorers: int, shots) -> None:
    page.save()
    old_kernel = server.session_of(notebook)["kernel"]["id"]
    saved = json.loads((server.root / notebook).read_text())
    views = [o for c in saved["cells"] for o in c.get("outputs", []) if WIDGET_VIEW in o.get("data", {})]
    assert not views, f"{notebook}: the saved file keeps {len(views)} widget views without a model"
    server.shutdown_session(notebook)
    page.open()                                       # a reload: the saved file, a fresh kernel
    page.page.wait_for_timeout(2000)
    assert server.session_of(notebook)["kernel"]["id"] != old_kernel, "the reopened notebook should have a new kernel"
    text = page.outputs_text()
    for error in ERRORS:
        assert error not in text, f"{notebook} reopened: an output shows {error!r}"
    assert text.count(OFFLINE_TEXT) == explorers, f"{notebook} reopened: {text.count(OFFLINE_TEXT)} of {explorers} " \
                                                  "explorers say how to bring them back"
    page.page.screenshot(path=str(shots / "reopened.png"))


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__]))
