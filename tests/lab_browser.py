"""Drive a real JupyterLab with headless Chromium, the way a student runs the notebooks.

Used by ``tests/test_lab.py`` (``make test-lab``). Three pieces:

* the README's JupyterLab commands, parsed from its fenced block, so the test runs what the
  README tells students to run (kernel name included);
* :class:`LabServer`: ``jupyter lab`` from the project's ``.venv`` on 127.0.0.1, a random free
  port and a token, with every Jupyter folder (kernels, config, settings, runtime) in a temporary
  folder so nothing depends on, or leaks into, the user's home; stopping it ends only its own
  process group and the kernels it started;
* :class:`LabPage`: Playwright's sync API on Debian's Chromium, clicking through the Lab UI
  (file browser, kernel dialog, Run menu) and reading what the page shows.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nbformat

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Headless Chromium as root with a closed network: no sandbox (root), no GPU, and no background
# traffic (otherwise it floods the log with refused connections).
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
ROOT_REFUSAL = "Running as root is not recommended. Use --allow-root to bypass."
SESSION_ENV = "TINY_MNIST_LAB_SESSION"  # marks the server's and its kernels' processes


class LabCheckError(AssertionError):
    """A check in the browser failed; the message names the screenshot taken of it."""


# ---------------------------------------------------------------- the README's commands
@dataclass(frozen=True)
class ReadmeLabCommands:
    """The shell commands of the README's JupyterLab block, split like a shell would."""

    commands: list[list[str]]

    def find(self, *prefix: str) -> list[str]:
        """The one command starting with ``prefix``; a clear error if there is none or several."""
        found = [c for c in self.commands if c[: len(prefix)] == list(prefix)]
        if len(found) != 1:
            raise ValueError(f"the README's JupyterLab block must hold exactly one "
                             f"`{' '.join(prefix)} ...` command, found {len(found)}: "
                             f"{self.commands}")
        return found[0]

    @property
    def kernel_install(self) -> list[str]:
        return self.find(".venv/bin/python", "-m", "ipykernel", "install")

    @property
    def kernel_name(self) -> str:
        argv = self.kernel_install
        if "--name" not in argv or argv.index("--name") + 1 >= len(argv):
            raise ValueError(f"the README's ipykernel command has no --name: {argv}")
        return argv[argv.index("--name") + 1]

    @property
    def lab(self) -> list[str]:
        return self.find(".venv/bin/jupyter", "lab")


def readme_lab_section(readme: str) -> str:
    """The text of the README's ``### JupyterLab`` section (up to the next heading)."""
    match = re.search(r"^###? JupyterLab\s*$(.*?)(?=^#{1,3} )", readme, re.M | re.S)
    if match is None:
        raise ValueError("README.md has no `### JupyterLab` section")
    return match.group(1)


def parse_readme_lab_commands(readme: str) -> ReadmeLabCommands:
    """The commands of the first fenced ``bash`` block in the README's JupyterLab section."""
    block = re.search(r"```bash\n(.*?)```", readme_lab_section(readme), re.S)
    if block is None:
        raise ValueError("the README's JupyterLab section has no ```bash block")
    commands = [shlex.split(line, comments=True) for line in block.group(1).splitlines()]
    return ReadmeLabCommands([c for c in commands if c])


# ---------------------------------------------------------------- the server
def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the server refuses to fall back)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def isolated_jupyter_env(base: Path, **extra: str) -> dict[str, str]:
    """This environment with every Jupyter/IPython folder moved under ``base``."""
    folders = {
        "JUPYTER_DATA_DIR": "data", "JUPYTER_CONFIG_DIR": "config",
        "JUPYTER_RUNTIME_DIR": "runtime", "JUPYTERLAB_SETTINGS_DIR": "lab-settings",
        "JUPYTERLAB_WORKSPACES_DIR": "lab-workspaces", "IPYTHONDIR": "ipython",
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "IPYTHON"))}
    for name, folder in folders.items():
        (base / folder).mkdir(parents=True, exist_ok=True)
        env[name] = str(base / folder)
    env.update(extra)
    return env


