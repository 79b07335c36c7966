"""A real JupyterLab in a real browser, for the e2e test of the lessons' explorers.

:class:`LabServer` starts ``jupyter lab`` on 127.0.0.1 (a free port, a random token, its
own settings, workspace and runtime folders) and stops it by its pid; :func:`find_browser`
finds a Chromium (Debian's ``chromium``; Playwright's own download is not available
offline); :class:`LabPage` opens a notebook, runs every cell as a student would (Run ›
Run All Cells), moves sliders with the keyboard and the mouse, times each move until the
explorer's output is redrawn and talks to the notebook's kernel through its connection
file (to call the explorer's pure callback at the slider's value).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

#: Chromium flags for a closed network and a root user (see the machine notes).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

#: JupyterLab settings for the test: every cell in the DOM (no windowing), no news toasts.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                       "checkForUpdates": False},
}


def find_browser() -> str | None:
    """The Chromium to drive: $OSRKIT_CHROMIUM, else chromium on the PATH, else None."""
    for candidate in (os.environ.get("OSRKIT_CHROMIUM"), shutil.which("chromium"), shutil.which("chromium-browser"),
                      shutil.which("google-chrome")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LabServer:
    """``jupyter lab`` serving ``root`` (the lessons' copy) until :meth:`stop`."""

    def __init__(self, root: Path, state: Path, *, env: dict | None = None, timeout: float = 90.0) -> None:
        self.root, self.state = Path(root), Path(state)
        self.port, self.token = free_port(), os.urandom(16).hex()
        for name, value in LAB_SETTINGS.items():
            path = self.state / "settings" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(value))
        self.runtime = self.state / "runtime"
        environ = {**os.environ, **(env or {}), "JUPYTER_RUNTIME_DIR": str(self.runtime),
                   "JUPYTERLAB_SETTINGS_DIR": str(self.state / "settings"),
                   "JUPYTERLAB_WORKSPACES_DIR": str(self.state / "workspaces")}
        self.log = open(self.state / "jupyter-lab.log", "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
             f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={self.token}",
             f"--ServerApp.root_dir={self.root}", "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None",
             *(["--allow-root"] if os.geteuid() == 0 else [])],
            env=environ, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.api("status")
                break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"jupyter lab did not start; see {self.state / 'jupyter-lab.log'}")
                time.sleep(0.5)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api(self, path: str, method: str = "GET"):
        request = urllib.request.Request(f"{self.url}/api/{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def session_of(self, notebook: str) -> dict:
        for session in self.api("sessions"):
            if session["path"] == notebook:
                return session
        raise LookupError(f"no kernel session for {notebook}")

    def shutdown_session(self, notebook: str) -> None:
        self.api(f"sessions/{self.session_of(notebook)['id']}", method="DELETE")

    def connection_file(self, notebook: str) -> Path:
        return self.runtime / f"kernel-{self.session_of(notebook)['kernel']['id']}.json"

    def stop(self) -> None:
        """SIGTERM to the server's pid (it shuts its kernels down), SIGKILL after 20 s."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()


class Kernel:
    """A second client of a notebook's kernel: runs code, returns what it printed."""

    def __init__(self, connection_file: Path) -> None:
        from jupyter_client import BlockingKernelClient

        self.client = BlockingKernelClient(connection_file=str(connection_file))
        self.client.load_connection_file()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=30)

    def run(self, code: str, timeout: float = 60) -> str:
        printed: list[str] = []

        def hook(msg):
            if msg["msg_type"] == "stream":
                printed.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                printed.append("\n".join(msg["content"]["traceback"]))

        reply = self.client.execute_interactive(code, output_hook=hook, timeout=timeout, store_history=False)
        if reply["content"]["status"] != "ok":
            raise RuntimeError("kernel code failed:\n" + "".join(printed))
        return "".join(printed)

    def json(self, code: str):
        return json.loads(self.run(code).strip().splitlines()[-1])

    def close(self) -> None:
        self.client.stop_channels()


#: JavaScript: watch an explorer's subtree; resolve with the ms from the move to the last
#: DOM change or image load, once an image has loaded and the subtree stayed quiet.
WATCH_JS = """([root, quietMs, timeoutMs]) => new Promise((resolve, reject) => {
  const t0 = performance.now(); let last = null, loaded = false, timer = null;
  const settle = () => { clearTimeout(timer); timer = setTimeout(() => {
      if (loaded || root.querySelector('.osrkit-errors .jp-OutputArea-output')) { obs.disconnect(); root.removeEventListener('load', onLoad, true); resolve(last - t0); } }, quietMs); };
  const obs = new MutationObserver(() => { last = performance.now(); settle(); });
  const onLoad = () => { last = performance.now(); loaded = true; settle(); };
  obs.observe(root, {subtree: true, childList: true, attributes: true, characterData: true});
  root.addEventListener('load', onLoad, true);
  window.__osrkitMoveStarted = t0;
  setTimeout(() => { obs.disconnect(); reject(new Error('no redraw within ' + timeoutMs + ' ms')); }, timeoutMs);
})"""


