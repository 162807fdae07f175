"""End to end in a real browser: the notebooks run in JupyterLab the way students use it.

``make test-lab`` sets ``RUN_LAB_TESTS=1``; without it only the fast checks of the README's
JupyterLab block and of the helpers run (``make test`` skips the browser with a reason).
Everything runs on copies (outputs stripped, figures redirected) in a temporary folder under
``runs/``, so the committed notebooks and figures stay untouched; the copies sit below the repo
root, so the notebooks' own "find utils/ above the current folder" cell works unchanged.
Expected numbers are read from the committed outputs. Screenshots go to ``lab-screenshots/``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pytest

from tests.lab_browser import (
    ROOT_REFUSAL,
    LabCheckError,
    LabPage,
    LabServer,
    ReadmeLabCommands,
    chromium_page,
    free_port,
    headline_lines,
    image_cells,
    isolated_jupyter_env,
    lab_server_argv,
    parse_readme_lab_commands,
    readme_lab_section,
    run_readme_command,
    set_parameters,
    strip_outputs,
)
from utils.data import MNISTSplits
from utils.paths import REPO_ROOT

KERNEL_NAME = "tiny-mnist-cnn"  # the kernel the README tells students to pick
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
SCREENSHOTS = REPO_ROOT / "lab-screenshots"
RUN_TIMEOUT = 300.0  # seconds per notebook; each takes well under a minute on 2 busy cores
needs_browser = pytest.mark.skipif(os.environ.get("RUN_LAB_TESTS") != "1",
                                   reason="browser test: run it with `make test-lab`")

# Which committed output lines are the headline numbers (the numbers come from the file).
HEADLINES = {
    "01_data_exploration.ipynb": [r"^train:\s", r"^our train split", r"^background maps to"],
    "03_training.ipynb": [r"\(final epoch \d+\) on the test split:",
                          r"^same number of errors as the sweep"],
    # 04 diagnoses the validation split and reports the test split once (its section 8)
    "04_error_analysis.ipynb": [r"^A on the val split:", r"^errors: \d+ of \d+",
                                r"^ECE \(\d+ bins\):", r"^A on the test split:",
                                r"^B = .* on the test split:", r"^test split, A vs B:"],
}
BROKEN_MESSAGE = "deliberately broken copy: the browser test must catch this"


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@dataclass
class LabCopy:
    """A notebook copy served by the Lab: its path in the Lab and on disk."""

    lab_path: str
    disk: Path


@dataclass
class LabSession:
    lab: LabPage
    copies: dict[str, LabCopy]


# ---------------------------------------------------------------- the README (always checked)
@pytest.fixture(scope="module")
def readme() -> str:
    return (REPO_ROOT / "README.md").read_text()


@pytest.fixture(scope="module")
def readme_commands(readme: str) -> ReadmeLabCommands:
    return parse_readme_lab_commands(readme)


def test_readme_lab_block_is_what_this_test_runs(readme: str,
                                                 readme_commands: ReadmeLabCommands) -> None:
    """The test runs these very commands (parsed from the README), so they must be these."""
    assert readme_commands.commands[0] == ["make"], readme_commands.commands
    assert readme_commands.kernel_name == KERNEL_NAME
    assert readme_commands.kernel_install == [
        ".venv/bin/python", "-m", "ipykernel", "install", "--user", "--name", KERNEL_NAME]
    assert readme_commands.lab[:2] == [".venv/bin/jupyter", "lab"]
    assert f'"{KERNEL_NAME}" kernel' in readme_lab_section(readme), (
        "the README must tell students which kernel to pick")
    argv = lab_server_argv(readme_commands.lab, REPO_ROOT, 8888, "t", REPO_ROOT)
    assert argv[: len(readme_commands.lab)] == [str(REPO_ROOT / ".venv/bin/jupyter"),
                                                *readme_commands.lab[1:]]


def test_readme_explains_running_as_root(readme: str) -> None:
    section = readme_lab_section(readme)
    assert ROOT_REFUSAL in squash(section), "the README must quote the root refusal"
    assert "--allow-root" in section


def test_parse_readme_lab_commands_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="no `### JupyterLab` section"):
        parse_readme_lab_commands("# Title\n")
    block = "### JupyterLab\n\n```bash\n{}\n```\n\n## Next\n"
    with pytest.raises(ValueError, match="has no --name"):
        _ = parse_readme_lab_commands(block.format(
            ".venv/bin/python -m ipykernel install --user")).kernel_name
    with pytest.raises(ValueError, match="exactly one `.venv/bin/jupyter lab"):
        _ = parse_readme_lab_commands(block.format("make")).lab


def test_lab_server_argv_allows_root_only_as_root(monkeypatch: pytest.MonkeyPatch) -> None:
    for uid, expected in [(0, True), (1000, False)]:
        monkeypatch.setattr(os, "geteuid", lambda uid=uid: uid)
        argv = lab_server_argv([".venv/bin/jupyter", "lab"], REPO_ROOT, 1234, "tok", REPO_ROOT)
        assert ("--allow-root" in argv) is expected
        assert "--ServerApp.port=1234" in argv and "--IdentityProvider.token=tok" in argv
        assert "--ServerApp.ip=127.0.0.1" in argv and "--ServerApp.port_retries=0" in argv


def test_notebook_copy_helpers() -> None:
    nb = read(NOTEBOOKS_DIR / "03_training.ipynb")
    copy = strip_outputs(nb)
    assert all(not c.outputs for c in copy.cells if c.cell_type == "code")
    assert any(c.outputs for c in nb.cells if c.cell_type == "code"), "original untouched"
    set_parameters(copy, retrain=True, output_dir="/tmp/x")
    params = copy.cells[1].source
    assert "\nretrain = True\n" in f"\n{params}\n" and "output_dir = '/tmp/x'" in params
    with pytest.raises(KeyError, match="no_such_parameter"):
        set_parameters(copy, no_such_parameter=1)
    with pytest.raises(ValueError, match="expected one committed output line"):
        headline_lines(nb, [r"^no line looks like this$"])


# ---------------------------------------------------------------- the browser session
def make_copies(root: Path, scratch: Path) -> dict[str, LabCopy]:
    """Output-free copies under ``root/notebooks``; figures and training go to ``scratch``."""
    folder = root / "notebooks"
    folder.mkdir(parents=True)
    plans: dict[str, tuple[str, dict[str, Any]]] = {
        "01_data_exploration.ipynb": ("01_data_exploration.ipynb", {}),
        "04_error_analysis.ipynb": ("04_error_analysis.ipynb", {}),
        "03_training.ipynb": ("03_training.ipynb", {}),
        # a short live retrain: two epochs (two bars: the first may render while the widget
        # code loads) of a few seconds each on 2 idle cores
        "03_training_retrain.ipynb": ("03_training.ipynb", {
            "retrain": True, "epochs": 2, "train_subset": 5_000, "device": "cpu",
            "output_dir": str(scratch / "retrain")}),
        "01_broken.ipynb": ("01_data_exploration.ipynb", {}),
    }
    copies = {}
    for name, (source, params) in plans.items():
        nb = strip_outputs(read(NOTEBOOKS_DIR / source))
        set_parameters(nb, figures_dir=str(scratch / "figures" / Path(name).stem), **params)
        if name == "01_broken.ipynb":
            nb.cells.insert(broken_cell_position(nb),
                            nbformat.v4.new_code_cell(f"raise RuntimeError({BROKEN_MESSAGE!r})"))
        nbformat.write(nb, folder / name)
        copies[name] = LabCopy(f"notebooks/{name}", folder / name)
    return copies


def broken_cell_position(nb: nbformat.NotebookNode) -> int:
    """Right after the cell importing from utils: the imports run, then a cell raises."""
    return next(i for i, c in enumerate(nb.cells)
                if c.cell_type == "code" and "from utils" in c.source) + 1


@pytest.fixture(scope="module")
def session(readme_commands: ReadmeLabCommands, splits: MNISTSplits) -> Iterator[LabSession]:
    """One Lab server (README commands, isolated Jupyter folders) and one Chromium page."""
    SCREENSHOTS.mkdir(exist_ok=True)
    for old in SCREENSHOTS.glob("*.png"):
        old.unlink()
    (REPO_ROOT / "runs").mkdir(exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="lab-", dir=REPO_ROOT / "runs"))
    env = isolated_jupyter_env(scratch / "jupyter")
    server = None
    try:
        run_readme_command(readme_commands.kernel_install, REPO_ROOT, env)
        root = scratch / "lab"
        copies = make_copies(root, scratch)
        server = LabServer.for_readme(readme_commands.lab, REPO_ROOT, root, env,
                                      SCREENSHOTS / "jupyter-server.log")
        server.start(cwd=root)
        with chromium_page(scratch / "chromium-profile") as page:
            lab = LabPage(page, server, SCREENSHOTS)
            lab.open_lab()
            yield LabSession(lab, copies)
    finally:
        leftovers = server.stop() if server is not None else []
        shutil.rmtree(scratch, ignore_errors=True)
    assert not leftovers, f"processes of the Lab outlived its server and were killed: {leftovers}"


def check_page(session: LabSession, name: str, panel: Any, committed: nbformat.NotebookNode,
               headlines: list[str]) -> Path:
    """Figures render where the committed notebook has them; the headline lines are shown."""
    lab = session.lab
    expected = image_cells(committed)
    shown = lab.cells_with_images(panel)
    if shown != expected:
        missing = sorted(set(expected) - set(shown))
        lab.fail(panel, name, f"figures expected in code cells {expected} (committed outputs), "
                 f"the page shows images in {shown}", cell=missing[0] if missing else None)
    if headlines:
        text = squash(lab.output_text(panel))
        missing_lines = [line for line in headlines if squash(line) not in text]
        if missing_lines:
            lab.fail(panel, name, f"the page does not show {missing_lines}")
    shot = lab.screenshot_last_output(panel, Path(name).stem)
    assert shot.is_file()
    return shot


# ---------------------------------------------------------------- browser tests
@needs_browser
@pytest.mark.parametrize("name", ["01_data_exploration.ipynb", "04_error_analysis.ipynb"])
def test_notebook_runs_in_jupyterlab(session: LabSession, name: str) -> None:
    run_and_check(session, name, read(NOTEBOOKS_DIR / name))


def run_and_check(session: LabSession, name: str, committed: nbformat.NotebookNode) -> None:
    """Run the output-free copy of ``name`` in the Lab and check its page against the commit."""
    copy = session.copies[name]
    headlines = headline_lines(committed, HEADLINES[name])
    try:
        panel = session.lab.run_notebook(copy.lab_path, copy.disk, KERNEL_NAME, RUN_TIMEOUT)
        check_page(session, name, panel, committed, headlines)
    finally:
        session.lab.shutdown(copy.lab_path)


@needs_browser
def test_notebook_03_loads_the_checkpoint_and_draws_the_curves(session: LabSession) -> None:
    name = "03_training.ipynb"
    committed = read(NOTEBOOKS_DIR / name)
    curves = [i for i, c in enumerate(c for c in committed.cells if c.cell_type == "code")
              if "plot_training_curves(" in c.source]
    assert len(curves) == 1 and curves[0] in image_cells(committed), curves
    run_and_check(session, name, committed)


@needs_browser
def test_notebook_03_live_retrain_shows_a_widget_progress_bar(session: LabSession) -> None:
    name = "03_training_retrain.ipynb"
    copy = session.copies[name]
    lab = session.lab
    committed = read(NOTEBOOKS_DIR / "03_training.ipynb")
    seen: list[str] = []

    def watch_for_bar(panel: Any) -> None:
        """Poll while the notebook runs: screenshot the first progress bar that shows."""
        bar = panel.locator(".jupyter-widgets.widget-hprogress .progress-bar").first
        deadline = time.monotonic() + RUN_TIMEOUT
        while time.monotonic() < deadline and not lab.is_finished(panel):
            if bar.is_visible():
                output = panel.locator(".jp-OutputArea-output").filter(
                    has=lab.page.locator(".widget-hprogress")).first
                seen.append(str(lab.screenshot(output, "03_training_retrain-progress")))
                return
            time.sleep(0.2)

    try:
        panel = lab.run_notebook(copy.lab_path, copy.disk, KERNEL_NAME, RUN_TIMEOUT,
                                 while_running=watch_for_bar)
        if not seen:
            lab.fail(panel, name, "no ipywidgets progress bar appeared while training")
        text = lab.output_text(panel)
        for fallback in ("IProgress not found", "Loading widget", "HBox(children"):
            if fallback in text:
                lab.fail(panel, name, f"a text fallback instead of a widget: {fallback!r}")
        check_page(session, name, panel, committed, headlines=[])
    finally:
        lab.shutdown(copy.lab_path)


@needs_browser
def test_a_raising_cell_fails_the_check_with_a_screenshot(session: LabSession) -> None:
    """Proof the browser test can fail: a copy of 01 with a cell that raises."""
    copy = session.copies["01_broken.ipynb"]
    nb = read(copy.disk)
    cells = [c for c in nb.cells if c.cell_type == "code"]
    broken = next(i for i, c in enumerate(cells) if BROKEN_MESSAGE in c.source)
    try:
        with pytest.raises(LabCheckError) as failure:
            session.lab.run_notebook(copy.lab_path, copy.disk, KERNEL_NAME, RUN_TIMEOUT)
    finally:
        session.lab.shutdown(copy.lab_path)
    message = str(failure.value)
    assert f"code cell {broken} raised RuntimeError: {BROKEN_MESSAGE}" in message, message
    shot = Path(re.search(r"Screenshot: (\S+\.png)", message).group(1))
    assert shot.is_file() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", message
    assert shot.parent == SCREENSHOTS


@needs_browser
@pytest.mark.skipif(os.geteuid() != 0, reason="only root gets the refusal")
def test_plain_jupyter_lab_exits_at_once_as_root(readme_commands: ReadmeLabCommands,
                                                 tmp_path: Path) -> None:
    """What the README warns about: without --allow-root, root gets a refusal, not a server."""
    argv = [str(REPO_ROOT / readme_commands.lab[0]), *readme_commands.lab[1:],
            "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={free_port()}"]
    result = subprocess.run(argv, cwd=tmp_path, env=isolated_jupyter_env(tmp_path / "jupyter"),
                            capture_output=True, text=True, timeout=120,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    assert ROOT_REFUSAL in result.stdout + result.stderr, result.stdout + result.stderr