def run_readme_command(argv: list[str], repo: Path, env: dict[str, str]) -> str:
    """Run one README command (``.venv/...`` taken relative to the repo); its output."""
    resolved = [str(repo / argv[0]) if argv[0].startswith(".venv/") else argv[0], *argv[1:]]
    result = subprocess.run(resolved, cwd=repo, env=env, capture_output=True, text=True,
                            timeout=120, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise RuntimeError(f"`{shlex.join(argv)}` failed ({result.returncode}):\n"
                           f"{result.stdout}{result.stderr}")
    return result.stdout + result.stderr


def lab_server_argv(readme_lab: list[str], repo: Path, port: int, token: str,
                    root_dir: Path) -> list[str]:
    """The README's ``jupyter lab`` command plus what a headless test needs.

    ``--allow-root`` is added only when running as root, where the plain command exits at once
    (the README says so); ``port_retries=0`` so a taken port fails instead of moving silently.
    """
    argv = [str(repo / readme_lab[0]), *readme_lab[1:]]
    if os.geteuid() == 0 and "--allow-root" not in argv:
        argv.append("--allow-root")
    return argv + [
        "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root_dir}",
    ]


def session_processes(marker: str) -> list[int]:
    """Pids of processes whose environment carries ``SESSION_ENV=marker`` (ours only)."""
    needle = f"{SESSION_ENV}={marker}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                pids.append(int(entry.name))
        except OSError:  # gone, or not ours to read
            continue
    return pids


@dataclass
class LabServer:
    """A ``jupyter lab`` process started by this test, and how to reach and stop it."""

    argv: list[str]
    env: dict[str, str]
    log_path: Path
    token: str = field(default_factory=lambda: secrets.token_hex(16))
    marker: str = field(default_factory=lambda: secrets.token_hex(8))
    process: subprocess.Popen[bytes] | None = None

    @classmethod
    def for_readme(cls, readme_lab: list[str], repo: Path, root_dir: Path, env: dict[str, str],
                   log_path: Path) -> LabServer:
        """The README's ``jupyter lab`` serving ``root_dir`` on a free port with a new token."""
        token = secrets.token_hex(16)
        argv = lab_server_argv(readme_lab, repo, free_port(), token, root_dir)
        return cls(argv, env, log_path, token=token)

    @property
    def port(self) -> int:
        return int(next(a.split("=", 1)[1] for a in self.argv
                        if a.startswith("--ServerApp.port=")))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self, cwd: Path, timeout: float = 120.0) -> None:
        """Start in its own process group and wait until the REST API answers."""
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.argv, cwd=cwd, env={**self.env, SESSION_ENV: self.marker},
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.process.returncode} before "
                                   f"serving; its log ({self.log_path}):\n{self.log()[-3000:]}")
            try:
                self.api("status")
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"jupyter lab did not answer on {self.url} within {timeout:.0f} s; "
                           f"log:\n{self.log()[-3000:]}")

    def api(self, path: str, method: str = "GET") -> Any:
        """Call the server's REST API (``/api/<path>``) with the token; the decoded JSON."""
        request = urllib.request.Request(
            f"{self.url}/api/{path}", method=method,
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def stop(self) -> list[int]:
        """Shut down its kernels, then end its process group; pids that had to be killed."""
        if self.process is None:
            return []
        try:
            if self.process.poll() is None:
                for kernel in self.api("kernels"):
                    self.api(f"kernels/{kernel['id']}", method="DELETE")
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass  # the server is already unreachable: the signals below still apply
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        # kernels run in process groups of their own: find any left by our marker
        leftovers = session_processes(self.marker)
        for pid in leftovers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process = None
        return leftovers


# ---------------------------------------------------------------- notebook copies
def strip_outputs(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy without outputs, so everything checked in the page comes from the browser run."""
    copy = nbformat.from_dict(json.loads(json.dumps(nb)))
    for cell in copy.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return copy


def set_parameters(nb: nbformat.NotebookNode, **values: Any) -> None:
    """Rewrite ``name = ...`` lines of the ``parameters`` cell, as papermill would override."""
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    for name, value in values.items():
        pattern = rf"(?m)^{re.escape(name)} = .*$"
        if not re.search(pattern, cell.source):
            raise KeyError(f"parameter {name!r} is not in the parameters cell")
        cell.source = re.sub(pattern, lambda _m, n=name, v=value: f"{n} = {v!r}", cell.source)


def stdout_lines(nb: nbformat.NotebookNode) -> list[str]:
    """Every line the committed notebook printed (stdout), stripped: text the page shows as is."""
    return [line.strip() for cell in nb.cells if cell.cell_type == "code"
            for output in cell.outputs
            if output.output_type == "stream" and output.name == "stdout"
            for line in output.text.splitlines()]


def image_cells(nb: nbformat.NotebookNode) -> list[int]:
    """Indexes (among code cells) of the cells whose outputs hold a PNG figure."""
    cells = [c for c in nb.cells if c.cell_type == "code"]
    return [i for i, c in enumerate(cells)
            if any("image/png" in o.get("data", {}) for o in c.outputs)]


def headline_lines(nb: nbformat.NotebookNode, patterns: list[str]) -> list[str]:
    """The committed stdout lines matching each pattern (exactly one line per pattern)."""
    lines = stdout_lines(nb)
    found = []
    for pattern in patterns:
        hits = sorted({line for line in lines if re.search(pattern, line)})
        if len(hits) != 1:
            raise ValueError(f"expected one committed output line matching {pattern!r}, "
                             f"found {hits}: update the test's headline patterns")
        found.append(hits[0])
    return found


# ---------------------------------------------------------------- the browser
@contextmanager
def chromium_page(user_data_dir: Path, executable: str = CHROMIUM) -> Iterator[Page]:
    """A page of a fresh headless Chromium (new empty profile), closed on exit."""
    from playwright.sync_api import sync_playwright

    if not Path(executable).is_file():
        raise FileNotFoundError(f"{executable} is missing: `make test-lab` installs Debian's "
                                "chromium package (apt-get install -y chromium)")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(user_data_dir), executable_path=executable, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.set_default_timeout(60_000)
            yield page
        finally:
            context.close()


class LabPage:
    """The Lab UI in one browser page: open, pick a kernel, run, read outputs, screenshot."""

    def __init__(self, page: Page, server: LabServer, screenshots: Path) -> None:
        self.page, self.server, self.screenshots = page, server, screenshots
        screenshots.mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------ navigation
    def open_lab(self) -> None:
        """Load the Lab UI and answer its "get notified about news?" toast with No."""
        self.page.goto(f"{self.server.url}/lab?token={self.server.token}")
        self.page.locator(".jp-DirListing-item").first.wait_for(timeout=120_000)
        news = self.page.locator(".jp-toast-button", has_text=re.compile(r"^No$"))
        try:
            news.click(timeout=5_000)
        except Exception:  # no toast shown: nothing to dismiss
            pass

    def open_from_file_browser(self, path: str) -> Locator:
        """Double-click through the file browser to ``path``; the opened notebook's panel."""
        browser = self.page.locator(".jp-FileBrowser")
        browser.locator(".jp-BreadCrumbs-home").click()  # start at the Lab root
        for part in path.split("/"):
            name = re.compile(rf"^{re.escape(part)}$")
            browser.locator(".jp-DirListing-item").filter(
                has=self.page.locator(".jp-DirListing-itemText", has_text=name)).dblclick()
        tab = self.page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current",
                                has_text=path.rsplit("/", 1)[-1])
        tab.wait_for()
        panel = self.page.locator(f"[id='{tab.get_attribute('data-id')}']")
        panel.locator(".jp-Notebook .jp-Cell").first.wait_for()
        return panel

    def select_kernel(self, panel: Locator, path: str, kernel: str) -> None:
        """Pick ``kernel`` in the toolbar's Select Kernel dialog; checked on the server too."""
        panel.locator(".jp-KernelName").click()
        dialog = self.page.locator(".jp-Dialog")
        dialog.locator("select").select_option(label=kernel)
        dialog.locator(".jp-mod-accept").click()
        dialog.wait_for(state="detached")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            sessions = [s for s in self.server.api("sessions") if s["path"] == path]
            if (sessions and sessions[0]["kernel"]["name"] == kernel
                    and sessions[0]["kernel"]["execution_state"] == "idle"
                    and self.execution_status(panel) == "idle"):
                return
            time.sleep(0.5)
        self.fail(panel, path, f"the kernel {kernel!r} did not start (sessions: "
                  f"{self.server.api('sessions')})")

    def run_all(self, panel: Locator) -> None:
        """Run > Run All Cells from the menu bar, with ``panel`` the current notebook."""
        panel.locator(".jp-Notebook").click(position={"x": 5, "y": 5})
        self.page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
        self.page.locator(".lm-Menu-item:visible",
                          has_text=re.compile(r"^Run All Cells")).click()

    def shutdown(self, path: str) -> None:
        """End the notebook's session and kernel (keeps memory low on small machines)."""
        for session in self.server.api("sessions"):
            if session["path"] == path:
                self.server.api(f"sessions/{session['id']}", method="DELETE")

    # ------------------------------------------------------------ reading the page
    def execution_status(self, panel: Locator) -> str | None:
        return panel.locator(".jp-Notebook-ExecutionIndicator").get_attribute("data-status")

    def prompts(self, panel: Locator) -> list[str]:
        """The input prompt of every code cell, e.g. ``[3]:``, ``[*]:`` (running or queued)."""
        return [p.strip() for p in
                panel.locator(".jp-CodeCell .jp-InputPrompt").all_text_contents()]

    def is_finished(self, panel: Locator) -> bool:
        """Some cell ran, none is queued or running, and the kernel is idle."""
        prompts = self.prompts(panel)
        return (any(re.fullmatch(r"\[\d+\]:", p) for p in prompts)
                and not any("*" in p for p in prompts)
                and self.execution_status(panel) == "idle")

    def wait_until_finished(self, panel: Locator, name: str, timeout: float) -> None:
        """Wait until :meth:`is_finished` holds twice in a row (half a second apart)."""
        deadline, calm = time.monotonic() + timeout, 0
        while time.monotonic() < deadline:
            calm = calm + 1 if self.is_finished(panel) else 0
            if calm >= 2:
                return
            time.sleep(0.5)
        running = [i for i, p in enumerate(self.prompts(panel)) if "*" in p]
        self.fail(panel, name, f"still running after {timeout:.0f} s (code cells {running} "
                  "queued or running)", cell=running[0] if running else None)

    def code_cell(self, panel: Locator, index: int) -> Locator:
        return panel.locator(".jp-CodeCell").nth(index)

    def output_text(self, panel: Locator) -> str:
        """Every output's text as the page holds it (rendered, so widgets' labels too)."""
        return "\n".join(panel.locator(".jp-OutputArea-output").all_text_contents())

    def cells_with_images(self, panel: Locator) -> list[int]:
        """Code cells showing at least one decoded, non-empty image."""
        shown = []
        for index in range(panel.locator(".jp-CodeCell").count()):
            images = self.code_cell(panel, index).locator(".jp-OutputArea-output img")
            if images.count() == 0:
                continue
            images.first.scroll_into_view_if_needed()
            decoded = images.evaluate_all(
                "els => els.every(e => e.complete && e.naturalWidth > 0 && e.naturalHeight > 0)")
            if decoded:
                shown.append(index)
        return shown

    def save(self, panel: Locator, name: str, disk_path: Path) -> nbformat.NotebookNode:
        """Save with Ctrl+S (as a student would) and read back what the browser held."""
        panel.locator(".jp-Notebook").click(position={"x": 5, "y": 5})
        self.page.keyboard.press("Control+s")
        tab = self.page.locator(f".lm-TabBar-tab[data-id='{panel.get_attribute('id')}']")
        deadline = time.monotonic() + 60
        while "jp-mod-dirty" in (tab.get_attribute("class") or ""):
            if time.monotonic() > deadline:
                self.fail(panel, name, "Ctrl+S did not save the notebook within 60 s")
            time.sleep(0.3)
        return nbformat.read(disk_path, as_version=4)

    def run_notebook(self, path: str, disk_path: Path, kernel: str, timeout: float,
                     while_running: Callable[[Locator], None] | None = None) -> Locator:
        """Open ``path`` from the file browser, pick ``kernel``, run all, wait, fail on errors.

        Errors are read from the notebook the browser saves (an error and a warning look alike
        in the page); the failure names the cell and carries a screenshot of it.
        """
        panel = self.open_from_file_browser(path)
        self.select_kernel(panel, path, kernel)
        self.run_all(panel)
        if while_running is not None:
            while_running(panel)
        self.wait_until_finished(panel, path, timeout)
        saved = self.save(panel, path, disk_path)
        cells = [c for c in saved.cells if c.cell_type == "code"]
        for index, cell in enumerate(cells):
            for output in cell.outputs:
                if output.output_type == "error":
                    self.fail(panel, path, f"code cell {index} raised {output.ename}: "
                              f"{output.evalue}", cell=index)
        not_run = [i for i, c in enumerate(cells) if c.source.strip() and not c.execution_count]
        if not_run:
            self.fail(panel, path, f"code cells {not_run} did not run", cell=not_run[0])
        return panel

    # ------------------------------------------------------------ evidence
    def screenshot(self, target: Locator | None, name: str) -> Path:
        """A PNG of ``target`` (or the whole page) under the screenshot folder; its path.

        Scrolls it into view and clips the page to it without Playwright's stability waits, so
        a progress bar that keeps moving (or is about to vanish) is still caught.
        """
        path = self.screenshots / f"{name}.png"
        clip = None
        if target is not None:
            try:
                target.evaluate("e => e.scrollIntoView({block: 'center'})", timeout=5_000)
                box = target.bounding_box(timeout=5_000)
                viewport = self.page.viewport_size
                if box and viewport and box["width"] > 0 and box["height"] > 0:
                    x, y = max(box["x"], 0), max(box["y"], 0)
                    clip = {"x": x, "y": y,
                            "width": min(box["x"] + box["width"], viewport["width"]) - x,
                            "height": min(box["y"] + box["height"], viewport["height"]) - y}
            except Exception:  # gone or hidden: the whole page is still evidence
                clip = None
        if clip is not None and clip["width"] > 0 and clip["height"] > 0:
            self.page.screenshot(path=str(path), clip=clip)
        else:
            self.page.screenshot(path=str(path))
        return path

    def screenshot_last_output(self, panel: Locator, name: str) -> Path:
        outputs = panel.locator(".jp-OutputArea-output:not(.lm-mod-hidden)")
        return self.screenshot(outputs.last if outputs.count() else None, name)

    def fail(self, panel: Locator, name: str, message: str, cell: int | None = None) -> None:
        """Raise :class:`LabCheckError` with a screenshot of the cell (or the page)."""
        target = self.code_cell(panel, cell) if cell is not None else None
        stem = re.sub(r"\W+", "_", Path(name).stem) + "-FAILED"
        path = self.screenshot(target, stem)
        raise LabCheckError(f"{name}: {message}. Screenshot: {path}")