@dataclass
class Move:
    control: int
    how: str
    ms: float


class LabPage:
    """One JupyterLab tab with one notebook open."""

    def __init__(self, browser, server: LabServer, notebook: str) -> None:
        self.server, self.notebook = server, notebook
        self.page = browser.new_page(viewport={"width": 1500, "height": 1000})
        self.console: list[str] = []
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        self.open()

    def open(self) -> None:
        """Open the notebook alone (``reset``: no tabs restored from an earlier page) and wait for its kernel."""
        self.page.goto(f"{self.server.url}/lab/tree/{self.notebook}?reset&token={self.server.token}")
        self.page.wait_for_function(f"() => {{ {self.panel_js}; const nb = panel();"
                                    " return nb && nb.sessionContext.session && nb.sessionContext.session.kernel; }",
                                    timeout=120_000)
        self.wait_idle()

    @property
    def panel_js(self) -> str:
        """JavaScript defining ``panel()``: this notebook's panel in the JupyterLab shell."""
        return ("const panel = () => { if (!window.jupyterapp) return null;"
                " for (const w of window.jupyterapp.shell.widgets('main'))"
                f" if (w.context && w.context.path === {json.dumps(self.notebook)}) return w; return null; }}")

    def state(self) -> dict:
        return self.page.evaluate(f"""() => {{ {self.panel_js};
          const nb = panel();""" + """
          const cells = nb.content.widgets.filter(c => c.model.type === 'code');
          const errors = [];
          for (const c of cells) for (const o of c.model.outputs.toJSON())
            if (o.output_type === 'error') errors.push(o.ename + ': ' + o.evalue);
          return {status: nb.sessionContext.session.kernel.status, cells: cells.length,
                  done: cells.filter(c => c.model.executionCount !== null).length,
                  running: cells.filter(c => c.promptNode && c.promptNode.textContent.includes('*')).length,
                  errors};
        }""")

    def wait_idle(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while self.state()["status"] != "idle":
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.notebook}: kernel not idle after {timeout} s")
            time.sleep(0.5)

    def run_all(self, timeout: float = 1200) -> float:
        """Run › Run All Cells (the menu's command); the seconds until every cell has run."""
        start = time.monotonic()
        self.page.evaluate(f"() => {{ {self.panel_js}; window.jupyterapp.shell.activateById(panel().id);"
                           " window.jupyterapp.commands.execute('runmenu:run-all'); }")
        while True:
            time.sleep(1.0)
            s = self.state()
            if s["errors"]:
                raise AssertionError(f"{self.notebook}: a cell failed: {s['errors']}")
            if s["done"] == s["cells"] and s["running"] == 0 and s["status"] == "idle":
                return time.monotonic() - start
            if time.monotonic() - start > timeout:
                self.page.screenshot(path=str(self.server.state / f"timeout-{self.notebook}.png"))
                raise TimeoutError(f"{self.notebook}: {s['done']} of {s['cells']} cells ran in {timeout} s")

    def outputs_text(self) -> str:
        return self.page.evaluate("() => [...document.querySelectorAll('.jp-OutputArea')].map(e => e.innerText)"
                                  ".join('\\n')")

    def explorers(self, selector: str) -> list:
        return self.page.query_selector_all(selector)

    def sliders(self, root) -> list:
        return root.query_selector_all(".widget-slider")

    def timed(self, root, action, *, quiet_ms: int = 250, timeout_ms: int = 15_000) -> float:
        """Milliseconds from ``action()`` (a slider move) to the explorer's redrawn output
        (its new image, or the traceback it printed below itself)."""
        watch = self.page.evaluate_handle(f"([r, q, t]) => {{ window.__osrkitWatch = ({WATCH_JS})([r, q, t]); "
                                          f"return true; }}", [root, quiet_ms, timeout_ms])
        watch.dispose()
        action()
        return float(self.page.evaluate("() => window.__osrkitWatch"))

    def press(self, slider, key: str) -> None:
        handle = slider.query_selector(".noUi-handle")
        handle.focus()
        self.page.keyboard.press(key)

    def drag(self, slider, dx: float) -> None:
        handle = slider.query_selector(".noUi-handle")
        box = handle.bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        self.page.mouse.move(x, y)
        self.page.mouse.down()
        self.page.mouse.move(x + dx / 2, y, steps=4)
        self.page.mouse.move(x + dx, y, steps=4)
        self.page.mouse.up()

    def figure_sources(self, root) -> list[str]:
        return root.eval_on_selector_all("img", "els => els.map(e => e.src)")

    def save(self) -> None:
        """File › Save Notebook; waits until the file is written."""
        self.page.evaluate(f"() => {{ {self.panel_js}; return panel().context.save(); }}")
        self.page.wait_for_function(f"() => {{ {self.panel_js}; return !panel().context.model.dirty; }}",
                                    timeout=30_000)

    def close(self) -> None:
        self.page.close()
